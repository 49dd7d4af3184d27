"""``dosing audit``: the audit trail, who did what, when and why."""

from __future__ import annotations

from typing import Any

import click

from dosing.cli.output import emit_json, json_option, table
from dosing.cli.params import database_url_option, ledger_store
from dosing.cli.session import signed_in


@click.command()
@click.argument("subject_code", required=False, metavar="[SUBJECT_CODE | verify]")
@click.option(
    "--protocol", "protocol_id", default=None, metavar="PROTOCOL",
    help="Only this study's entries (study code or registry id, e.g. NCT04822922).",
)  # fmt: skip
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Only the last N entries.")
@database_url_option
@json_option
def audit(
    subject_code: str | None,
    protocol_id: str | None,
    limit: int | None,
    database_url: str | None,
    as_json: bool,
) -> None:
    """The audit trail: who did what, when and why, and the signature (oldest first); with
    SUBJECT_CODE, only that subject's entries.

    ``dosing audit verify`` recomputes the hash chain and every ledger row it covers, and exits 1
    naming the first entry that does not match."""
    from dosing.app import reads

    store = ledger_store(database_url)
    if subject_code == "verify" and protocol_id is None and limit is None:
        _verify(reads.verify_audit(signed_in(store, "verify_audit")), as_json)
        return
    reader = signed_in(store, "read_ledger")
    # An unknown subject or study is refused, never an empty trail that reads as "nothing happened".
    if protocol_id is not None:
        from dosing.catalog import get_protocol

        get_protocol(protocol_id)
    if subject_code is not None:
        from dosing.store import ledger

        ledger.subject_protocol(store, subject_code)
    entries = reads.audit_trail(reader, subject_code=subject_code, protocol_id=protocol_id, limit=limit)
    if as_json:
        emit_json(entries)
        return
    rows = [
        (
            e.id,
            e.at.strftime("%Y-%m-%d %H:%M:%SZ"),
            e.actor,
            e.action,
            e.subject_code or e.protocol_id or "",
            e.reason or "",
            _summary(e.after),
            e.signature or "",
        )
        for e in entries
    ]
    click.echo(table(["id", "at (UTC)", "who", "what", "subject", "why", "after", "signed"], rows))


def _verify(report: Any, as_json: bool) -> None:
    if as_json:
        emit_json({"ok": report.ok, "entries": report.entries, "head": report.head,
                   "problems": [str(problem) for problem in report.problems]})  # fmt: skip
    elif report.ok:
        click.echo(f"audit chain intact: {report.entries} entries, head {report.head}")
    else:
        count = len(report.problems)
        click.echo(f"audit chain BROKEN: {count} problem(s) in {report.entries} entries", err=True)
        for problem in report.problems:
            click.echo(f"  {problem}", err=True)
    if not report.ok:
        raise SystemExit(1)


def _summary(after: dict[str, Any] | None) -> str:
    if not after:
        return ""
    keys = [
        "dose",
        "arm",
        "randomization_number",
        "cohort",
        "started_at",
        "lot",
        "reason",
        "safe",
        "delay_days",
    ]
    parts = [f"{key}={after[key]}" for key in keys if after.get(key) is not None]
    return ", ".join(parts)[:80]
