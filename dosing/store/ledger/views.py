"""Subject views: every planned dose and assessment of a set of subjects, with statuses."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session, col

from dosing.catalog import get_protocol
from dosing.course_total import CourseDose, CourseTotal, course_total
from dosing.errors import DosingError
from dosing.protocol import ArmRole, TotalSplit
from dosing.schedule import local_start, planned_dates
from dosing.status import DoseState, DoseStatus
from dosing.store import tables as t
from dosing.store.ledger._common import _chunks, _local_date
from dosing.store.ledger.dose_state import _DoseEvents
from dosing.store.ledger.dose_view import _assessment_view, _dose_view
from dosing.store.models import DoseView, SubjectView
from dosing.units import Weight


def _load_events(session: Session, subject_ids: Sequence[int]) -> dict[int, _DoseEvents]:
    by_planned: dict[int, _DoseEvents] = defaultdict(_DoseEvents)
    for chunk in _chunks(list(subject_ids)):
        rows = session.scalars(
            select(t.AdministrationEvent)
            .where(col(t.AdministrationEvent.subject_id).in_(chunk))
            .order_by(col(t.AdministrationEvent.id))
        )
        for event in rows:
            by_planned[event.planned_id].add(event)
    return by_planned


def _not_applicable_doses(enrollment: t.Enrollment) -> list[DoseView]:
    """A control arm with nothing to give still shows the schedule, each dose not applicable."""
    try:
        protocol = get_protocol(enrollment.protocol_id)
        site = protocol.site(enrollment.site)
    except DosingError:
        return []
    dates = planned_dates(
        protocol.administrations, protocol.anchor.day_numbering, enrollment.anchor_date, site.default_window
    )
    return [
        DoseView(
            planned_id=None,
            sequence=day.sequence,
            label=day.label,
            study_day=day.study_day,
            target_date=day.target_date,
            earliest=day.earliest,
            latest=day.latest,
            planned_start=local_start(day.target_date, site.infusion_time, site.timezone),
            intervention="none",
            ordered_dose=None,
            final_volume=None,
            status=DoseStatus(state=DoseState.NOT_APPLICABLE),
            given=None,
            revision=0,
            revised_at=enrollment.enrolled_at,
        )
        for day in dates
    ]


_NOT_GIVEN = {DoseState.SKIPPED, DoseState.MISSED}
_GIVEN = {DoseState.GIVEN_ON_TIME, DoseState.GIVEN_LATE, DoseState.GIVEN_EARLY, DoseState.PARTIAL}


def _course(enrollment: t.Enrollment, doses: list[DoseView]) -> CourseTotal | None:
    """Delivered versus total for a total-over-period regimen, under the protocol's missed-dose policy."""
    try:
        rule = get_protocol(enrollment.protocol_id).arm(enrollment.arm).dose
    except DosingError:
        return None
    if not isinstance(rule, TotalSplit):
        return None
    course: list[CourseDose] = []
    for dose in doses:
        if dose.ordered_dose is None:
            continue
        state = dose.status.state
        if state in _GIVEN:
            delivered = dose.given.amount if dose.given is not None else None
            course.append(CourseDose(ordered=dose.ordered_dose, outcome="given", delivered=delivered))
        elif state in _NOT_GIVEN:
            course.append(CourseDose(ordered=dose.ordered_dose, outcome="not_given"))
        else:
            course.append(CourseDose(ordered=dose.ordered_dose, outcome="open"))
    return course_total(
        rule.total, course, policy=rule.missed_dose_policy, per_dose_maximum=rule.per_dose_maximum
    )


def _views(
    session: Session, pairs: Sequence[tuple[t.Subject, t.Enrollment]], as_of: datetime
) -> list[SubjectView]:
    subject_ids = [subject.id for subject, _ in pairs if subject.id is not None]
    planned_by_subject: dict[int, list[t.PlannedAdministration]] = defaultdict(list)
    assessments_by_subject: dict[int, list[t.PlannedAssessment]] = defaultdict(list)
    for chunk in _chunks(subject_ids):
        for planned in session.scalars(
            select(t.PlannedAdministration).where(col(t.PlannedAdministration.subject_id).in_(chunk))
        ):
            planned_by_subject[planned.subject_id].append(planned)
        for assessment in session.scalars(
            select(t.PlannedAssessment).where(col(t.PlannedAssessment.subject_id).in_(chunk))
        ):
            assessments_by_subject[assessment.subject_id].append(assessment)
    events = _load_events(session, subject_ids)
    views = []
    for subject, enrollment in pairs:
        assert subject.id is not None
        as_of_local = _local_date(as_of, enrollment.timezone)
        planned_rows = sorted(planned_by_subject[subject.id], key=lambda row: row.sequence)
        doses = [
            _dose_view(
                row,
                events[row.id] if row.id in events else _DoseEvents(),
                enrollment.timezone,
                as_of_local,
                enrollment.enrolled_at,
            )
            for row in planned_rows
        ]
        if not doses and enrollment.arm_role == ArmRole.CONTROL.value:
            doses = _not_applicable_doses(enrollment)
        by_sequence = {dose.sequence: dose for dose in doses}
        assessments = [
            _assessment_view(assessment, by_sequence, enrollment.timezone, enrollment.enrolled_at)
            for assessment in assessments_by_subject[subject.id]
        ]
        assessments.sort(key=lambda view: (view.due, view.name))
        views.append(
            SubjectView(
                subject_code=subject.code,
                protocol_id=enrollment.protocol_id,
                arm=enrollment.arm,
                site=enrollment.site,
                timezone=enrollment.timezone,
                enrolled_at=enrollment.enrolled_at,
                weight=Weight(value=enrollment.weight_kg),
                weight_measured_on=enrollment.weight_measured_on,
                anchor_date=enrollment.anchor_date,
                cohort=enrollment.cohort,
                randomization_number=enrollment.randomization_number,
                doses=doses,
                assessments=assessments,
                course=_course(enrollment, doses),
            )
        )
    return views
