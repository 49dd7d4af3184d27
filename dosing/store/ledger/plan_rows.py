"""Rows written at enrollment: subject, enrollment, planned administrations and assessments."""

from __future__ import annotations

import re
from datetime import date

from sqlalchemy import func, select
from sqlmodel import Session, col

from dosing.errors import DosingError
from dosing.plan import PatientPlan
from dosing.protocol import Offset, Protocol
from dosing.store import tables as t
from dosing.store.ledger._common import _id, _utc
from dosing.store.models import EnrollmentRequest

#: The rule of the refusal when a subject code is enrolled a second time (the roster flow knows it).
ALREADY_ENROLLED = "a subject code is enrolled once, without regard to case"


def _insert_subject(session: Session, request: EnrollmentRequest) -> t.Subject:
    exists = session.scalars(
        select(col(t.Subject.code)).where(func.lower(col(t.Subject.code)) == request.subject_code.lower())
    ).first()
    if exists is not None:
        same = exists == request.subject_code
        raise DosingError(
            "subject",
            ALREADY_ENROLLED,
            f"{request.subject_code} is already enrolled"
            if same
            else f"{request.subject_code} is already enrolled as {exists} "
            "(codes differing only by case are one subject)",
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
                protocol.preparation.final_volume.value
                if planned.intervention == "product"
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
