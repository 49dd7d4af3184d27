"""Enrollment: subject, plan and audit entry in one transaction, drawing again after a lost race."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.exc import DataError, IntegrityError
from sqlmodel import Session, col

from dosing.catalog import get_protocol
from dosing.eligibility import EligibilityAssessment, EligibilityInputs, LabValue, assess, needed_inputs
from dosing.errors import DosingError
from dosing.plan import PatientInputs, check_study_takes_patients, plan_patient
from dosing.plausibility import check_weight_measured_on
from dosing.protocol import Protocol
from dosing.settings import site_limits
from dosing.store import tables as t
from dosing.store.chain import forget_head
from dosing.store.db import Store
from dosing.store.ledger._common import _id, _local_date, _one_writer_at_a_time
from dosing.store.ledger.arm_choice import _arm_choice
from dosing.store.ledger.audit_entry import _audit
from dosing.store.ledger.plan_rows import ALREADY_ENROLLED, _insert_enrollment, _insert_plan, _insert_subject
from dosing.store.models import Enrollment, EnrollmentRequest

#: Tries of an enrollment that lost a race for a randomization number or a cohort place.
ATTEMPTS = 5


def enroll(store: Store, request: EnrollmentRequest) -> Enrollment:
    """Persist subject, enrollment, planned doses and assessments, and the audit entry: all or nothing."""
    protocol = get_protocol(request.protocol_id)
    # A closed study refuses before anything is read or written.
    check_study_takes_patients(protocol)
    for attempt in range(ATTEMPTS):
        try:
            return _enroll_once(store, protocol, request)
        except IntegrityError as error:
            # The same subject code enrolled at the same moment: a clean refusal. Otherwise another
            # enrollment took the number or place this one read (enrollments of a protocol take turns,
            # so only a writer outside this module can cause it): draw again.
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
            if attempt == ATTEMPTS - 1:
                raise DosingError(
                    "subject",
                    "an enrollment is stored whole or not at all",
                    f"{request.subject_code} was not enrolled: other enrollments kept taking the same "
                    "randomization number or cohort place; nothing was stored, enroll again",
                ) from error
    raise AssertionError("unreachable")  # pragma: no cover


def _eligibility(protocol: Protocol, request: EnrollmentRequest) -> EligibilityAssessment | None:
    """The protocol's inclusion criteria checked on the request's inputs (all needed ones given)."""
    inputs = request.eligibility or EligibilityInputs()
    if request.eligibility is None and not needed_inputs(protocol.eligibility):
        return None
    return assess(protocol.eligibility, inputs)


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
    limits = site_limits()
    check_weight_measured_on(request.weight_measured_on or as_of_local, as_of_local, limits)
    eligibility = _eligibility(protocol, request)
    with store.transaction() as session:
        # The arm choice reads the randomization list and the cohorts, then writes: one at a time.
        _one_writer_at_a_time(session, f"dosing.enroll:{protocol.id}")
        return _enroll_in(session, protocol, request, eligibility)


def enroll_many(store: Store, requests: Sequence[EnrollmentRequest]) -> list[Enrollment | DosingError]:
    """Enroll ``requests`` in one store transaction, each subject in its own SAVEPOINT: all or nothing
    per subject (a refused subject leaves no row and no audit entry), one commit for the batch.

    Returns, in the order of ``requests``, the enrollment or the refusal of each. The rules are those
    of :func:`enroll` (the same code writes each subject); only the transaction is shared. A database
    error that is not a refusal of this subject (a lost connection) ends the batch: nothing is stored.
    """
    results: list[Enrollment | DosingError] = []
    locked: set[str] = set()
    with store.transaction() as session:
        for request in requests:
            try:
                protocol = get_protocol(request.protocol_id)
                check_study_takes_patients(protocol)
                site = protocol.site(request.site)
                as_of_local = _local_date(request.as_of, site.timezone)
                check_weight_measured_on(
                    request.weight_measured_on or as_of_local, as_of_local, site_limits()
                )
                eligibility = _eligibility(protocol, request)
            except DosingError as error:
                results.append(error)
                continue
            if protocol.id not in locked:
                # Held until the batch commits: the same turn-taking as one enrollment.
                _one_writer_at_a_time(session, f"dosing.enroll:{protocol.id}")
                locked.add(protocol.id)
            try:
                results.append(_enroll_saved(session, protocol, request, eligibility))
            except DosingError as error:
                results.append(error)
            except (IntegrityError, DataError) as error:
                # Inside the batch's transaction nobody else writes (writers take turns), so a
                # constraint or value refusal is this subject's own: reported, the batch goes on.
                # A lost connection (OperationalError) ends the batch instead: nothing is stored.
                results.append(_refusal(request, error))
    return results


def _enroll_saved(
    session: Session,
    protocol: Protocol,
    request: EnrollmentRequest,
    eligibility: EligibilityAssessment | None,
) -> Enrollment:
    """One subject of a batch in its own SAVEPOINT: on any error nothing of it stays."""
    try:
        with session.begin_nested():
            return _enroll_in(session, protocol, request, eligibility)
    except BaseException:
        # The SAVEPOINT is rolled back, the subject's audit entry with it: the next entry links to the
        # head that is stored, not to the entry this subject would have written.
        forget_head(session)
        raise


def _refusal(request: EnrollmentRequest, error: IntegrityError | DataError) -> DosingError:
    from dosing.store.database_errors import database_refusal

    refusal = database_refusal(error)  # never the SQL parameters in a report
    why = str(refusal) if refusal else "the database refused the row"
    return DosingError(
        "subject",
        "an enrollment is stored whole or not at all",
        f"{request.subject_code} was not enrolled: {why}; nothing was stored for it",
    )


def _enroll_in(
    session: Session,
    protocol: Protocol,
    request: EnrollmentRequest,
    eligibility: EligibilityAssessment | None,
) -> Enrollment:
    """The subject's rows and audit entry written in ``session`` (the caller holds the protocol's
    enrollment lock and owns the transaction)."""
    site = protocol.site(request.site)
    as_of_local = _local_date(request.as_of, site.timezone)
    anchor = request.anchor
    limits = site_limits()
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
        limits,
    )
    subject = _insert_subject(session, request)
    measured_on = request.weight_measured_on or as_of_local
    enrollment = _insert_enrollment(session, subject, request, plan, choice, measured_on)
    doses, assessments = _insert_plan(session, protocol, subject, enrollment, plan)
    if eligibility is not None:
        _insert_eligibility(session, enrollment, eligibility)
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
            "eligibility": eligibility.model_dump(mode="json") if eligibility is not None else None,
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
        eligibility=eligibility,
    )


def _insert_eligibility(session: Session, enrollment: t.Enrollment, assessed: EligibilityAssessment) -> None:
    inputs = assessed.inputs

    def lab(value: LabValue | None) -> tuple[Decimal | None, str | None]:
        return (value.value, value.unit) if value is not None else (None, None)

    creatinine, creatinine_unit = lab(inputs.creatinine)
    bilirubin, bilirubin_unit = lab(inputs.bilirubin)
    albumin, albumin_unit = lab(inputs.albumin)
    session.add(
        t.EnrollmentEligibility(
            enrollment_id=_id(enrollment),
            age_years=inputs.age_years,
            creatinine_value=creatinine,
            creatinine_unit=creatinine_unit,
            bilirubin_value=bilirubin,
            bilirubin_unit=bilirubin_unit,
            inr_value=inputs.inr.value if inputs.inr is not None else None,
            albumin_value=albumin,
            albumin_unit=albumin_unit,
            ascites=inputs.ascites,
            encephalopathy=inputs.encephalopathy,
            meld=assessed.meld,
            child_pugh_points=assessed.child_pugh.points if assessed.child_pugh else None,
            child_pugh_class=assessed.child_pugh.child_class if assessed.child_pugh else None,
        )
    )
    session.flush()
