"""``dosing audit``: the audit trail, who did what, when and why."""

from __future__ import annotations

from typing import Any

import click

from dosing.cli.output import emit_json, json_option, table
from dosing.cli.params import ledger_store


@click.command()
@click.argument("subject_code", required=False)
@click.option("--protocol", "protocol_id", default=None)
@click.option("--limit", type=int, default=None, help="Only the last N entries.")
@json_option
def audit(subject_code: str | None, protocol_id: str | None, limit: int | None, as_json: bool) -> None:
    """The audit trail: who did what, when and why (oldest first)."""
    from dosing.store import ledger

    entries = ledger.audit_trail(
        ledger_store(), subject_code=subject_code, protocol_id=protocol_id, limit=limit
    )
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
        )
        for e in entries
    ]
    click.echo(table(["id", "at (UTC)", "who", "what", "subject", "why", "after"], rows))


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
