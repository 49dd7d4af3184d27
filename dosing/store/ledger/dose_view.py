"""What a dose and an assessment look like now: the window moved by reschedules, the record in
effect, and the status."""

from __future__ import annotations

from datetime import date, datetime, time

import pendulum

from dosing.protocol import Offset
from dosing.schedule import local_start, offset_datetime
from dosing.status import DoseState, DoseWindow, dose_status
from dosing.store import tables as t
from dosing.store.ledger._common import _id, _local
from dosing.store.ledger.dose_state import _dose_record, _DoseEvents
from dosing.store.models import AssessmentView, DoseView, GivenView
from dosing.units import Amount, AmountUnit, Volume


def _given_view(event: t.AdministrationEvent) -> GivenView:
    assert event.id is not None and event.started_at is not None
    amount = (
        Amount(value=event.amount_value, unit=AmountUnit(event.amount_unit))
        if event.amount_value is not None and event.amount_unit
        else None
    )
    return GivenView(
        record_id=event.id,
        started_at=event.started_at,
        ended_at=event.ended_at,
        amount=amount,
        volume=Volume(value=event.volume_ml) if event.volume_ml is not None else None,
        partial=event.partial,
        lot=event.lot,
        din=event.din,
        route=event.route,
        given_by=event.given_by,
        infusion_reaction=event.infusion_reaction,
        notes=event.notes,
        recorded_by=event.recorded_by,
        recorded_at=event.recorded_at,
    )


def _ordered(planned: t.PlannedAdministration) -> Amount | None:
    if planned.ordered_dose_value is None or planned.ordered_dose_unit is None:
        return None
    return Amount(value=planned.ordered_dose_value, unit=AmountUnit(planned.ordered_dose_unit))


def _moved_start(planned_start: datetime, target: date, timezone: str) -> datetime:
    local = _local(planned_start, timezone)
    if local.date() == target:
        return local
    return local_start(target, time(local.hour, local.minute), timezone)


def _dose_view(
    planned: t.PlannedAdministration,
    events: _DoseEvents,
    timezone: str,
    as_of_local: date,
    enrolled_at: datetime,
) -> DoseView:
    target, earliest, latest = events.window(planned)
    effective, kind = events.effective()
    status = dose_status(
        DoseWindow(target_date=target, earliest=earliest, latest=latest),
        _dose_record(effective, kind),
        as_of_local,
    )
    revision, revised_at = events.revision(enrolled_at)
    return DoseView(
        planned_id=_id(planned),
        sequence=planned.sequence,
        label=planned.label,
        study_day=planned.study_day,
        target_date=target,
        earliest=earliest,
        latest=latest,
        planned_start=_moved_start(planned.planned_start, target, timezone),
        intervention=planned.intervention,
        ordered_dose=_ordered(planned),
        final_volume=Volume(value=planned.final_volume_ml) if planned.final_volume_ml is not None else None,
        status=status,
        given=_given_view(effective) if effective is not None and kind == "given" else None,
        skipped_record_id=effective.id if effective is not None and kind == "skipped" else None,
        revision=revision,
        revised_at=revised_at,
    )


def _assessment_view(
    assessment: t.PlannedAssessment,
    doses: dict[int, DoseView],
    timezone: str,
    enrolled_at: datetime,
) -> AssessmentView:
    """An assessment as it stands now. One tied to a dose follows that dose: from the recorded start
    of a given dose (the 24 h toxicity check is 24 h after the infusion actually began), from the
    moved start of a rescheduled one, and cancelled with a dose that was skipped."""
    due = _local(assessment.due, timezone)
    revision, revised_at, cancelled = 0, enrolled_at, False
    dose = doses.get(assessment.administration_sequence) if assessment.administration_sequence else None
    if dose is not None:
        offset = Offset(
            months=assessment.offset_months, days=assessment.offset_days, hours=assessment.offset_hours
        )
        # Twice the dose's revision, plus one once it is given: never decreases, so a calendar
        # client always takes the newer version (a void lowers "given" but raises the dose's revision).
        revision = 2 * dose.revision + (1 if dose.given is not None else 0)
        revised_at = dose.revised_at
        if dose.status.state is DoseState.SKIPPED:
            cancelled = True
        elif dose.given is not None:
            due = _offset_or(due, pendulum.instance(_local(dose.given.started_at, timezone)), offset)
            revised_at = max(revised_at, dose.given.recorded_at)
        else:
            due = _offset_or(due, pendulum.instance(dose.planned_start), offset)
    return AssessmentView(
        key=assessment.key,
        name=assessment.name,
        due=due,
        measures=list(assessment.measures or []),
        administration_sequence=assessment.administration_sequence,
        revision=revision,
        revised_at=revised_at,
        cancelled=cancelled,
    )


def _offset_or(planned_due: datetime, start: pendulum.DateTime, offset: Offset) -> datetime:
    """The follow-up's due moment after ``start``; the planned due when that lies past the calendar's
    last year (a stored record dated 9999-12-31 must still read back, so it can be corrected)."""
    try:
        return offset_datetime(start, offset)
    except (OverflowError, ValueError):
        return planned_due
