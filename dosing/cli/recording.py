"""Recording at the bedside: ``dosing record``, ``skip`` and ``correct``, one record per dose.

Times typed without an offset are read in the subject's site zone (``--at 2026-12-04T10:30`` is the
ward clock). Every command that depends on the clock takes ``--as-of``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click

from dosing.catalog import get_protocol
from dosing.cli.given_fields import given_options, given_values
from dosing.cli.output import emit_json, json_option, status_text
from dosing.cli.params import (
    actor_or_user,
    as_of_option,
    build_request,
    by_option,
    ledger_store,
    moment_or_now,
    parse_local_moment,
    subject_zone,
)


@click.command()
@click.argument("subject_code")
@click.option("--dose", "sequence", type=int, required=True, help="Dose number (1, 2, ...).")
@given_options(correcting=False)
@as_of_option
@by_option
@json_option
def record(
    subject_code: str,
    sequence: int,
    at_text: str,
    as_of_text: str | None,
    actor: str | None,
    as_json: bool,
    **given: Any,
) -> None:
    """Record a given dose. A second record of the same dose is refused (use correct)."""
    from dosing.store import ledger
    from dosing.store.models import GivenRequest

    store = ledger_store()
    zone = subject_zone(store, subject_code)
    if given["route"] is None:
        given["route"] = get_protocol(ledger.subject_protocol(store, subject_code)).route.code
    request = build_request(
        GivenRequest,
        subject_code=subject_code,
        sequence=sequence,
        started_at=parse_local_moment(at_text, "at", zone),
        **given_values(store, subject_code, sequence, zone, **given),
        actor=actor_or_user(actor),
        as_of=moment_or_now(as_of_text, zone),
    )
    record_id = ledger.record_given(store, request)
    _echo_after(store, subject_code, sequence, record_id, "recorded", as_json, request.as_of)


def _echo_after(
    store: Any, subject_code: str, sequence: int, record_id: int, verb: str, as_json: bool, as_of: datetime
) -> None:
    from dosing.store import ledger

    view = ledger.subject_view(store, subject_code, as_of)
    dose = next(d for d in view.doses if d.sequence == sequence)
    if as_json:
        emit_json({"record_id": record_id, "dose": dose})
        return
    click.echo(f"{verb} dose {sequence} of {subject_code} (record {record_id}): {status_text(dose.status)}")


@click.command()
@click.argument("subject_code")
@click.option("--dose", "sequence", type=int, required=True, help="Dose number.")
@click.option(
    "--reason",
    required=True,
    help='Why it was not given, e.g. "held", "refused", "adverse event", "product unavailable".',
)
@click.option("--at", "at_text", default=None, help="When the decision was taken (default: --as-of).")
@as_of_option
@by_option
@json_option
def skip(
    subject_code: str,
    sequence: int,
    reason: str,
    at_text: str | None,
    as_of_text: str | None,
    actor: str | None,
    as_json: bool,
) -> None:
    """Record a dose that was not given, with the reason."""
    from dosing.store import ledger
    from dosing.store.models import SkipRequest

    store = ledger_store()
    zone = subject_zone(store, subject_code)
    request = build_request(
        SkipRequest,
        subject_code=subject_code,
        sequence=sequence,
        reason=reason,
        decided_at=parse_local_moment(at_text, "at", zone) if at_text else None,
        actor=actor_or_user(actor),
        as_of=moment_or_now(as_of_text, zone),
    )
    record_id = ledger.record_skipped(store, request)
    _echo_after(store, subject_code, sequence, record_id, "skipped", as_json, request.as_of)


@click.command()
@click.argument("subject_code")
@click.option("--dose", "sequence", type=int, required=True, help="Dose number.")
@click.option("--reason", required=True, help="Why the record is corrected (audited).")
@click.option(
    "--becomes",
    type=click.Choice(["given", "skipped", "void"]),
    default="given",
    show_default=True,
    help="What the record becomes; void = entered in error.",
)
@click.option("--record", "record_id", type=int, default=None, help="The record corrected (a check).")
@given_options(correcting=True)
@click.option("--skip-reason", default=None, help="With --becomes skipped: why it was not given.")
@as_of_option
@by_option
@json_option
def correct(
    subject_code: str,
    sequence: int,
    reason: str,
    becomes: str,
    record_id: int | None,
    at_text: str | None,
    skip_reason: str | None,
    as_of_text: str | None,
    actor: str | None,
    as_json: bool,
    **given: Any,
) -> None:
    """Correct the record of a dose: a new record that references the old one and says why."""
    from dosing.store import ledger
    from dosing.store.models import CorrectionRequest

    store = ledger_store()
    zone = subject_zone(store, subject_code)
    request = build_request(
        CorrectionRequest,
        subject_code=subject_code,
        sequence=sequence,
        reason=reason,
        becomes=becomes,
        record_id=record_id,
        started_at=parse_local_moment(at_text, "at", zone) if at_text else None,
        **given_values(store, subject_code, sequence, zone, **given),
        skip_reason=skip_reason,
        actor=actor_or_user(actor),
        as_of=moment_or_now(as_of_text, zone),
    )
    new_id = ledger.correct(store, request)
    _echo_after(store, subject_code, sequence, new_id, "corrected", as_json, request.as_of)
