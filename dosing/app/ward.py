"""The ward's day: doses planned today and tomorrow at a site, the checks due, and recording a dose
at the bedside by scanning the subject's code and the bag.

The scanned subject code must be the dose's subject (chain of identity: the right product for the
right patient). The bag's scan is the bag number of the pharmacy's label, checked at the bedside (this
subject's and dose's bag, released, within its use-by) and marked given in the record's own
transaction; where the pharmacy prepares no bags, a DIN or lot number checked against its register.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from dosing.app import administration, clock, preparation, reads
from dosing.app.context import Context
from dosing.errors import DosingError, from_validation_error
from dosing.status import local_date
from dosing.store.models import AssessmentView, CorrectionForm, DoseView, GivenForm, SkipForm
from dosing.store.preparations import is_bag
from dosing.units import Volume

Form = TypeVar("Form", bound=BaseModel)


class WardBag(BaseModel):
    """The bag the pharmacy prepared for a dose, while it is on its way to the ward."""

    bag_id: str
    #: prepared | verified | released (only a released bag is given)
    state: str
    use_by: datetime


class WardDose(BaseModel):
    subject_code: str
    protocol_id: str
    day: date
    dose: DoseView
    bag: WardBag | None = None


class WardCheck(BaseModel):
    subject_code: str
    protocol_id: str
    day: date
    check: AssessmentView


class WardDay(BaseModel):
    site: str
    timezone: str
    today: date
    as_of: datetime
    doses: list[WardDose]
    checks: list[WardCheck]


def site_zone(site_id: str) -> str:
    from dosing.app.feeds import _site_zone

    return _site_zone(site_id)


def ward_day(ctx: Context, site_id: str, as_of: datetime | None = None) -> WardDay:
    """Doses planned to start today or tomorrow (the site's days), and doses planned earlier whose window
    is still open today with nothing recorded, with their bags; checks due today or tomorrow; by time."""
    zone = site_zone(site_id)
    moment = as_of or clock.now()
    today = local_date(moment, zone)
    tomorrow = today + timedelta(days=1)
    doses: list[WardDose] = []
    checks: list[WardCheck] = []
    for view in reads.site_views(ctx, site_id, today, tomorrow, moment):
        for dose in view.doses:
            day = local_date(dose.planned_start, zone)
            # Planned yesterday, due until today (a window of +1 day) and not given yet: still the ward's.
            recorded = dose.given is not None or dose.skipped_record_id is not None
            still_open = not recorded and dose.earliest <= today <= dose.latest
            if (today <= day <= tomorrow or still_open) and dose.status.state.value != "not_applicable":
                doses.append(
                    WardDose(subject_code=view.subject_code, protocol_id=view.protocol_id, day=day, dose=dose)
                )
        for check in view.assessments:
            day = local_date(check.due, zone)
            if today <= day <= tomorrow and not check.cancelled:
                checks.append(
                    WardCheck(
                        subject_code=view.subject_code, protocol_id=view.protocol_id, day=day, check=check
                    )
                )
    doses.sort(key=lambda item: (item.dose.planned_start, item.subject_code, item.dose.sequence))
    checks.sort(key=lambda item: (item.check.due, item.subject_code))
    doses = _with_bags(ctx, doses)
    return WardDay(site=site_id, timezone=zone, today=today, as_of=moment, doses=doses, checks=checks)


def _with_bags(ctx: Context, doses: list[WardDose]) -> list[WardDose]:
    """The doses with the bag the pharmacy prepared for each, where one is prepared, verified or released."""
    bags = preparation.live_bags(
        ctx, [(item.subject_code, item.dose.sequence) for item in doses if item.dose.given is None]
    )
    return [
        item.model_copy(
            update={
                "bag": WardBag(bag_id=live.bag_id, state=live.state.value, use_by=live.preparation.use_by)
            }
        )
        if (live := bags.get((item.subject_code, item.dose.sequence))) is not None
        else item
        for item in doses
    ]


def _form(model: type[Form], **values: Any) -> Form:
    try:
        return model(**values)
    except ValidationError as error:
        raise from_validation_error(error) from error


def _same_subject(expected: str, scanned: str) -> None:
    if scanned.strip().upper() != expected.strip().upper():
        raise DosingError(
            "subject",
            "the scanned code is the dose's subject (right patient, right product)",
            f"scanned {scanned.strip()!r}, the dose is {expected}'s",
        )


def record_scanned(
    ctx: Context,
    subject_code: str,
    sequence: int,
    scanned_subject: str,
    bag: str,
    started_at: datetime,
    password: str,
    late_reason: str | None = None,
    *,
    ended_at: datetime | None = None,
    volume: Volume | None = None,
    partial: bool = False,
    infusion_reaction: str | None = None,
) -> int:
    """Record a dose given, from the bedside scans; signed "administered by". Returns the record id.

    ``volume``: what was given of the bag when it was not all (the amount is delivered pro rata); more
    than the protocol's tolerance under the order is a partial dose, which ``partial`` confirms.

    ``bag``: what was scanned on the bag. The bag number of the pharmacy's label (``B0000001``) runs the
    bedside check of the bag (this subject's, this dose's, released, within its use-by) and marks it
    given; a DIN or a lot number (where the pharmacy prepares no bags) is checked against the lot
    register."""
    _same_subject(subject_code, scanned_subject)
    scanned = bag.strip()
    if not scanned:
        raise DosingError("bag", "scan the bag's label (its bag number, or the DIN)", "no bag scanned")
    with ctx.store.session() as session:
        prepared = is_bag(session, scanned)
    form = _form(
        GivenForm,
        subject_code=subject_code,
        sequence=sequence,
        started_at=started_at,
        ended_at=ended_at,
        volume=volume,
        partial=partial,
        infusion_reaction=(infusion_reaction or "").strip() or None,
        din=None if prepared else scanned,
        late_reason=late_reason or None,
    )
    return administration.record_given(ctx, form, password, bag=scanned if prepared else None)


def correct(
    ctx: Context,
    subject_code: str,
    sequence: int,
    record_id: int,
    reason: str,
    password: str,
    *,
    becomes: str = "given",
    started_at: datetime | None = None,
    ended_at: datetime | None = None,
    volume: Volume | None = None,
    partial: bool | None = None,
    infusion_reaction: str | None = None,
    skip_reason: str | None = None,
) -> int:
    """Correct the record ``record_id`` of a dose (it must still be the dose's effective record): a new
    record naming it, with the reason; fields left out are carried over. Signed "corrected by"."""
    if not reason.strip():
        raise DosingError("reason", "a correction says why", "no reason given")
    form = _form(
        CorrectionForm,
        subject_code=subject_code,
        sequence=sequence,
        record_id=record_id,
        reason=reason.strip(),
        becomes=becomes,
        started_at=started_at,
        ended_at=ended_at,
        volume=volume,
        partial=partial,
        infusion_reaction=(infusion_reaction or "").strip() or None,
        skip_reason=(skip_reason or "").strip() or None,
    )
    return administration.correct(ctx, form, password)


def skip(ctx: Context, subject_code: str, sequence: int, reason: str, password: str) -> int:
    """Record that a dose was not given and why (decided now); signed."""
    if not reason.strip():
        raise DosingError("reason", "why the dose was not given", "no reason given")
    form = _form(SkipForm, subject_code=subject_code, sequence=sequence, reason=reason.strip()[:500])
    return administration.record_skipped(ctx, form, password)
