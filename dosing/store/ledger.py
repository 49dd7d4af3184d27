"""Use cases of the dose ledger, each one transaction: enroll, record, skip, correct, reschedule, review.

Reads compute everything from rows that are only ever inserted: the effective window of a dose is its
planned window moved by its latest reschedule, the effective record is the last link of the chain of
corrections of its latest outcome, and the status comes from :func:`dosing.status.dose_status`.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import cache
from typing import Any

import pendulum
from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from dosing import escalation as escalation_rules
from dosing.catalog import get_protocol
from dosing.errors import DosingError
from dosing.plan import PatientInputs, PatientPlan, check_study_takes_patients, plan_patient
from dosing.protocol import ArmRole, Offset, Protocol
from dosing.schedule import AdministrationDates, local_start, offset_datetime, planned_dates
from dosing.schedule import reschedule as reschedule_dates
from dosing.status import DoseRecord, DoseState, DoseStatus, DoseWindow, dose_status
from dosing.store import tables as t
from dosing.store.db import Store
from dosing.store.models import (
    AssessmentView,
    AuditView,
    CohortReviewRequest,
    CorrectionRequest,
    DoseView,
    Enrollment,
    EnrollmentRequest,
    GivenRequest,
    GivenView,
    MissedDose,
    OverdueRow,
    RescheduleChange,
    ReschedulePreview,
    RescheduleRequest,
    SkipRequest,
    SubjectView,
)
from dosing.units import Amount, AmountUnit, Volume, Weight

__all__ = [
    "AssessmentView",
    "AuditView",
    "CohortReviewRequest",
    "CorrectionRequest",
    "DoseView",
    "Enrollment",
    "EnrollmentRequest",
    "GivenRequest",
    "GivenView",
    "MissedDose",
    "OverdueRow",
    "RescheduleChange",
    "ReschedulePreview",
    "RescheduleRequest",
    "SkipRequest",
    "SubjectView",
    "audit_trail",
    "cohorts",
    "correct",
    "enroll",
    "overdue",
    "preview_reschedule",
    "record_given",
    "record_skipped",
    "reschedule",
    "review_cohort",
    "site_views",
    "subject_protocol",
    "subject_timezone",
    "subject_view",
    "sweep_missed",
]

#: Rows per IN (...) list: well under SQLite's and PostgreSQL's bind-parameter limits.
_CHUNK = 2000


# --- small helpers ----------------------------------------------------------------------------------


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise DosingError("time", "date-time with a UTC offset", f"{moment.isoformat()} has no offset")
    return moment.astimezone(UTC)


def _id(row: Any) -> int:
    """The primary key of a flushed row."""
    assert row.id is not None
    identifier: int = row.id
    return identifier


def _id_of(value: int | None) -> int:
    assert value is not None
    return value


@cache
def _zone(name: str) -> Any:
    return pendulum.timezone(name)


def _local_date(moment: datetime, timezone: str) -> date:
    local = moment.astimezone(_zone(timezone))
    # A plain date: database drivers bind the stdlib type, not pendulum's subclass.
    return date(local.year, local.month, local.day)


def _local(moment: datetime, timezone: str) -> datetime:
    return moment.astimezone(_zone(timezone))


def _chunks(items: Sequence[int]) -> Iterable[Sequence[int]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    return value


def _row_json(row: Any, *, skip: Iterable[str] = ()) -> dict[str, Any]:
    data = row.model_dump()
    for name in skip:
        data.pop(name, None)
    return {key: _jsonable(value) for key, value in data.items() if value is not None}


def _audit(
    session: Session,
    *,
    actor: str,
    at: datetime,
    action: str,
    entity: str,
    entity_id: int | None,
    protocol_id: str | None = None,
    subject_code: str | None = None,
    reason: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    missed_planned_id: int | None = None,
) -> t.AuditEntry:
    entry = t.AuditEntry(
        at=_utc(at),
        actor=actor,
        action=action,
        protocol_id=protocol_id,
        subject_code=subject_code,
        entity=entity,
        entity_id=entity_id,
        reason=reason,
        before=before,
        after=after,
        missed_planned_id=missed_planned_id,
    )
    session.add(entry)
    session.flush()
    return entry


def _subject(session: Session, subject_code: str) -> tuple[t.Subject, t.Enrollment]:
    found = session.execute(
        select(t.Subject, t.Enrollment)
        .join(t.Enrollment, col(t.Enrollment.subject_id) == col(t.Subject.id))
        .where(col(t.Subject.code) == subject_code)
    ).first()
    if found is None:
        raise DosingError("subject", "an enrolled subject", f"no subject {subject_code!r} is enrolled")
    return found[0], found[1]


# --- effective state of one planned dose ------------------------------------------------------------


@dataclass
class _DoseEvents:
    outcomes: list[t.AdministrationEvent] = field(default_factory=list)
    corrections: dict[int, t.AdministrationEvent] = field(default_factory=dict)
    reschedules: list[t.AdministrationEvent] = field(default_factory=list)

    def add(self, event: t.AdministrationEvent) -> None:
        if event.kind == "reschedule":
            self.reschedules.append(event)
        elif event.kind == "correction":
            assert event.corrects_id is not None
            self.corrections[event.corrects_id] = event
        else:
            self.outcomes.append(event)

    def tail(self) -> tuple[t.AdministrationEvent | None, str | None]:
        """The record in effect (last correction of the latest outcome) and what it says, or (tail, void)."""
        if not self.outcomes:
            return None, None
        current = max(self.outcomes, key=lambda event: event.slot or 0)
        while current.id in self.corrections:
            current = self.corrections[_id(current)]
        kind = current.corrected_kind if current.kind == "correction" else current.kind
        return current, kind

    def effective(self) -> tuple[t.AdministrationEvent | None, str | None]:
        current, kind = self.tail()
        if kind == "void":
            return None, None
        return current, kind

    def next_slot(self) -> int:
        return len(self.outcomes)

    def window(self, planned: t.PlannedAdministration) -> tuple[date, date, date]:
        if self.reschedules:
            last = max(self.reschedules, key=lambda event: event.id or 0)
            assert last.new_target and last.new_earliest and last.new_latest
            return last.new_target, last.new_earliest, last.new_latest
        return planned.target_date, planned.earliest, planned.latest

    def revision(self, since: datetime) -> tuple[int, datetime]:
        # What a calendar shows changes with a reschedule, a skip, or a correction.
        changes = [
            *self.reschedules,
            *self.corrections.values(),
            *(event for event in self.outcomes if event.kind == "skipped"),
        ]
        if not changes:
            return 0, since
        return len(changes), max(event.recorded_at for event in changes)


def _dose_record(event: t.AdministrationEvent | None, kind: str | None) -> DoseRecord | None:
    if event is None or kind is None or event.local_date is None:
        return None
    return DoseRecord(
        kind="given" if kind == "given" else "skipped",
        local_date=event.local_date,
        partial=event.partial,
        reason=event.reason if kind == "skipped" else None,
    )


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
            due = offset_datetime(pendulum.instance(_local(dose.given.started_at, timezone)), offset)
            revised_at = max(revised_at, dose.given.recorded_at)
        else:
            due = offset_datetime(pendulum.instance(dose.planned_start), offset)
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


# --- enrollment --------------------------------------------------------------------------------------


def _arm_choice(
    session: Session, protocol: Protocol, request: EnrollmentRequest, as_of_local: date
) -> tuple[str, str, int | None, int | None, int | None]:
    """(arm, source, randomization number, cohort, cohort position) for a new subject."""
    randomized = protocol.allocation.method == "permuted_blocks"
    if request.override_allocation:
        if not randomized:
            raise DosingError(
                "override allocation",
                "only a randomized study has an allocation to override",
                f"{protocol.id} allocates by {protocol.allocation.method.replace('_', ' ')}",
            )
        if request.arm is None:
            raise DosingError("arm", "an override names the arm", "give the arm to use instead of the list's")
        if not request.reason:
            raise DosingError(
                "reason",
                "an allocation override is audited with its reason",
                "give --reason for the override",
            )
        protocol.arm(request.arm)
        return request.arm, "override", None, None, None
    if randomized:
        if request.arm is not None:
            raise DosingError(
                "arm",
                "randomized allocation (seeded permuted blocks); a chosen arm needs "
                "--override-allocation and --reason",
                f"{protocol.id} is randomized: omit the arm, the next randomization number assigns it",
            )
        from dosing.allocation import allocate

        current = session.scalars(
            select(func.max(col(t.Enrollment.randomization_number))).where(
                col(t.Enrollment.protocol_id) == protocol.id
            )
        ).one()
        number = (current or 0) + 1
        return allocate(protocol, number).arm, "randomization", number, None, None
    if protocol.escalation is not None:
        members, reviews = _cohort_inputs(session, protocol.id)
        slot = escalation_rules.next_slot(protocol.escalation, members, reviews, as_of_local, request.arm)
        return slot.arm, "escalation", None, slot.cohort, slot.position
    if request.arm is not None:
        protocol.arm(request.arm)
        return request.arm, "given", None, None, None
    if len(protocol.arms) == 1:
        return protocol.arms[0].id, "only arm", None, None, None
    known = ", ".join(arm.id for arm in protocol.arms)
    raise DosingError("arm", f"one of the protocol's arms ({known})", f"{protocol.id} needs an arm")


def _insert_subject(session: Session, request: EnrollmentRequest) -> t.Subject:
    exists = session.scalars(
        select(col(t.Subject.id)).where(col(t.Subject.code) == request.subject_code)
    ).first()
    if exists is not None:
        raise DosingError(
            "subject", "a subject code is enrolled once", f"{request.subject_code} is already enrolled"
        )
    subject = t.Subject(code=request.subject_code, protocol_id=request.protocol_id, created_at=request.as_of)
    session.add(subject)
    session.flush()
    return subject


def _insert_enrollment(
    session: Session,
    subject: t.Subject,
    request: EnrollmentRequest,
    plan: PatientPlan,
    choice: tuple[str, str, int | None, int | None, int | None],
    measured_on: date,
) -> t.Enrollment:
    arm, source, number, cohort, position = choice
    dose_level = next((str(a.dose_per_kg) for a in plan.administrations if a.dose_per_kg is not None), None)
    enrollment = t.Enrollment(
        subject_id=_id(subject),
        protocol_id=plan.protocol_id,
        arm=arm,
        arm_role=plan.arm_role.value,
        dose_level=dose_level,
        cohort=cohort,
        cohort_position=position,
        randomization_number=number,
        allocation_overridden=source == "override",
        weight_kg=plan.weight.value,
        weight_measured_on=measured_on,
        anchor_date=plan.anchor_date,
        site=plan.site,
        timezone=plan.timezone,
        enrolled_at=_utc(request.as_of),
        enrolled_by=request.actor,
    )
    session.add(enrollment)
    session.flush()
    return enrollment


def _slug(text_value: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text_value.lower()).strip("-")


def _insert_plan(
    session: Session, protocol: Protocol, subject: t.Subject, enrollment: t.Enrollment, plan: PatientPlan
) -> tuple[int, int]:
    """Persist the planned administrations and assessments; returns how many of each."""
    administrations = [
        t.PlannedAdministration(
            enrollment_id=_id(enrollment),
            subject_id=_id(subject),
            sequence=planned.sequence,
            label=planned.label,
            study_day=planned.study_day,
            target_date=planned.target_date,
            earliest=planned.earliest,
            latest=planned.latest,
            planned_start=_utc(planned.planned_start),
            intervention=planned.intervention,
            dose_per_kg=str(planned.dose_per_kg) if planned.dose_per_kg is not None else None,
            ordered_dose_value=planned.ordered_dose.value if planned.ordered_dose is not None else None,
            ordered_dose_unit=planned.ordered_dose.unit.value if planned.ordered_dose is not None else None,
            final_volume_ml=(
                planned.preparation.final_volume.value
                if planned.preparation is not None
                else (planned.placebo_volume.value if planned.placebo_volume is not None else None)
            ),
        )
        for planned in plan.administrations
    ]
    offsets = {
        (follow_up.name, offset.describe()): offset
        for follow_up in protocol.follow_up
        for offset in follow_up.offsets
    }
    assessments = []
    for planned_assessment in plan.assessments:
        offset = offsets.get((planned_assessment.name, planned_assessment.offset), Offset())
        key = f"{_slug(planned_assessment.name)}/{offset.months}m{offset.days}d{offset.hours}h"
        if planned_assessment.administration_sequence is not None:
            key += f"/dose-{planned_assessment.administration_sequence}"
        assessments.append(
            t.PlannedAssessment(
                enrollment_id=_id(enrollment),
                subject_id=_id(subject),
                key=key,
                name=planned_assessment.name,
                due=_utc(planned_assessment.due),
                due_date=planned_assessment.due_date,
                after=planned_assessment.after,
                offset_months=offset.months,
                offset_days=offset.days,
                offset_hours=offset.hours,
                offset_text=planned_assessment.offset,
                measures=list(planned_assessment.measures),
                source=planned_assessment.source,
                administration_sequence=planned_assessment.administration_sequence,
            )
        )
    session.add_all(administrations)
    session.add_all(assessments)
    session.flush()
    return len(administrations), len(assessments)


def enroll(store: Store, request: EnrollmentRequest) -> Enrollment:
    """Persist subject, enrollment, planned doses and assessments, and the audit entry: all or nothing."""
    protocol = get_protocol(request.protocol_id)
    # A closed study refuses before anything is read or written.
    check_study_takes_patients(protocol)
    for attempt in range(3):
        try:
            return _enroll_once(store, protocol, request)
        except IntegrityError as error:
            # Another enrollment took the same randomization number or cohort place: draw again.
            with store.session() as session:
                taken = session.scalars(
                    select(col(t.Subject.id)).where(col(t.Subject.code) == request.subject_code)
                ).first()
            if taken is not None:
                raise DosingError(
                    "subject",
                    "a subject code is enrolled once",
                    f"{request.subject_code} is already enrolled",
                ) from error
            if attempt == 2:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _enroll_once(store: Store, protocol: Protocol, request: EnrollmentRequest) -> Enrollment:
    site = protocol.site(request.site)
    as_of_local = _local_date(request.as_of, site.timezone)
    anchor = request.anchor
    with store.transaction() as session:
        choice = _arm_choice(session, protocol, request, as_of_local)
        plan = plan_patient(
            protocol,
            PatientInputs(
                arm=choice[0],
                weight=request.weight,
                weight_measured_on=request.weight_measured_on or as_of_local,
                anchor=anchor,
                site=site.id,
                dose_per_kg=request.dose_per_kg,
            ),
        )
        subject = _insert_subject(session, request)
        measured_on = request.weight_measured_on or as_of_local
        enrollment = _insert_enrollment(session, subject, request, plan, choice, measured_on)
        doses, assessments = _insert_plan(session, protocol, subject, enrollment, plan)
        arm, source, number, cohort, position = choice
        _audit(
            session,
            actor=request.actor,
            at=request.as_of,
            action="enroll",
            entity="enrollments",
            entity_id=enrollment.id,
            protocol_id=protocol.id,
            subject_code=request.subject_code,
            reason=request.reason,
            after={
                "arm": arm,
                "arm_source": source,
                "randomization_number": number,
                "allocation_seed": protocol.allocation.seed if source == "randomization" else None,
                "cohort": cohort,
                "cohort_position": position,
                "weight": str(plan.weight),
                "weight_measured_on": measured_on.isoformat(),
                "anchor_date": plan.anchor_date.isoformat(),
                "site": plan.site,
                "dose_level": enrollment.dose_level,
                "planned_doses": doses,
                "planned_assessments": assessments,
            },
        )
        return Enrollment(
            subject_code=subject.code,
            protocol_id=protocol.id,
            arm=arm,
            arm_source=source,
            randomization_number=number,
            cohort=cohort,
            cohort_position=position,
            site=plan.site,
            timezone=plan.timezone,
            anchor_date=plan.anchor_date,
            weight=plan.weight,
            weight_measured_on=measured_on,
            enrolled_at=enrollment.enrolled_at,
            planned_doses=doses,
            planned_assessments=assessments,
            warnings=list(plan.warnings),
        )


# --- recording ---------------------------------------------------------------------------------------


def _planned_dose(
    session: Session, subject: t.Subject, enrollment: t.Enrollment, sequence: int
) -> tuple[t.PlannedAdministration, _DoseEvents]:
    planned = session.scalars(
        select(t.PlannedAdministration).where(
            col(t.PlannedAdministration.subject_id) == subject.id,
            col(t.PlannedAdministration.sequence) == sequence,
        )
    ).first()
    if planned is None:
        count = session.scalars(
            select(func.count()).where(col(t.PlannedAdministration.subject_id) == subject.id)
        ).one()
        rule = f"one of doses 1-{count}" if count else "a planned administration (control arm has none)"
        raise DosingError("dose", rule, f"{subject.code} has no planned dose {sequence}")
    events = _DoseEvents()
    rows = session.scalars(
        select(t.AdministrationEvent)
        .where(col(t.AdministrationEvent.planned_id) == planned.id)
        .order_by(col(t.AdministrationEvent.id))
    ).all()
    for row in rows:
        events.add(row)
    return planned, events


def _describe(event: t.AdministrationEvent, kind: str, timezone: str) -> str:
    if kind == "given" and event.started_at is not None:
        when = _local(event.started_at, timezone).strftime("%Y-%m-%d %H:%M %Z")
        return f"given at {when} by {event.given_by or event.recorded_by} (record {event.id})"
    return f"skipped ({event.reason}) by {event.recorded_by} (record {event.id})"


def _refuse_if_recorded(
    subject: t.Subject, enrollment: t.Enrollment, sequence: int, events: _DoseEvents
) -> None:
    effective, kind = events.effective()
    if effective is not None and kind is not None:
        raise DosingError(
            "dose",
            "one record per planned dose; a change is a correction (dosing correct)",
            f"dose {sequence} of {subject.code} is already recorded: "
            f"{_describe(effective, kind, enrollment.timezone)}",
        )


def _with_refusal(store: Store, subject_code: str, sequence: int, work: Any) -> int:
    """Run ``work`` in a transaction; a unique-constraint race becomes the same refusal as a read would."""
    try:
        with store.transaction() as session:
            result: int = work(session)
            return result
    except IntegrityError as error:
        with store.session() as session:
            subject, enrollment = _subject(session, subject_code)
            _, events = _planned_dose(session, subject, enrollment, sequence)
            _refuse_if_recorded(subject, enrollment, sequence, events)
        raise DosingError(
            "dose",
            "one change at a time",
            f"dose {sequence} of {subject_code} was changed by someone else at the same moment; look again",
        ) from error


def _given_fields(
    planned: t.PlannedAdministration,
    enrollment: t.Enrollment,
    request: GivenRequest | CorrectionRequest,
    base: t.AdministrationEvent | None,
) -> dict[str, Any]:
    def pick(name: str) -> Any:
        value = getattr(request, name)
        if value is None and base is not None:
            return getattr(base, name)
        return value

    started_at = request.started_at or (base.started_at if base is not None else None)
    if started_at is None:
        raise DosingError("at", "a given dose has its start time", "give the time the administration started")
    started_at = _utc(started_at)
    if started_at > _utc(request.as_of):
        raise DosingError(
            "at",
            "a dose is recorded after it started",
            f"{started_at.isoformat()} is after now ({request.as_of.isoformat()})",
        )
    ended_at = request.ended_at or (base.ended_at if base is not None else None)
    if ended_at is not None:
        ended_at = _utc(ended_at)
        if ended_at < started_at:
            raise DosingError("end", "the end follows the start", "the administration ends before it started")
    ordered = _ordered(planned)
    amount = request.amount
    if amount is None and base is not None and base.amount_value is not None and base.amount_unit:
        amount = Amount(value=base.amount_value, unit=AmountUnit(base.amount_unit))
    if amount is None:
        amount = ordered
    if amount is not None and ordered is not None and amount.unit is not ordered.unit:
        raise DosingError(
            "amount",
            f"amount in {ordered.unit.noun}, as ordered",
            f"{amount} is not counted in {ordered.unit.noun}",
        )
    if amount is not None and ordered is None:
        raise DosingError("amount", "a placebo dose has no product amount", f"{amount} cannot apply")
    volume = request.volume
    if volume is None and base is not None and base.volume_ml is not None:
        volume = Volume(value=base.volume_ml)
    if volume is None and planned.final_volume_ml is not None:
        volume = Volume(value=planned.final_volume_ml)
    partial = (
        request.partial if request.partial is not None else (base.partial if base is not None else False)
    )
    if amount is not None and ordered is not None and amount.value < ordered.value:
        partial = True
    return {
        "started_at": started_at,
        "ended_at": ended_at,
        "local_date": _local_date(started_at, enrollment.timezone),
        "amount_value": amount.value if amount is not None else None,
        "amount_unit": amount.unit.value if amount is not None else None,
        "volume_ml": volume.value if volume is not None else None,
        "partial": bool(partial),
        "lot": pick("lot"),
        "din": pick("din"),
        "route": pick("route"),
        "given_by": pick("given_by") or request.actor,
        "infusion_reaction": pick("infusion_reaction"),
        "notes": pick("notes"),
    }


def _with_registered_lot(
    session: Session, enrollment: t.Enrollment, fields: dict[str, Any]
) -> dict[str, Any]:
    """The record's lot checked against the pharmacy's register, in the same transaction.

    Chain of identity: a cell product given from an unregistered, expired or other product's lot is a
    mix-up to resolve before the record stands, so it is refused with the rule it breaks. The stored
    lot number and DIN are the register's (a scanned ``=G1234...00`` becomes the DIN).
    """
    from dosing.store.lots import check_lot_reference  # lots reads the ledger's views: import late

    found = check_lot_reference(
        session,
        lot=fields["lot"],
        din=fields["din"],
        protocol=enrollment.protocol_id,
        on=fields["local_date"],
    )
    if found is None:
        return fields
    return {**fields, "lot": found.lot_number, "din": found.din}


def record_given(store: Store, request: GivenRequest) -> int:
    """Record a given administration; refuses a second record of the same dose. Returns the record id."""

    def work(session: Session) -> int:
        subject, enrollment = _subject(session, request.subject_code)
        planned, events = _planned_dose(session, subject, enrollment, request.sequence)
        _refuse_if_recorded(subject, enrollment, request.sequence, events)
        _, _, latest = events.window(planned)
        fields = _with_registered_lot(session, enrollment, _given_fields(planned, enrollment, request, None))
        event = t.AdministrationEvent(
            planned_id=_id(planned),
            subject_id=_id(subject),
            kind="given",
            slot=events.next_slot(),
            window_latest=latest,
            recorded_at=_utc(request.as_of),
            recorded_by=request.actor,
            **fields,
        )
        session.add(event)
        session.flush()
        _audit(
            session,
            actor=request.actor,
            at=request.as_of,
            action="record_given",
            entity="administration_events",
            entity_id=event.id,
            protocol_id=enrollment.protocol_id,
            subject_code=subject.code,
            after={"dose": request.sequence, **_row_json(event, skip=("id", "planned_id", "subject_id"))},
        )
        assert event.id is not None
        return event.id

    return _with_refusal(store, request.subject_code, request.sequence, work)


def record_skipped(store: Store, request: SkipRequest) -> int:
    """Record that a dose was not given, and why. Returns the record id."""

    def work(session: Session) -> int:
        subject, enrollment = _subject(session, request.subject_code)
        planned, events = _planned_dose(session, subject, enrollment, request.sequence)
        _refuse_if_recorded(subject, enrollment, request.sequence, events)
        _, _, latest = events.window(planned)
        decided = _utc(request.decided_at or request.as_of)
        event = t.AdministrationEvent(
            planned_id=_id(planned),
            subject_id=_id(subject),
            kind="skipped",
            slot=events.next_slot(),
            local_date=_local_date(decided, enrollment.timezone),
            window_latest=latest,
            reason=request.reason,
            recorded_at=_utc(request.as_of),
            recorded_by=request.actor,
        )
        session.add(event)
        session.flush()
        _audit(
            session,
            actor=request.actor,
            at=request.as_of,
            action="record_skipped",
            entity="administration_events",
            entity_id=event.id,
            protocol_id=enrollment.protocol_id,
            subject_code=subject.code,
            reason=request.reason,
            after={"dose": request.sequence, **_row_json(event, skip=("id", "planned_id", "subject_id"))},
        )
        assert event.id is not None
        return event.id

    return _with_refusal(store, request.subject_code, request.sequence, work)


def correct(store: Store, request: CorrectionRequest) -> int:
    """A new record that corrects the effective record of a dose, stating why. Returns its id."""

    def work(session: Session) -> int:
        subject, enrollment = _subject(session, request.subject_code)
        planned, events = _planned_dose(session, subject, enrollment, request.sequence)
        tail, kind = events.tail()
        if tail is None or kind == "void":
            raise DosingError(
                "dose",
                "a correction replaces an existing record",
                f"dose {request.sequence} of {subject.code} has no record to correct",
            )
        if request.record_id is not None and request.record_id != tail.id:
            raise DosingError(
                "record",
                "a correction applies to the record in effect",
                f"record {request.record_id} is not in effect for dose {request.sequence}; "
                f"record {tail.id} is",
            )
        _, _, latest = events.window(planned)
        fields: dict[str, Any] = {}
        if request.becomes == "given":
            fields = _with_registered_lot(
                session,
                enrollment,
                _given_fields(planned, enrollment, request, tail if kind == "given" else None),
            )
        elif request.becomes == "skipped":
            reason = request.skip_reason or (tail.reason if kind == "skipped" else None)
            if not reason:
                raise DosingError(
                    "skip reason", "a skipped dose has a reason", "give the reason it was not given"
                )
            fields = {
                "reason": reason,
                "local_date": tail.local_date
                if kind == "skipped"
                else _local_date(request.as_of, enrollment.timezone),
            }
        event = t.AdministrationEvent(
            planned_id=_id(planned),
            subject_id=_id(subject),
            kind="correction",
            corrects_id=tail.id,
            corrected_kind=request.becomes,
            window_latest=latest,
            recorded_at=_utc(request.as_of),
            recorded_by=request.actor,
            **fields,
        )
        if request.becomes != "skipped":
            event.reason = None
        session.add(event)
        session.flush()
        _audit(
            session,
            actor=request.actor,
            at=request.as_of,
            action="correct",
            entity="administration_events",
            entity_id=event.id,
            protocol_id=enrollment.protocol_id,
            subject_code=subject.code,
            reason=request.reason,
            before={
                "dose": request.sequence,
                "kind": kind,
                **_row_json(tail, skip=("planned_id", "subject_id")),
            },
            after={
                "dose": request.sequence,
                "kind": request.becomes,
                **_row_json(event, skip=("id", "planned_id", "subject_id")),
            },
        )
        assert event.id is not None
        return event.id

    try:
        with store.transaction() as session:
            return work(session)
    except IntegrityError as error:
        # Two corrections of the same record at the same moment: the unique corrects_id kept one.
        raise DosingError(
            "record",
            "a record is corrected once; a later change corrects the correction",
            f"dose {request.sequence} of {request.subject_code} was corrected by someone else at the same "
            "moment; look at it again (dosing status) before correcting",
        ) from error


# --- reading -----------------------------------------------------------------------------------------


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
            )
        )
    return views


def subject_timezone(store: Store, subject_code: str) -> str:
    """The IANA zone of the subject's site (times typed at the bedside are read in it)."""
    with store.session() as session:
        return _subject(session, subject_code)[1].timezone


def subject_protocol(store: Store, subject_code: str) -> str:
    with store.session() as session:
        return _subject(session, subject_code)[1].protocol_id


def subject_view(store: Store, subject_code: str, as_of: datetime) -> SubjectView:
    """The subject's plan with the status of every dose as of ``as_of``."""
    _utc(as_of)
    with store.session() as session:
        pair = _subject(session, subject_code)
        return _views(session, [pair], as_of)[0]


def site_views(
    store: Store, site_id: str | None, start: date | None, end: date | None, as_of: datetime
) -> list[SubjectView]:
    """Every subject at a site (or everywhere) with a dose or assessment between start and end."""
    _utc(as_of)
    with store.session() as session:
        query = select(t.Subject, t.Enrollment).join(
            t.Enrollment, col(t.Enrollment.subject_id) == col(t.Subject.id)
        )
        if site_id is not None:
            query = query.where(col(t.Enrollment.site) == site_id)
        if start is not None or end is not None:
            # One day inside the calendar's limits, so widening by a day never overflows.
            low = start or date.min + timedelta(days=1)
            high = end or date.max - timedelta(days=1)
            # Candidates by planned dates (widened by a reschedule's reach), then exact on effective dates.
            moved = select(col(t.AdministrationEvent.subject_id)).where(
                col(t.AdministrationEvent.kind) == "reschedule"
            )
            dose_in = select(col(t.PlannedAdministration.subject_id)).where(
                col(t.PlannedAdministration.latest) >= low, col(t.PlannedAdministration.earliest) <= high
            )
            assessment_in = select(col(t.PlannedAssessment.subject_id)).where(
                col(t.PlannedAssessment.due_date) >= low - timedelta(days=1),
                col(t.PlannedAssessment.due_date) <= high + timedelta(days=1),
            )
            query = query.where(col(t.Subject.id).in_(dose_in.union(assessment_in, moved)))
        pairs = [(row[0], row[1]) for row in session.execute(query.order_by(col(t.Subject.code))).all()]
        views = _views(session, pairs, as_of)
    if start is None and end is None:
        return views
    low = start or date.min
    high = end or date.max

    def touches(view: SubjectView) -> bool:
        return any(d.latest >= low and d.earliest <= high for d in view.doses) or any(
            low <= _local_date(a.due, view.timezone) <= high for a in view.assessments
        )

    return [view for view in views if touches(view)]


# --- the overdue sweep -------------------------------------------------------------------------------


_planned = t.PlannedAdministration.__table__  # type: ignore[attr-defined]
_events = t.AdministrationEvent.__table__  # type: ignore[attr-defined]
_enrollments = t.Enrollment.__table__  # type: ignore[attr-defined]
_subjects = t.Subject.__table__  # type: ignore[attr-defined]
_audit_log = t.AuditEntry.__table__  # type: ignore[attr-defined]

_DOSE_COLUMNS = (
    _planned.c.id,
    _planned.c.sequence,
    _planned.c.label,
    _planned.c.target_date,
    _planned.c.latest,
    _subjects.c.code,
    _enrollments.c.timezone,
    _enrollments.c.protocol_id,
    _enrollments.c.site,
)


def _with_subject(query: Any) -> Any:
    return query.join(_enrollments, _enrollments.c.id == _planned.c.enrollment_id).join(
        _subjects, _subjects.c.id == _planned.c.subject_id
    )


def _unrecorded() -> Any:
    # No outcome (given or skipped) was ever recorded: a probe of the unique (planned dose, slot) index.
    return ~(
        select(_events.c.id)
        .where(_events.c.planned_id == _planned.c.id, _events.c.slot.is_not(None))
        .exists()
    )


def missed_candidates(cutoff: date) -> Any:
    """Every planned dose whose planned window ended before ``cutoff`` with no outcome recorded.

    Walks the index on window end and probes the events: an anti-join, with no column on the planned
    rows that would need an UPDATE when a dose is recorded. Its cost grows with every past dose.
    """
    return _with_subject(select(*_DOSE_COLUMNS).select_from(_planned)).where(
        _planned.c.latest < cutoff, _unrecorded()
    )


def missed_candidates_since(checkpoint: SweepCheckpoint, cutoff: date) -> list[Any]:
    """The same set, from the last sweep's checkpoint: only what the checkpoint does not vouch for.

    A sweep wrote every dose then missed to the audit log and recorded that it had looked at every dose
    up to ``max_planned_id`` whose window ended before ``checked_before``. What may be missed now is
    therefore: (1) doses reported missed then and still unrecorded, (2) windows that ended since the
    checkpoint, (3) doses planned after it (backdated enrollments). Doses that had an outcome then keep
    it, unless corrected, and corrected or rescheduled doses are always worked out from their events.
    """
    base = _with_subject(select(*_DOSE_COLUMNS).select_from(_planned))
    reported = select(_audit_log.c.missed_planned_id).where(_audit_log.c.missed_planned_id.is_not(None))
    return [
        base.where(_planned.c.id.in_(reported), _planned.c.latest < cutoff, _unrecorded()),
        base.where(_planned.c.latest >= checkpoint.checked_before, _planned.c.latest < cutoff, _unrecorded()),
        base.where(
            _planned.c.id > checkpoint.max_planned_id,
            _planned.c.latest < checkpoint.checked_before,
            _planned.c.latest < cutoff,
            _unrecorded(),
        ),
    ]


@dataclass(frozen=True)
class SweepCheckpoint:
    checked_before: date
    max_planned_id: int


def _checkpoint(session: Session) -> SweepCheckpoint | None:
    after = (
        session.connection()
        .execute(
            select(_audit_log.c.after)
            .where(_audit_log.c.action == "sweep")
            .order_by(_audit_log.c.id.desc())
            .limit(1)
        )
        .scalar()
    )
    if not after:
        return None
    return SweepCheckpoint(
        checked_before=date.fromisoformat(after["checked_before"]),
        max_planned_id=int(after["max_planned_id"]),
    )


def late_candidates() -> Any:
    """Doses given after the window in effect when they were recorded (a small partial index)."""
    return _with_subject(
        select(*_DOSE_COLUMNS, _events.c.local_date)
        .select_from(_events)
        .join(_planned, _planned.c.id == _events.c.planned_id)
    ).where(_events.c.local_date > _events.c.window_latest, _events.c.kind == "given")


def changed_doses() -> Any:
    """Doses with a correction or a reschedule: their status is worked out from all their events."""
    # The predicate is written out literally so that SQLite can match it to the partial index.
    return select(_events.c.planned_id).where(text("kind IN ('correction', 'reschedule')")).distinct()


_OVERDUE_FIELDS = set(OverdueRow.model_fields)


def _overdue_row(values: dict[str, Any]) -> OverdueRow:
    """An OverdueRow from values read from validated rows, without validating again (tens of thousands
    of rows per sweep: ``model_construct`` alone took half the sweep's time)."""
    row = OverdueRow.__new__(OverdueRow)
    object.__setattr__(row, "__dict__", values)
    object.__setattr__(row, "__pydantic_fields_set__", _OVERDUE_FIELDS)
    object.__setattr__(row, "__pydantic_extra__", None)
    object.__setattr__(row, "__pydantic_private__", None)
    return row


def _overdue(
    session: Session, as_of: datetime, *, full: bool = False, missed_only: bool = False
) -> list[tuple[OverdueRow, int]]:
    # Every zone's local date is at most one day past the UTC date: a superset, narrowed exactly below.
    utc = _utc(as_of)
    cutoff = date(utc.year, utc.month, utc.day) + timedelta(days=1)
    connection = session.connection()
    changed = set(connection.execute(changed_doses()).scalars())
    local_today: dict[str, date] = {}

    def today(timezone: str) -> date:
        if timezone not in local_today:
            local_today[timezone] = _local_date(as_of, timezone)
        return local_today[timezone]

    checkpoint = None if full else _checkpoint(session)
    queries = (
        [missed_candidates(cutoff)] if checkpoint is None else missed_candidates_since(checkpoint, cutoff)
    )
    seen: set[int] = set()
    found: list[tuple[date, str, int, int, dict[str, Any]]] = []
    # Doses never corrected or rescheduled: the planned window and the one outcome decide, exactly as
    # dose_status would.
    missed = DoseState.MISSED.value
    for query in queries:
        for (
            planned_id,
            sequence,
            label,
            target,
            latest,
            code,
            timezone,
            protocol_id,
            site,
        ) in connection.execute(query):
            if planned_id in changed or planned_id in seen or latest >= today(timezone):
                continue
            seen.add(planned_id)
            values = {
                "subject_code": code, "protocol_id": protocol_id, "site": site, "sequence": sequence,
                "label": label, "target_date": target, "latest": latest, "state": missed,
                "days_late": (today(timezone) - latest).days, "given_on": None,
            }  # fmt: skip
            found.append((latest, code, sequence, planned_id, values))
    if not missed_only:
        late = DoseState.GIVEN_LATE.value
        for (
            planned_id,
            sequence,
            label,
            target,
            latest,
            code,
            _,
            protocol_id,
            site,
            given_on,
        ) in connection.execute(late_candidates()):
            if planned_id in changed:
                continue
            values = {
                "subject_code": code, "protocol_id": protocol_id, "site": site, "sequence": sequence,
                "label": label, "target_date": target, "latest": latest, "state": late,
                "days_late": (given_on - latest).days, "given_on": given_on,
            }  # fmt: skip
            found.append((latest, code, sequence, planned_id, values))
    found.sort(key=lambda item: item[:3])
    rows = [(_overdue_row(item[4]), item[3]) for item in found]
    rows.extend(
        (row, planned_id)
        for row, planned_id in _changed_overdue(session, sorted(changed), today)
        if not missed_only or row.state == missed
    )
    rows.sort(key=lambda item: (item[0].latest, item[0].subject_code, item[0].sequence))
    return rows


def _changed_overdue(
    session: Session, ids: list[int], today: Callable[[str], date]
) -> list[tuple[OverdueRow, int]]:
    rows: list[tuple[OverdueRow, int]] = []
    for chunk in _chunks(ids):
        found = session.execute(
            select(
                t.PlannedAdministration,
                col(t.Enrollment.timezone),
                col(t.Enrollment.protocol_id),
                col(t.Enrollment.site),
                col(t.Subject.code),
            )
            .join(t.Enrollment, col(t.Enrollment.id) == col(t.PlannedAdministration.enrollment_id))
            .join(t.Subject, col(t.Subject.id) == col(t.PlannedAdministration.subject_id))
            .where(col(t.PlannedAdministration.id).in_(chunk))
        ).all()
        events: dict[int, _DoseEvents] = defaultdict(_DoseEvents)
        for event in session.scalars(
            select(t.AdministrationEvent).where(col(t.AdministrationEvent.planned_id).in_(chunk))
        ):
            events[event.planned_id].add(event)
        for planned, timezone, protocol_id, site, code in found:
            dose_events = events[planned.id] if planned.id in events else _DoseEvents()
            target, earliest, latest = dose_events.window(planned)
            effective, kind = dose_events.effective()
            status = dose_status(
                DoseWindow(target_date=target, earliest=earliest, latest=latest),
                _dose_record(effective, kind),
                today(timezone),
            )
            if not status.state.needs_attention:
                continue
            given_on = effective.local_date if kind == "given" and effective is not None else None
            row = OverdueRow(
                subject_code=code, protocol_id=protocol_id, site=site, sequence=planned.sequence,
                label=planned.label, target_date=target, latest=latest, state=status.state.value,
                days_late=status.days_late or 0, given_on=given_on,
            )  # fmt: skip
            rows.append((row, _id(planned)))
    return rows


def overdue(store: Store, as_of: datetime) -> list[OverdueRow]:
    """Every missed or late dose across subjects, oldest window first, with days late."""
    with store.session() as session:
        return [row for row, _ in _overdue(session, as_of)]


def sweep_missed(store: Store, as_of: datetime, actor: str) -> list[MissedDose]:
    """Write each newly missed dose once to the audit log; returns only those (idempotent)."""
    for attempt in range(3):
        try:
            return _sweep_once(store, as_of, actor)
        except IntegrityError:
            # Another sweep reported some of the same doses first (unique missed_planned_id): look again.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _sweep_once(store: Store, as_of: datetime, actor: str) -> list[MissedDose]:
    with store.transaction() as session:
        connection = session.connection()
        if not store.is_sqlite:
            # Wait for enrollments in flight and hold new ones until this sweep commits, so that every
            # planned dose up to max_planned_id is visible to it (SQLite writers are serialised anyway).
            connection.execute(text("LOCK TABLE planned_administrations IN SHARE MODE"))
        max_planned_id = connection.execute(select(func.max(_planned.c.id))).scalar() or 0
        previous = _checkpoint(session)
        missed = _overdue(session, as_of, missed_only=True)
        reported = set(
            session.connection()
            .execute(
                select(col(t.AuditEntry.missed_planned_id)).where(
                    col(t.AuditEntry.missed_planned_id).is_not(None)
                )
            )
            .scalars()
        )
        new = [(row, planned_id) for row, planned_id in missed if planned_id not in reported]
        at_utc = _utc(as_of)
        # Every zone's local day is at least the UTC day minus one: windows that ended before it are
        # closed everywhere, so this sweep vouches for them.
        checked_before = date(at_utc.year, at_utc.month, at_utc.day) - timedelta(days=1)
        if (
            previous is None
            or checked_before > previous.checked_before
            or max_planned_id > previous.max_planned_id
        ):
            _audit(
                session, actor=actor, at=as_of, action="sweep", entity="planned_administrations",
                entity_id=None, reason="missed-dose sweep",
                after={"checked_before": checked_before.isoformat(), "max_planned_id": max_planned_id,
                       "newly_missed": len(new)},
            )  # fmt: skip
        if not new:
            return []
        entries = [
            {
                "at": at_utc,
                "actor": actor,
                "action": "missed",
                "protocol_id": row.protocol_id,
                "subject_code": row.subject_code,
                "entity": "planned_administrations",
                "entity_id": planned_id,
                "reason": f"window closed on {row.latest.isoformat()} with nothing recorded",
                "before": None,
                "after": {"dose": row.sequence, "label": row.label, "latest": row.latest.isoformat(),
                          "days_late": row.days_late},
                "missed_planned_id": planned_id,
            }
            for row, planned_id in new
        ]  # fmt: skip
        # One multi-row INSERT ... RETURNING, in the order given, instead of one round trip per dose.
        ids = session.scalars(
            insert(t.AuditEntry).returning(col(t.AuditEntry.id), sort_by_parameter_order=True), entries
        ).all()
        return [
            MissedDose.model_construct(
                subject_code=row.subject_code,
                protocol_id=row.protocol_id,
                site=row.site,
                sequence=row.sequence,
                label=row.label,
                latest=row.latest,
                days_late=row.days_late,
                audit_id=_id_of(audit_id),
            )
            for (row, _), audit_id in zip(new, ids, strict=True)
        ]


# --- rescheduling ------------------------------------------------------------------------------------


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
    given_on = request.given_on
    if given_on is None:
        if dose.given is None:
            raise DosingError(
                "given on",
                "a reschedule follows a delayed dose: its recorded or expected day",
                f"dose {request.sequence} of {subject.code} is not recorded as given; give the day",
            )
        given_on = _local_date(dose.given.started_at, enrollment.timezone)
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
    changes = []
    for change in reschedule_dates(current, request.sequence, given_on, policy):
        later = doses[change.sequence]
        # A dose already given or skipped stays where it happened.
        if later.given is not None or later.skipped_record_id is not None:
            continue
        changes.append(
            RescheduleChange(
                sequence=change.sequence,
                label=later.label,
                old_target=change.old_target,
                new_target=change.new_target,
                old_window=change.old_window,
                new_window=change.new_window,
            )
        )
    planned_rows = {
        row.sequence: row
        for row in session.scalars(
            select(t.PlannedAdministration).where(col(t.PlannedAdministration.subject_id) == subject.id)
        )
    }
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


def preview_reschedule(store: Store, request: RescheduleRequest) -> ReschedulePreview:
    """What a reschedule would move, without writing anything."""
    with store.session() as session:
        return _reschedule_plan(session, request)[2]


def reschedule(store: Store, request: RescheduleRequest) -> ReschedulePreview:
    """Apply a reschedule: one new row per moved dose, and one audit entry with before and after."""
    with store.transaction() as session:
        subject, enrollment, preview, planned_rows, _ = _reschedule_plan(session, request)
        if not preview.changes:
            return preview
        for change in preview.changes:
            session.add(
                t.AdministrationEvent(
                    planned_id=_id(planned_rows[change.sequence]),
                    subject_id=_id(subject),
                    kind="reschedule",
                    new_target=change.new_target,
                    new_earliest=change.new_window[0],
                    new_latest=change.new_window[1],
                    reason=request.reason or f"dose {request.sequence} on {preview.given_on.isoformat()}",
                    recorded_at=_utc(request.as_of),
                    recorded_by=request.actor,
                )
            )
        session.flush()
        entry = _audit(
            session,
            actor=request.actor,
            at=request.as_of,
            action="reschedule",
            entity="planned_administrations",
            entity_id=planned_rows[request.sequence].id,
            protocol_id=enrollment.protocol_id,
            subject_code=subject.code,
            reason=request.reason,
            before={
                "policy": preview.policy.value,
                "doses": [
                    {
                        "dose": c.sequence,
                        "target": c.old_target.isoformat(),
                        "window": [c.old_window[0].isoformat(), c.old_window[1].isoformat()],
                    }
                    for c in preview.changes
                ],
            },
            after={
                "given_on": preview.given_on.isoformat(),
                "delay_days": preview.delay_days,
                "doses": [
                    {
                        "dose": c.sequence,
                        "target": c.new_target.isoformat(),
                        "window": [c.new_window[0].isoformat(), c.new_window[1].isoformat()],
                    }
                    for c in preview.changes
                ],
            },
        )
        return preview.model_copy(update={"applied": True, "audit_id": entry.id})


# --- escalation cohorts ------------------------------------------------------------------------------


def _cohort_inputs(
    session: Session, protocol_id: str
) -> tuple[list[escalation_rules.CohortMember], list[escalation_rules.CohortReviewRecord]]:
    pairs = [
        (row[0], row[1])
        for row in session.execute(
            select(t.Subject, t.Enrollment)
            .join(t.Enrollment, col(t.Enrollment.subject_id) == col(t.Subject.id))
            .where(col(t.Enrollment.protocol_id) == protocol_id, col(t.Enrollment.cohort).is_not(None))
            .order_by(col(t.Enrollment.id))
        ).all()
    ]
    events = _load_events(session, [subject.id for subject, _ in pairs if subject.id is not None])
    planned_subject = {}
    if events:
        for chunk in _chunks(list(events)):
            for planned_id, subject_id in session.connection().execute(
                select(col(t.PlannedAdministration.id), col(t.PlannedAdministration.subject_id)).where(
                    col(t.PlannedAdministration.id).in_(chunk)
                )
            ):
                planned_subject[planned_id] = subject_id
    first: dict[int, date] = {}
    for planned_id, dose_events in events.items():
        effective, kind = dose_events.effective()
        if effective is not None and kind == "given" and effective.local_date is not None:
            subject_id = planned_subject[planned_id]
            first[subject_id] = min(first.get(subject_id, date.max), effective.local_date)
    members = [
        escalation_rules.CohortMember(
            subject_code=subject.code,
            cohort=enrollment.cohort,
            arm=enrollment.arm,
            first_dose=first.get(subject.id),
        )
        for subject, enrollment in pairs
    ]
    reviews = [
        escalation_rules.CohortReviewRecord(
            cohort=review.cohort, safe=review.safe, reviewed_on=review.reviewed_on
        )
        for review in session.scalars(
            select(t.CohortReview)
            .where(col(t.CohortReview.protocol_id) == protocol_id)
            .order_by(col(t.CohortReview.id))
        )
    ]
    return members, reviews


def cohorts(store: Store, protocol_id: str, as_of: datetime) -> list[escalation_rules.CohortState]:
    """The escalation cohorts of a study, with members, safety windows, reviews and which is open."""
    protocol = get_protocol(protocol_id)
    if protocol.escalation is None:
        raise DosingError("protocol", "a dose-escalation study", f"{protocol_id} has no escalation cohorts")
    as_of_local = _local_date(as_of, protocol.sites[0].timezone)
    with store.session() as session:
        members, reviews = _cohort_inputs(session, protocol_id)
    return escalation_rules.cohort_states(protocol.escalation, members, reviews, as_of_local)


def review_cohort(store: Store, request: CohortReviewRequest) -> int:
    """Record a cohort's safety review (audited). Returns the review id."""
    protocol = get_protocol(request.protocol_id)
    if protocol.escalation is None:
        raise DosingError("protocol", "a dose-escalation study", f"{protocol.id} has no escalation cohorts")
    levels = len(protocol.escalation.order)
    if request.cohort > levels + 1:
        raise DosingError(
            "cohort", f"cohorts 1-{levels} and the expansion ({levels + 1})", f"no cohort {request.cohort}"
        )
    with store.transaction() as session:
        members, _ = _cohort_inputs(session, protocol.id)
        in_cohort = [member for member in members if member.cohort == request.cohort]
        if not in_cohort:
            raise DosingError(
                "cohort", "a review covers enrolled subjects", f"cohort {request.cohort} has no subjects"
            )
        review = t.CohortReview(
            protocol_id=protocol.id,
            cohort=request.cohort,
            arm=in_cohort[0].arm,
            safe=request.safe,
            reviewed_on=request.reviewed_on,
            notes=request.notes,
            recorded_at=_utc(request.as_of),
            recorded_by=request.actor,
        )
        session.add(review)
        session.flush()
        _audit(
            session,
            actor=request.actor,
            at=request.as_of,
            action="cohort_review",
            entity="cohort_reviews",
            entity_id=review.id,
            protocol_id=protocol.id,
            reason=request.notes,
            after={
                "cohort": request.cohort,
                "arm": review.arm,
                "safe": request.safe,
                "reviewed_on": request.reviewed_on.isoformat(),
                "members": [member.subject_code for member in in_cohort],
            },
        )
        assert review.id is not None
        return review.id


# --- audit trail -------------------------------------------------------------------------------------


def audit_trail(
    store: Store, subject_code: str | None = None, protocol_id: str | None = None, limit: int | None = None
) -> list[AuditView]:
    """Audit entries, oldest first (the last ``limit`` when given)."""
    with store.session() as session:
        query = select(t.AuditEntry)
        if subject_code is not None:
            query = query.where(col(t.AuditEntry.subject_code) == subject_code)
        if protocol_id is not None:
            query = query.where(col(t.AuditEntry.protocol_id) == protocol_id)
        query = query.order_by(col(t.AuditEntry.id).desc())
        if limit is not None:
            query = query.limit(limit)
        entries = list(session.scalars(query))
    return [
        AuditView(
            id=entry.id,
            at=entry.at,
            actor=entry.actor,
            action=entry.action,
            protocol_id=entry.protocol_id,
            subject_code=entry.subject_code,
            entity=entry.entity,
            entity_id=entry.entity_id,
            reason=entry.reason,
            before=entry.before,
            after=entry.after,
        )
        for entry in reversed(entries)
    ]
