"""A subject's enrollment before it is written: allocated and planned, every rule checked, so that
writing it can only fail on the database (one subject, or a batch of them per table).

The rows, the audit entry's content and the returned view are built here once for both writers
(:mod:`dosing.store.ledger.enrollment` and :mod:`dosing.store.ledger.enrollment_batch`).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Row

from dosing.eligibility import EligibilityAssessment, LabValue
from dosing.plan import PatientInputs, PatientPlan, plan_patient
from dosing.plausibility import SiteLimits
from dosing.protocol import Protocol
from dosing.store.chain import stored_rows_digest
from dosing.store.ledger._common import _local_date, _utc
from dosing.store.ledger.allocation_state import AllocationState
from dosing.store.ledger.arm_choice import _arm_choice
from dosing.store.ledger.plan_rows import Choice
from dosing.store.models import Enrollment, EnrollmentRequest


@dataclass(frozen=True)
class EnrollmentDraft:
    protocol: Protocol
    request: EnrollmentRequest
    eligibility: EligibilityAssessment | None
    choice: Choice
    plan: PatientPlan

    @property
    def measured_on(self) -> Any:
        return self.request.weight_measured_on or _local_date(
            self.request.as_of, self.protocol.site(self.request.site).timezone
        )


def draft(
    allocation: AllocationState,
    protocol: Protocol,
    request: EnrollmentRequest,
    eligibility: EligibilityAssessment | None,
    limits: SiteLimits,
) -> EnrollmentDraft:
    """Allocate and plan a subject (the caller holds the protocol's enrollment lock); refusals raise.
    ``limits``: the site's plausibility limits (:func:`dosing.settings.site_limits`), read once per batch."""
    site = protocol.site(request.site)
    as_of_local = _local_date(request.as_of, site.timezone)
    choice = _arm_choice(allocation, protocol, request, as_of_local)
    plan = plan_patient(
        protocol,
        PatientInputs(
            arm=choice[0],
            weight=request.weight,
            weight_measured_on=request.weight_measured_on or as_of_local,
            anchor=request.anchor,
            site=site.id,
            dose_per_kg=request.dose_per_kg,
            include_preparation=False,
        ),
        limits,
    )
    return EnrollmentDraft(protocol, request, eligibility, choice, plan)


def eligibility_values(enrollment_id: int, assessed: EligibilityAssessment) -> dict[str, Any]:
    inputs = assessed.inputs

    def lab(value: LabValue | None) -> tuple[Decimal | None, str | None]:
        return (value.value, value.unit) if value is not None else (None, None)

    creatinine, creatinine_unit = lab(inputs.creatinine)
    bilirubin, bilirubin_unit = lab(inputs.bilirubin)
    albumin, albumin_unit = lab(inputs.albumin)
    return {
        "enrollment_id": enrollment_id,
        "age_years": inputs.age_years,
        "creatinine_value": creatinine,
        "creatinine_unit": creatinine_unit,
        "bilirubin_value": bilirubin,
        "bilirubin_unit": bilirubin_unit,
        "inr_value": inputs.inr.value if inputs.inr is not None else None,
        "albumin_value": albumin,
        "albumin_unit": albumin_unit,
        "ascites": inputs.ascites,
        "encephalopathy": inputs.encephalopathy,
        "meld": assessed.meld,
        "child_pugh_points": assessed.child_pugh.points if assessed.child_pugh else None,
        "child_pugh_class": assessed.child_pugh.child_class if assessed.child_pugh else None,
    }


def audit_content(
    subject_draft: EnrollmentDraft,
    subject: Row[Any],
    enrollment: Row[Any],
    doses: list[Row[Any]],
    assessments: list[Row[Any]],
) -> dict[str, Any]:
    """The keyword arguments of the enrollment's audit entry (``audit_fields``): its content, the rows
    it wrote and their digest, computed from the rows as stored (``INSERT ... RETURNING``)."""
    request, plan = subject_draft.request, subject_draft.plan
    arm, source, number, cohort, position = subject_draft.choice
    tables = [
        ("subjects", [subject]),
        ("enrollments", [enrollment]),
        ("planned_administrations", doses),
        ("planned_assessments", assessments),
    ]
    stored = [(name, row) for name, rows in tables for row in rows]
    # The rows of a table come from one result: their columns are read once a table, not once a row.
    columns = {name: rows[0]._fields for name, rows in tables if rows}
    eligibility = subject_draft.eligibility
    return {
        "actor": request.actor,
        "at": request.as_of,
        "action": "enroll",
        "entity": "enrollments",
        "entity_id": enrollment.id,
        "protocol_id": subject_draft.protocol.id,
        "subject_code": request.subject_code,
        "reason": request.reason,
        "after": {
            "arm": arm,
            "arm_source": source,
            "randomization_number": number,
            "allocation_seed": subject_draft.protocol.allocation.seed if source == "randomization" else None,
            "cohort": cohort,
            "cohort_position": position,
            "weight": str(plan.weight),
            "weight_measured_on": subject_draft.measured_on.isoformat(),
            "anchor_date": plan.anchor_date.isoformat(),
            "site": plan.site,
            "dose_level": enrollment.dose_level,
            "planned_doses": len(doses),
            "planned_assessments": len(assessments),
            "eligibility": eligibility.model_dump(mode="json") if eligibility is not None else None,
        },
        "refs": [[name, int(row.id)] for name, row in stored],
        "row_hash": stored_rows_digest(
            [(name, dict(zip(columns[name], row, strict=True))) for name, row in stored]
        ),
        "signature": request.signature,
    }


def view(subject_draft: EnrollmentDraft, doses: int, assessments: int) -> Enrollment:
    """The enrollment as the caller sees it once stored."""
    request, plan = subject_draft.request, subject_draft.plan
    arm, source, number, cohort, position = subject_draft.choice
    return Enrollment(
        subject_code=request.subject_code,
        protocol_id=subject_draft.protocol.id,
        arm=arm,
        arm_source=source,
        randomization_number=number,
        cohort=cohort,
        cohort_position=position,
        site=plan.site,
        timezone=plan.timezone,
        anchor_date=plan.anchor_date,
        weight=plan.weight,
        weight_measured_on=subject_draft.measured_on,
        enrolled_at=_utc(request.as_of),
        planned_doses=doses,
        planned_assessments=assessments,
        warnings=list(plan.warnings),
        eligibility=subject_draft.eligibility,
    )
