"""What a reschedule moves: later doses after a delay, under the protocol's (or a stated) policy."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlmodel import Session, col

from dosing.catalog import get_protocol
from dosing.errors import DosingError
from dosing.plausibility import check_delayed_day
from dosing.protocol import Protocol
from dosing.schedule import AdministrationDates
from dosing.schedule import reschedule as reschedule_dates
from dosing.settings import site_limits
from dosing.store import tables as t
from dosing.store.ledger._common import _first_dosing_day, _local_date, _subject
from dosing.store.ledger.views import _views
from dosing.store.models import RescheduleChange, ReschedulePreview, RescheduleRequest


def _reschedule_plan(
    session: Session, request: RescheduleRequest
) -> tuple[
    t.Subject, t.Enrollment, ReschedulePreview, dict[int, t.PlannedAdministration], list[AdministrationDates]
]:
    subject, enrollment = _subject(session, request.subject_code)
    protocol = get_protocol(enrollment.protocol_id)
    policy = request.policy or protocol.rescheduling
    if policy is not protocol.rescheduling and not request.reason:
        raise DosingError(
            "policy",
            f"the protocol's rescheduling policy ({protocol.rescheduling.value}); another needs a reason",
            f"{policy.value} differs from the protocol; give --reason",
        )
    view = _views(session, [(subject, enrollment)], request.as_of)[0]
    doses = {dose.sequence: dose for dose in view.doses}
    if request.sequence not in doses or doses[request.sequence].planned_id is None:
        raise DosingError(
            "dose",
            f"one of doses 1-{len(view.doses)}",
            f"{subject.code} has no planned dose {request.sequence}",
        )
    dose = doses[request.sequence]
    # The facts: the days doses were actually given (local calendar days at the site).
    given_days = {
        d.sequence: _local_date(d.given.started_at, enrollment.timezone) for d in view.doses if d.given
    }
    skipped = {d.sequence for d in view.doses if d.skipped_record_id is not None}
    if request.sequence in skipped:
        raise DosingError(
            "dose",
            "a reschedule follows a dose given (or to be given) late",
            f"dose {request.sequence} of {subject.code} is recorded as skipped; nothing moves after it",
        )
    given_on = request.given_on
    recorded = given_days.get(request.sequence)
    if given_on is not None and recorded is None:
        # A typed day (the dose is not recorded yet): the record's own checks ran on a recorded one.
        _check_expected_day(protocol, enrollment, dose.target_date, dose.earliest, given_on)
    if given_on is None:
        if recorded is None:
            raise DosingError(
                "given on",
                "a reschedule follows a delayed dose: its recorded or expected day",
                f"dose {request.sequence} of {subject.code} is not recorded as given; give the day",
            )
        given_on = recorded
    elif recorded is not None and recorded != given_on:
        raise DosingError(
            "given on",
            "a reschedule follows the recorded administration; correct the record to change its day",
            f"dose {request.sequence} of {subject.code} is recorded as given on {recorded.isoformat()}, "
            f"not {given_on.isoformat()}",
        )
    planned_rows = {
        row.sequence: row
        for row in session.scalars(
            select(t.PlannedAdministration).where(col(t.PlannedAdministration.subject_id) == subject.id)
        )
    }
    # The protocol's plan as enrolled: the planned rows, never a reschedule's result.
    protocol_plan = [
        AdministrationDates(
            sequence=row.sequence,
            label=row.label,
            study_day=row.study_day,
            target_date=row.target_date,
            earliest=row.earliest,
            latest=row.latest,
        )
        for row in sorted(planned_rows.values(), key=lambda row: row.sequence)
    ]
    current = [
        AdministrationDates(
            sequence=d.sequence,
            label=d.label,
            study_day=d.study_day,
            target_date=d.target_date,
            earliest=d.earliest,
            latest=d.latest,
        )
        for d in view.doses
    ]
    changes = [
        RescheduleChange(
            sequence=change.sequence,
            label=doses[change.sequence].label,
            old_target=change.old_target,
            new_target=change.new_target,
            old_window=change.old_window,
            new_window=change.new_window,
        )
        for change in reschedule_dates(
            protocol_plan,
            request.sequence,
            given_on,
            policy,
            minimum_interval_days=protocol.minimum_interval_days,
            given={seq: day for seq, day in given_days.items() if seq != request.sequence},
            skipped=skipped,
            current=current,
        )
    ]
    preview = ReschedulePreview(
        subject_code=subject.code,
        sequence=request.sequence,
        given_on=given_on,
        delay_days=(given_on - dose.target_date).days,
        policy=policy,
        changes=changes,
        applied=False,
    )
    return subject, enrollment, preview, planned_rows, current


def _check_expected_day(
    protocol: Protocol, enrollment: t.Enrollment, planned_on: date, window_earliest: date, given_on: date
) -> None:
    check_delayed_day(
        given_on,
        planned_on=planned_on,
        enrolled_on=_first_dosing_day(enrollment, protocol),
        window_earliest=window_earliest,
        days_early_allowed=protocol.recording.days_early_allowed,
        limits=site_limits(),
    )
