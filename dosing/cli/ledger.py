"""The ledger at the bedside and the coordinator's desk: enroll, record, skip, correct, reschedule,
status, overdue, audit and cohorts. Every command that depends on the clock takes ``--as-of``.

Times typed without an offset are read in the subject's site zone (``--at 2026-12-04T10:30`` is the
ward clock); ``dosing overdue --as-of`` without an offset is UTC, because it spans sites.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any, TypeVar

import click
from pydantic import BaseModel, ValidationError

from dosing.catalog import get_protocol
from dosing.cli.output import csv_text, emit_json, json_option, table
from dosing.cli.params import parse_date_or_instant, parse_local_moment
from dosing.errors import DosingError, from_validation_error
from dosing.protocol import ReschedulePolicy
from dosing.status import DoseStatus, local_date
from dosing.units import AmountUnit, parse_amount, parse_dose_per_kg, parse_volume, parse_weight

Model = TypeVar("Model", bound=BaseModel)

csv_option = click.option("--csv", "as_csv", is_flag=True, help="Print CSV.")


def _default_actor() -> str:
    user = os.environ.get("USER") or os.environ.get("USERNAME")
    if user:
        return user
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return "unknown"


def by_option(function: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--by", "actor", default=None, help="Who does it, for the audit log (default: $USER)."
    )(function)


def as_of_option(function: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--as-of",
        "as_of_text",
        default=None,
        metavar="DATETIME",
        help="Evaluate (or record) as of this moment instead of now (ISO 8601).",
    )(function)


def _actor(actor: str | None) -> str:
    return actor or _default_actor()


def _moment(text: str | None, timezone: str, field: str = "as of") -> datetime:
    """Now, or a typed moment: with an offset as given, without one in ``timezone``; a date is its start."""
    if text is None:
        return datetime.now(UTC)
    if "T" not in text and " " not in text.strip():
        try:
            day = date.fromisoformat(text)
        except ValueError as error:
            raise DosingError(field, "ISO 8601 date or date-time", f"{text!r} is not a date") from error
        return parse_local_moment(f"{day.isoformat()}T00:00", field, timezone)
    return parse_local_moment(text, field, timezone)


def _build(model: type[Model], **values: Any) -> Model:
    try:
        return model(**values)
    except ValidationError as error:
        raise from_validation_error(error) from error


def _store() -> Any:
    from dosing.store import open_store

    return open_store()


def _subject_zone(store: Any, subject_code: str) -> str:
    from dosing.store import ledger

    return str(ledger.subject_timezone(store, subject_code))


def _status_text(status: DoseStatus) -> str:
    text = status.state.value.replace("_", " ")
    if status.days_late:
        text += f" ({status.days_late} d late)"
    if status.days_early:
        text += f" ({status.days_early} d early)"
    if status.reason:
        text += f": {status.reason}"
    return text


# --- enroll ------------------------------------------------------------------------------------------


@click.command()
@click.argument("protocol_id")
@click.option("--subject", "subject_code", required=True, help="Study code of the subject (no names).")
@click.option("--arm", default=None, help="Arm; omit on randomized studies (the list assigns it).")
@click.option("--weight", "weight_text", required=True, help="Enrollment weight with its unit, e.g. 62kg.")
@click.option("--allow-pounds", is_flag=True, help="Accept a weight in pounds (converted to kg).")
@click.option("--weight-measured-on", default=None, help="Day the weight was measured (default: today).")
@click.option(
    "--anchor", "anchor_text", default=None, help="Anchor date (default: today, if the anchor is enrollment)."
)
@click.option("--site", default=None, help="Site id, when the protocol has several.")
@click.option("--dose-per-kg", "dose_text", default=None, help="Chosen dose per kg (range protocols).")
@click.option("--override-allocation", is_flag=True, help="Use --arm on a randomized study (audited).")
@click.option("--reason", default=None, help="Why (required with --override-allocation).")
@as_of_option
@by_option
@json_option
def enroll(
    protocol_id: str,
    subject_code: str,
    arm: str | None,
    weight_text: str,
    allow_pounds: bool,
    weight_measured_on: str | None,
    anchor_text: str | None,
    site: str | None,
    dose_text: str | None,
    override_allocation: bool,
    reason: str | None,
    as_of_text: str | None,
    actor: str | None,
    as_json: bool,
) -> None:
    """Enroll a subject and store the plan (one transaction)."""
    from dosing.plan import check_study_takes_patients
    from dosing.store import ledger
    from dosing.store.models import EnrollmentRequest

    protocol = get_protocol(protocol_id)
    check_study_takes_patients(protocol)
    zone = protocol.site(site).timezone
    as_of = _moment(as_of_text, zone)
    if anchor_text is None:
        if protocol.anchor.event.value == "transplant":
            raise DosingError(
                "anchor", "the transplant date", f"{protocol.id} is anchored on transplant: give --anchor"
            )
        anchor: date | datetime = local_date(as_of, zone)
    else:
        anchor = parse_date_or_instant(anchor_text, "anchor")
    request = _build(
        EnrollmentRequest,
        protocol_id=protocol.id,
        subject_code=subject_code,
        arm=arm,
        weight=parse_weight(weight_text, allow_pounds=allow_pounds),
        weight_measured_on=date.fromisoformat(weight_measured_on) if weight_measured_on else None,
        anchor=anchor,
        site=site,
        dose_per_kg=parse_dose_per_kg(
            dose_text, field="dose per kg", default_unit=protocol.product.amount_unit
        )
        if dose_text
        else None,
        override_allocation=override_allocation,
        reason=reason,
        actor=_actor(actor),
        as_of=as_of,
    )
    enrollment = ledger.enroll(_store(), request)
    if as_json:
        emit_json(enrollment)
        return
    e = enrollment
    details = [f"arm {e.arm} ({e.arm_source.replace('_', ' ')})"]
    if e.randomization_number is not None:
        details.append(f"randomization number {e.randomization_number}")
    if e.cohort is not None:
        details.append(f"cohort {e.cohort}, place {e.cohort_position}")
    click.echo(f"enrolled {e.subject_code} in {e.protocol_id}: {', '.join(details)}")
    click.echo(
        f"site {e.site} ({e.timezone})   anchor {e.anchor_date.isoformat()}   weight {e.weight} "
        f"(measured {e.weight_measured_on.isoformat() if e.weight_measured_on else 'n/a'})"
    )
    click.echo(f"planned: {e.planned_doses} administrations, {e.planned_assessments} assessments")
    for warning in e.warnings:
        click.secho(f"warning: {warning}", fg="yellow")


# --- record / skip / correct ---------------------------------------------------------------------------


def _amount(text: str | None, unit: AmountUnit | None) -> Any:
    if text is None:
        return None
    return parse_amount(text, field="amount", default_unit=unit)


def _amount_unit(store: Any, subject_code: str, sequence: int) -> AmountUnit | None:
    from dosing.store import ledger

    view = ledger.subject_view(store, subject_code, datetime.now(UTC))
    for dose in view.doses:
        if dose.sequence == sequence and dose.ordered_dose is not None:
            return dose.ordered_dose.unit
    return None


@click.command()
@click.argument("subject_code")
@click.option("--dose", "sequence", type=int, required=True, help="Dose number (1, 2, ...).")
@click.option(
    "--at", "at_text", required=True, help="Start of the administration (site time unless an offset)."
)
@click.option("--end", "end_text", default=None, help="End of the administration.")
@click.option("--amount", "amount_text", default=None, help="Amount given (default: the ordered dose).")
@click.option("--volume", "volume_text", default=None, help="Volume given (default: the final volume).")
@click.option("--partial", is_flag=True, help="Only part of the dose was given.")
@click.option("--lot", default=None, help="Product lot.")
@click.option("--din", default=None, help="ISBT 128 donation identification number.")
@click.option("--route", default=None, help="Route (default: the protocol's).")
@click.option("--given-by", default=None, help="Who gave it (default: --by).")
@click.option("--reaction", "infusion_reaction", default=None, help="Infusion reaction, if any.")
@click.option("--notes", default=None)
@as_of_option
@by_option
@json_option
def record(
    subject_code: str,
    sequence: int,
    at_text: str,
    end_text: str | None,
    amount_text: str | None,
    volume_text: str | None,
    partial: bool,
    lot: str | None,
    din: str | None,
    route: str | None,
    given_by: str | None,
    infusion_reaction: str | None,
    notes: str | None,
    as_of_text: str | None,
    actor: str | None,
    as_json: bool,
) -> None:
    """Record a given dose. A second record of the same dose is refused (use correct)."""
    from dosing.store import ledger
    from dosing.store.models import GivenRequest

    store = _store()
    zone = _subject_zone(store, subject_code)
    if route is None:
        route = get_protocol(ledger.subject_protocol(store, subject_code)).route.code
    request = _build(
        GivenRequest,
        subject_code=subject_code,
        sequence=sequence,
        started_at=parse_local_moment(at_text, "at", zone),
        ended_at=parse_local_moment(end_text, "end", zone) if end_text else None,
        amount=_amount(amount_text, _amount_unit(store, subject_code, sequence) if amount_text else None),
        volume=parse_volume(volume_text) if volume_text else None,
        partial=partial,
        lot=lot,
        din=din,
        route=route,
        given_by=given_by,
        infusion_reaction=infusion_reaction,
        notes=notes,
        actor=_actor(actor),
        as_of=_moment(as_of_text, zone),
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
    click.echo(f"{verb} dose {sequence} of {subject_code} (record {record_id}): {_status_text(dose.status)}")


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

    store = _store()
    zone = _subject_zone(store, subject_code)
    request = _build(
        SkipRequest,
        subject_code=subject_code,
        sequence=sequence,
        reason=reason,
        decided_at=parse_local_moment(at_text, "at", zone) if at_text else None,
        actor=_actor(actor),
        as_of=_moment(as_of_text, zone),
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
@click.option("--at", "at_text", default=None)
@click.option("--end", "end_text", default=None)
@click.option("--amount", "amount_text", default=None)
@click.option("--volume", "volume_text", default=None)
@click.option("--partial/--full", default=None)
@click.option("--lot", default=None)
@click.option("--din", default=None)
@click.option("--route", default=None)
@click.option("--given-by", default=None)
@click.option("--reaction", "infusion_reaction", default=None)
@click.option("--notes", default=None)
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
    end_text: str | None,
    amount_text: str | None,
    volume_text: str | None,
    partial: bool | None,
    lot: str | None,
    din: str | None,
    route: str | None,
    given_by: str | None,
    infusion_reaction: str | None,
    notes: str | None,
    skip_reason: str | None,
    as_of_text: str | None,
    actor: str | None,
    as_json: bool,
) -> None:
    """Correct the record of a dose: a new record that references the old one and says why."""
    from dosing.store import ledger
    from dosing.store.models import CorrectionRequest

    store = _store()
    zone = _subject_zone(store, subject_code)
    request = _build(
        CorrectionRequest,
        subject_code=subject_code,
        sequence=sequence,
        reason=reason,
        becomes=becomes,
        record_id=record_id,
        started_at=parse_local_moment(at_text, "at", zone) if at_text else None,
        ended_at=parse_local_moment(end_text, "end", zone) if end_text else None,
        amount=_amount(amount_text, _amount_unit(store, subject_code, sequence) if amount_text else None),
        volume=parse_volume(volume_text) if volume_text else None,
        partial=partial,
        lot=lot,
        din=din,
        route=route,
        given_by=given_by,
        infusion_reaction=infusion_reaction,
        notes=notes,
        skip_reason=skip_reason,
        actor=_actor(actor),
        as_of=_moment(as_of_text, zone),
    )
    new_id = ledger.correct(store, request)
    _echo_after(store, subject_code, sequence, new_id, "corrected", as_json, request.as_of)


# --- reschedule ----------------------------------------------------------------------------------------


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
@by_option
@json_option
def reschedule(
    subject_code: str,
    sequence: int,
    given_on: str | None,
    policy: str | None,
    reason: str | None,
    apply_changes: bool,
    as_of_text: str | None,
    actor: str | None,
    as_json: bool,
) -> None:
    """Preview (or --apply) the moves of later doses after a delay, under the protocol's policy."""
    from dosing.store import ledger
    from dosing.store.models import RescheduleRequest

    store = _store()
    zone = _subject_zone(store, subject_code)
    try:
        given_day = date.fromisoformat(given_on) if given_on else None
    except ValueError as error:
        raise DosingError("given on", "ISO 8601 date", f"{given_on!r} is not a date") from error
    request = _build(
        RescheduleRequest,
        subject_code=subject_code,
        sequence=sequence,
        given_on=given_day,
        policy=ReschedulePolicy(policy) if policy else None,
        reason=reason,
        actor=_actor(actor),
        as_of=_moment(as_of_text, zone),
    )
    result = ledger.reschedule(store, request) if apply_changes else ledger.preview_reschedule(store, request)
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


# --- status / overdue ----------------------------------------------------------------------------------

_STATUS_HEADERS = [
    "dose",
    "label",
    "day",
    "target",
    "window",
    "planned start",
    "ordered",
    "status",
    "given",
    "lot",
    "rev",
]


@click.command()
@click.argument("subject_code")
@as_of_option
@json_option
@csv_option
def status(subject_code: str, as_of_text: str | None, as_json: bool, as_csv: bool) -> None:
    """A subject's plan with the status of every dose."""
    from dosing.store import ledger

    store = _store()
    zone = _subject_zone(store, subject_code)
    view = ledger.subject_view(store, subject_code, _moment(as_of_text, zone))
    if as_json:
        emit_json(view)
        return
    rows = []
    for dose in view.doses:
        given = dose.given
        rows.append(
            (
                dose.sequence,
                dose.label,
                dose.study_day,
                dose.target_date.isoformat(),
                f"{dose.earliest.isoformat()}..{dose.latest.isoformat()}",
                dose.planned_start.strftime("%Y-%m-%d %H:%M"),
                str(dose.ordered_dose) if dose.ordered_dose else dose.intervention,
                _status_text(dose.status),
                given.started_at.astimezone(dose.planned_start.tzinfo).strftime("%Y-%m-%d %H:%M")
                if given
                else "",
                (given.lot or given.din or "") if given else "",
                dose.revision,
            )
        )
    if as_csv:
        click.echo(csv_text(_STATUS_HEADERS, rows), nl=False)
        return
    click.echo(
        f"{view.subject_code}  {view.protocol_id}  arm {view.arm}  site {view.site} ({view.timezone})  "
        f"weight {view.weight}  anchor {view.anchor_date.isoformat()}"
    )
    click.echo(table(_STATUS_HEADERS, rows))
    if view.assessments:
        click.echo("\nassessments")
        click.echo(
            table(
                ["due", "assessment", "measures"],
                [(a.due.strftime("%Y-%m-%d %H:%M"), a.name, ", ".join(a.measures)) for a in view.assessments],
            )
        )


_OVERDUE_HEADERS = [
    "subject",
    "protocol",
    "site",
    "dose",
    "label",
    "target",
    "window end",
    "status",
    "days late",
]


@click.command()
@click.option("--site", default=None, help="Only this site.")
@click.option("--sweep", is_flag=True, help="Also write newly missed doses to the audit log (once each).")
@as_of_option
@by_option
@json_option
@csv_option
def overdue(
    site: str | None, sweep: bool, as_of_text: str | None, actor: str | None, as_json: bool, as_csv: bool
) -> None:
    """Every missed or late dose across subjects, oldest first, with days late."""
    from dosing.store import ledger

    store = _store()
    as_of = _moment(as_of_text, "UTC")
    if sweep:
        newly = ledger.sweep_missed(store, as_of, _actor(actor))
        if not (as_json or as_csv):
            click.echo(f"{len(newly)} newly missed dose(s) written to the audit log")
    rows = [row for row in ledger.overdue(store, as_of) if site is None or row.site == site]
    if as_json:
        emit_json(rows)
        return
    table_rows = [
        (
            r.subject_code,
            r.protocol_id,
            r.site,
            r.sequence,
            r.label,
            r.target_date.isoformat(),
            r.latest.isoformat(),
            r.state.replace("_", " "),
            r.days_late,
        )
        for r in rows
    ]
    if as_csv:
        click.echo(csv_text(_OVERDUE_HEADERS, table_rows), nl=False)
        return
    if not rows:
        click.echo("nothing overdue")
        return
    click.echo(table(_OVERDUE_HEADERS, table_rows))


# --- audit / cohorts -----------------------------------------------------------------------------------


@click.command()
@click.argument("subject_code", required=False)
@click.option("--protocol", "protocol_id", default=None)
@click.option("--limit", type=int, default=None, help="Only the last N entries.")
@json_option
def audit(subject_code: str | None, protocol_id: str | None, limit: int | None, as_json: bool) -> None:
    """The audit trail: who did what, when and why (oldest first)."""
    from dosing.store import ledger

    entries = ledger.audit_trail(_store(), subject_code=subject_code, protocol_id=protocol_id, limit=limit)
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


@click.command()
@click.argument("protocol_id")
@click.option("--review", "review_cohort", type=int, default=None, help="Record a safety review of cohort N.")
@click.option("--safe/--unsafe", default=None, help="The review's conclusion.")
@click.option("--reviewed-on", default=None, help="Day of the review (default: today).")
@click.option("--notes", default=None)
@as_of_option
@by_option
@json_option
def cohorts(
    protocol_id: str,
    review_cohort: int | None,
    safe: bool | None,
    reviewed_on: str | None,
    notes: str | None,
    as_of_text: str | None,
    actor: str | None,
    as_json: bool,
) -> None:
    """Dose-escalation cohorts: who is in each, safety windows, reviews, and which cohort is open."""
    from dosing.store import ledger
    from dosing.store.models import CohortReviewRequest

    protocol = get_protocol(protocol_id)
    zone = protocol.sites[0].timezone
    as_of = _moment(as_of_text, zone)
    store = _store()
    if review_cohort is not None:
        if safe is None:
            raise DosingError("safe", "a review concludes --safe or --unsafe", "give --safe or --unsafe")
        request = _build(
            CohortReviewRequest,
            protocol_id=protocol.id,
            cohort=review_cohort,
            safe=safe,
            reviewed_on=date.fromisoformat(reviewed_on) if reviewed_on else as_of.astimezone(UTC).date(),
            notes=notes,
            actor=_actor(actor),
            as_of=as_of,
        )
        review_id = ledger.review_cohort(store, request)
        if not as_json:
            click.echo(f"review {review_id}: cohort {review_cohort} marked {'safe' if safe else 'unsafe'}")
    states = ledger.cohorts(store, protocol.id, as_of)
    if as_json:
        emit_json(states)
        return
    rows = [
        (
            s.cohort,
            "expansion" if s.expansion else "escalation",
            s.arm or "(to select)",
            f"{s.enrolled}/{s.size}",
            ", ".join(s.members),
            s.safety_window_ends.isoformat() if s.safety_window_ends else "",
            f"{s.review} {s.reviewed_on.isoformat()}" if s.review and s.reviewed_on else "",
            "open" if s.open else f"closed: {s.why_closed}",
        )
        for s in states
    ]
    click.echo(
        table(["cohort", "kind", "level", "enrolled", "subjects", "window ends", "review", "state"], rows)
    )
