"""Recording at the bedside: ``dosing record``, ``skip`` and ``correct``, one record per dose.

Times typed without an offset are read in the subject's site zone (``--at 2026-12-04T10:30`` is the
ward clock). The record is stamped by the server clock and attributed to the logged-in account, and
each is an electronic signature: the password is asked again (``--password-stdin`` for scripts).
"""

from __future__ import annotations

from typing import Any

import click

from dosing.app.typed import build_request, parse_local_moment
from dosing.catalog import get_protocol
from dosing.cli.given_fields import given_options, given_values
from dosing.cli.output import emit_json, json_option, status_text
from dosing.cli.params import database_url_option, ledger_store, subject_zone
from dosing.cli.session import password_stdin_option, read_password, signed_in


@click.command()
@click.argument("subject_code")
@click.option("--dose", "sequence", type=int, required=True, help="Dose number (1, 2, ...).")
@given_options(correcting=False)
@click.option(
    "--late-reason", default=None,
    help="Why a dose given more than 24 h ago is entered only now (a late entry; required then).",
)  # fmt: skip
@click.option(
    "--bag", "bag_id", default=None, help="The bag scanned at the bedside, e.g. B0000001 (pharmacy custody)."
)
@password_stdin_option
@database_url_option
@json_option
def record(
    subject_code: str,
    sequence: int,
    at_text: str,
    late_reason: str | None,
    password_stdin: bool,
    database_url: str | None,
    as_json: bool,
    bag_id: str | None = None,
    **given: Any,
) -> None:
    """Record a dose given to SUBJECT_CODE, signed "administered by" you. A second record of the same
    dose is refused (use correct)."""
    from dosing.app import administration
    from dosing.store import ledger
    from dosing.store.models import GivenForm

    store = ledger_store(database_url)
    ctx = signed_in(store, "record")
    zone = subject_zone(store, subject_code)
    if given["route"] is None:
        given["route"] = get_protocol(ledger.subject_protocol(store, subject_code)).route.code
    form = build_request(
        GivenForm,
        subject_code=subject_code,
        sequence=sequence,
        started_at=parse_local_moment(at_text, "at", zone),
        **given_values(store, subject_code, sequence, zone, **given),
        late_reason=late_reason,
    )
    record_id = administration.record_given(ctx, form, read_password(password_stdin), bag=bag_id)
    _echo_after(store, subject_code, sequence, record_id, "recorded", as_json)


def _echo_after(
    store: Any, subject_code: str, sequence: int, record_id: int, verb: str, as_json: bool
) -> None:
    from dosing.app import clock
    from dosing.store import ledger

    view = ledger.subject_view(store, subject_code, clock.now())
    dose = next(d for d in view.doses if d.sequence == sequence)
    if as_json:
        emit_json({"record_id": record_id, "dose": dose})
        return
    click.echo(f"{verb} dose {sequence} of {subject_code} (record {record_id}): {status_text(dose.status)}")


@click.command()
@click.argument("subject_code")
@click.option("--dose", "sequence", type=int, required=True, help="Dose number (1, 2, ...).")
@click.option(
    "--reason",
    required=True,
    help='Why it was not given, e.g. "held", "refused", "adverse event", "product unavailable".',
)
@click.option(
    "--at", "at_text", default=None, metavar="DATETIME",
    help="When the decision was taken (site time unless an offset; default: now).",
)  # fmt: skip
@password_stdin_option
@database_url_option
@json_option
def skip(
    subject_code: str,
    sequence: int,
    reason: str,
    at_text: str | None,
    password_stdin: bool,
    database_url: str | None,
    as_json: bool,
) -> None:
    """Record that a dose of SUBJECT_CODE was not given, with the reason (signed)."""
    from dosing.app import administration
    from dosing.store.models import SkipForm

    store = ledger_store(database_url)
    ctx = signed_in(store, "skip")
    zone = subject_zone(store, subject_code)
    form = build_request(
        SkipForm,
        subject_code=subject_code,
        sequence=sequence,
        reason=reason,
        decided_at=parse_local_moment(at_text, "at", zone) if at_text else None,
    )
    record_id = administration.record_skipped(ctx, form, read_password(password_stdin))
    _echo_after(store, subject_code, sequence, record_id, "skipped", as_json)


@click.command()
@click.argument("subject_code")
@click.option("--dose", "sequence", type=int, required=True, help="Dose number (1, 2, ...).")
@click.option("--reason", required=True, help="Why the record is corrected (audited).")
@click.option(
    "--becomes",
    type=click.Choice(["given", "skipped", "void"]),
    default="given",
    show_default=True,
    help="What the record becomes; void = entered in error.",
)
@click.option(
    "--record", "record_id", type=int, default=None,
    help="The number of the record being corrected, as status or audit shows it (a check).",
)  # fmt: skip
@given_options(correcting=True)
@click.option("--skip-reason", default=None, help="With --becomes skipped: why it was not given.")
@password_stdin_option
@database_url_option
@json_option
def correct(
    subject_code: str,
    sequence: int,
    reason: str,
    becomes: str,
    record_id: int | None,
    at_text: str | None,
    skip_reason: str | None,
    password_stdin: bool,
    database_url: str | None,
    as_json: bool,
    **given: Any,
) -> None:
    """Correct the record of a dose of SUBJECT_CODE: a new, signed record that references the old one
    and says why. Each field option given replaces that field; the others are kept."""
    from dosing.app import administration
    from dosing.store.models import CorrectionForm

    store = ledger_store(database_url)
    ctx = signed_in(store, "correct")
    zone = subject_zone(store, subject_code)
    form = build_request(
        CorrectionForm,
        subject_code=subject_code,
        sequence=sequence,
        reason=reason,
        becomes=becomes,
        record_id=record_id,
        started_at=parse_local_moment(at_text, "at", zone) if at_text else None,
        **given_values(store, subject_code, sequence, zone, **given),
        skip_reason=skip_reason,
    )
    new_id = administration.correct(ctx, form, read_password(password_stdin))
    _echo_after(store, subject_code, sequence, new_id, "corrected", as_json)
