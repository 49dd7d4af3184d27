"""``dosing reschedule``: preview (or apply) the moves of later doses after a delay."""

from __future__ import annotations

from datetime import date

import click

from dosing.app.typed import build_request
from dosing.cli.output import emit_json, json_option, table
from dosing.cli.params import (
    AsOf,
    as_of_option,
    as_of_or_now,
    database_url_option,
    ledger_store,
    refuse_as_of,
    subject_zone,
)
from dosing.cli.session import password_stdin_option, read_password, signed_in
from dosing.errors import DosingError
from dosing.protocol import ReschedulePolicy


@click.command()
@click.argument("subject_code")
@click.option("--dose", "sequence", type=int, required=True, help="The delayed dose's number (1, 2, ...).")
@click.option(
    "--given-on", default=None, metavar="DATE",
    help="Day it was (or will be) given, YYYY-MM-DD (default: the day of its record).",
)  # fmt: skip
@click.option(
    "--policy",
    type=click.Choice([policy.value for policy in ReschedulePolicy]),
    default=None,
    help="How later doses move (default: the protocol's policy; another needs --reason).",
)
@click.option(
    "--reason", default=None, help="Why (audited); required with a policy other than the protocol's."
)
@click.option("--apply", "apply_changes", is_flag=True, help="Apply the changes (default: preview only).")
@as_of_option()
@password_stdin_option
@database_url_option
@json_option
def reschedule(
    subject_code: str,
    sequence: int,
    given_on: str | None,
    policy: str | None,
    reason: str | None,
    apply_changes: bool,
    as_of: AsOf | None,
    password_stdin: bool,
    database_url: str | None,
    as_json: bool,
) -> None:
    """Preview (or --apply, signed) the moves of SUBJECT_CODE's later doses after a delay, under the
    protocol's policy."""
    from dosing.app import rescheduling
    from dosing.store.models import RescheduleForm

    store = ledger_store(database_url)
    if apply_changes:
        refuse_as_of(as_of, "a reschedule applied")
    ctx = signed_in(store, "reschedule" if apply_changes else "read_ledger")
    zone = subject_zone(store, subject_code)
    try:
        given_day = date.fromisoformat(given_on) if given_on else None
    except ValueError as error:
        raise DosingError("given on", "ISO 8601 date", f"{given_on!r} is not a date") from error
    form = build_request(
        RescheduleForm,
        subject_code=subject_code,
        sequence=sequence,
        given_on=given_day,
        policy=ReschedulePolicy(policy) if policy else None,
        reason=reason,
    )
    result = (
        rescheduling.apply(ctx, form, read_password(password_stdin))
        if apply_changes
        else rescheduling.preview(ctx, form, as_of_or_now(as_of, zone))
    )
    if as_json:
        emit_json(result)
        return
    click.echo(
        f"{result.subject_code} dose {result.sequence} on {result.given_on.isoformat()} "
        f"({result.delay_days:+d} days), policy {result.policy.value}"
    )
    if not result.changes:
        # The plan is a function of the recorded days: a reschedule already applied has nothing left.
        click.echo(
            f"nothing to change: the doses after dose {result.sequence} already follow its day "
            f"{result.given_on.isoformat()} under {result.policy.value} "
            "(minimum interval and recorded doses included)"
        )
        return
    rows = [
        (
            c.sequence,
            c.label,
            c.old_target.isoformat(),
            c.new_target.isoformat(),
            f"{c.old_window[0].isoformat()}..{c.old_window[1].isoformat()}",
            f"{c.new_window[0].isoformat()}..{c.new_window[1].isoformat()}",
        )
        for c in result.changes
    ]
    click.echo(table(["dose", "label", "target was", "target now", "window was", "window now"], rows))
    if result.applied:
        click.echo(f"applied (audit entry {result.audit_id})")
    else:
        click.echo("preview only: run again with --apply to apply")
