"""``dosing reschedule``: preview (or apply) the moves of later doses after a delay."""

from __future__ import annotations

from datetime import date

import click

from dosing.cli.output import emit_json, json_option, table
from dosing.cli.params import (
    as_of_option,
    build_request,
    ledger_store,
    moment_or_now,
    refuse_as_of,
    subject_zone,
)
from dosing.cli.session import password_stdin_option, read_password, signed_in
from dosing.errors import DosingError
from dosing.protocol import ReschedulePolicy


@click.command()
@click.argument("subject_code")
@click.option("--dose", "sequence", type=int, required=True, help="The delayed dose.")
@click.option("--given-on", default=None, help="Day it was (or will be) given (default: its record).")
@click.option(
    "--policy",
    type=click.Choice([policy.value for policy in ReschedulePolicy]),
    default=None,
    help="Default: the protocol's policy; another needs --reason.",
)
@click.option("--reason", default=None)
@click.option("--apply", "apply_changes", is_flag=True, help="Apply the changes (default: preview only).")
@as_of_option
@password_stdin_option
@json_option
def reschedule(
    subject_code: str,
    sequence: int,
    given_on: str | None,
    policy: str | None,
    reason: str | None,
    apply_changes: bool,
    as_of_text: str | None,
    password_stdin: bool,
    as_json: bool,
) -> None:
    """Preview (or --apply, signed) the moves of later doses after a delay, under the protocol's policy."""
    from dosing.app import rescheduling
    from dosing.store.models import RescheduleForm

    store = ledger_store()
    if apply_changes:
        refuse_as_of(as_of_text, "a reschedule applied")
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
        else rescheduling.preview(ctx, form, moment_or_now(as_of_text, zone))
    )
    if as_json:
        emit_json(result)
        return
    click.echo(
        f"{result.subject_code} dose {result.sequence} on {result.given_on.isoformat()} "
        f"({result.delay_days:+d} days), policy {result.policy.value}"
    )
    if not result.changes:
        click.echo("no later dose moves")
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
