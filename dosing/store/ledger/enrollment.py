"""Enrollment: subject, plan and audit entry in one transaction, drawing again after a lost race."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from dosing.catalog import get_protocol
from dosing.errors import DosingError
from dosing.plan import PatientInputs, check_study_takes_patients, plan_patient
from dosing.protocol import Protocol
from dosing.store import tables as t
from dosing.store.db import Store
from dosing.store.ledger._common import _id, _local_date
from dosing.store.ledger.arm_choice import _arm_choice
from dosing.store.ledger.audit_entry import _audit
from dosing.store.ledger.plan_rows import ALREADY_ENROLLED, _insert_enrollment, _insert_plan, _insert_subject
from dosing.store.models import Enrollment, EnrollmentRequest


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
                    select(col(t.Subject.id)).where(
                        func.lower(col(t.Subject.code)) == request.subject_code.lower()
                    )
                ).first()
            if taken is not None:
                raise DosingError(
                    "subject",
                    ALREADY_ENROLLED,
                    f"{request.subject_code} is already enrolled",
                ) from error
            if attempt == 2:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _plan_refs(session: Session, enrollment_id: int) -> list[list[object]]:
    """The planned doses and assessments written for an enrollment, as audit row references."""
    refs: list[list[object]] = []
    for table in (t.PlannedAdministration, t.PlannedAssessment):
        ids = session.scalars(
            select(col(table.id)).where(col(table.enrollment_id) == enrollment_id).order_by(col(table.id))
        )
        name: str = table.__tablename__
        refs.extend([name, row_id] for row_id in ids)
    return refs


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
                include_preparation=False,
            ),
        )
        subject = _insert_subject(session, request)
        measured_on = request.weight_measured_on or as_of_local
        enrollment = _insert_enrollment(session, subject, request, plan, choice, measured_on)
        doses, assessments = _insert_plan(session, protocol, subject, enrollment, plan)
        refs = _plan_refs(session, _id(enrollment))
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
            rows=[subject, enrollment],
            refs=refs,
            signature=request.signature,
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
