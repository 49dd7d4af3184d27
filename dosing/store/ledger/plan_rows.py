"""Rows written at enrollment (subject, enrollment, planned administrations and assessments), built
as plain column values and inserted with Core ``INSERT ... RETURNING``: the returned rows are the rows
as the database holds them, which the audit entry's digest covers (no reading back).

One subject or a batch of them write the same rows: :mod:`dosing.store.ledger.enrollment_batch`
inserts the rows of many subjects per table with the builders of this module.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import Row, Table, func, insert, select
from sqlmodel import Session, SQLModel

from dosing.errors import DosingError
from dosing.plan import PatientPlan
from dosing.protocol import Offset, Protocol
from dosing.store.ledger._common import _chunks, _utc
from dosing.store.models import EnrollmentRequest

#: The rule of the refusal when a subject code is enrolled a second time (the roster flow knows it).
ALREADY_ENROLLED = "a subject code is enrolled once, without regard to case"

#: (arm, source, randomization number, cohort, cohort position): how the subject's arm was chosen.
Choice = tuple[str, str, int | None, int | None, int | None]

#: Unique columns of each table an enrollment writes (see :func:`inserted`).
SUBJECT_KEY = ("code",)
ENROLLMENT_KEY = ("subject_id",)
ADMINISTRATION_KEY = ("enrollment_id", "sequence")
ASSESSMENT_KEY = ("enrollment_id", "key")


def table_of(name: str) -> Table:
    return SQLModel.metadata.tables[name]


def inserted(
    session: Session, table_name: str, rows: Sequence[dict[str, Any]], key: tuple[str, ...]
) -> list[Row[Any]]:
    """Insert ``rows`` (one statement, executemany) and return them as stored, in the same order.

    ``key``: columns unique in the table that tell the returned rows apart. ``RETURNING`` gives them in
    no promised order, and asking SQLAlchemy to keep the order makes SQLite insert row by row.
    """
    if not rows:
        return []
    table = table_of(table_name)
    returned = session.connection().execute(insert(table).returning(*table.c), list(rows))
    by_key = {tuple(getattr(row, name) for name in key): row for row in returned}
    return [by_key[tuple(values[name] for name in key)] for values in rows]


def already_enrolled(code: str, exists: str) -> DosingError:
    return DosingError(
        "subject",
        ALREADY_ENROLLED,
        f"{code} is already enrolled"
        if exists == code
        else f"{code} is already enrolled as {exists} (codes differing only by case are one subject)",
    )


def enrolled_codes(session: Session, codes: Sequence[str]) -> dict[str, str]:
    """The stored subject codes among ``codes``, by lower case (codes differing by case are one)."""
    lowered = sorted({code.lower() for code in codes})
    subjects = table_of("subjects")
    found: dict[str, str] = {}
    for chunk in _chunks(lowered):
        query = select(subjects.c.code).where(func.lower(subjects.c.code).in_(chunk))
        for code in session.connection().execute(query).scalars():
            found[code.lower()] = code
    return found


def subject_values(request: EnrollmentRequest) -> dict[str, Any]:
    return {"code": request.subject_code, "protocol_id": request.protocol_id, "created_at": request.as_of}


def _insert_subject(session: Session, request: EnrollmentRequest) -> Row[Any]:
    exists = enrolled_codes(session, [request.subject_code]).get(request.subject_code.lower())
    if exists is not None:
        raise already_enrolled(request.subject_code, exists)
    return inserted(session, "subjects", [subject_values(request)], SUBJECT_KEY)[0]


def enrollment_values(
    subject_id: int, request: EnrollmentRequest, plan: PatientPlan, choice: Choice, measured_on: date
) -> dict[str, Any]:
    arm, source, number, cohort, position = choice
    dose_level = next((str(a.dose_per_kg) for a in plan.administrations if a.dose_per_kg is not None), None)
    return {
        "subject_id": subject_id,
        "protocol_id": plan.protocol_id,
        "arm": arm,
        "arm_role": plan.arm_role.value,
        "dose_level": dose_level,
        "cohort": cohort,
        "cohort_position": position,
        "randomization_number": number,
        "allocation_overridden": source == "override",
        "weight_kg": plan.weight.value,
        "weight_measured_on": measured_on,
        "anchor_date": plan.anchor_date,
        "site": plan.site,
        "timezone": plan.timezone,
        "enrolled_at": _utc(request.as_of),
        "enrolled_by": request.actor,
    }


def _insert_enrollment(
    session: Session,
    subject: Row[Any],
    request: EnrollmentRequest,
    plan: PatientPlan,
    choice: Choice,
    measured_on: date,
) -> Row[Any]:
    values = enrollment_values(subject.id, request, plan, choice, measured_on)
    return inserted(session, "enrollments", [values], ENROLLMENT_KEY)[0]


def _slug(text_value: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text_value.lower()).strip("-")


def administration_values(
    protocol: Protocol, subject_id: int, enrollment_id: int, plan: PatientPlan
) -> list[dict[str, Any]]:
    return [
        {
            "enrollment_id": enrollment_id,
            "subject_id": subject_id,
            "sequence": planned.sequence,
            "label": planned.label,
            "study_day": planned.study_day,
            "target_date": planned.target_date,
            "earliest": planned.earliest,
            "latest": planned.latest,
            "planned_start": _utc(planned.planned_start),
            "intervention": planned.intervention,
            "dose_per_kg": str(planned.dose_per_kg) if planned.dose_per_kg is not None else None,
            "ordered_dose_value": ordered.value if (ordered := planned.ordered_dose) is not None else None,
            "ordered_dose_unit": ordered.unit.value if ordered is not None else None,
            "final_volume_ml": (
                protocol.preparation.final_volume.value
                if planned.intervention == "product"
                else (planned.placebo_volume.value if planned.placebo_volume is not None else None)
            ),
        }
        for planned in plan.administrations
    ]


def assessment_values(
    protocol: Protocol, subject_id: int, enrollment_id: int, plan: PatientPlan
) -> list[dict[str, Any]]:
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
            {
                "enrollment_id": enrollment_id,
                "subject_id": subject_id,
                "key": key,
                "name": planned_assessment.name,
                "due": _utc(planned_assessment.due),
                "due_date": planned_assessment.due_date,
                "after": planned_assessment.after,
                "offset_months": offset.months,
                "offset_days": offset.days,
                "offset_hours": offset.hours,
                "offset_text": planned_assessment.offset,
                "measures": list(planned_assessment.measures),
                "source": planned_assessment.source,
                "administration_sequence": planned_assessment.administration_sequence,
            }
        )
    return assessments


def _insert_plan(
    session: Session, protocol: Protocol, subject: Row[Any], enrollment: Row[Any], plan: PatientPlan
) -> tuple[list[Row[Any]], list[Row[Any]]]:
    """Persist the planned administrations and assessments; returns them as stored."""
    doses = inserted(
        session,
        "planned_administrations",
        administration_values(protocol, subject.id, enrollment.id, plan),
        ADMINISTRATION_KEY,
    )
    assessments = inserted(
        session,
        "planned_assessments",
        assessment_values(protocol, subject.id, enrollment.id, plan),
        ASSESSMENT_KEY,
    )
    return doses, assessments
