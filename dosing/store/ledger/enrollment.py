"""Enrollment: subject, plan and audit entry in one transaction, drawing again after a lost race."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, insert, select
from sqlalchemy.exc import DataError, IntegrityError
from sqlmodel import Session, col

from dosing.catalog import get_protocol
from dosing.eligibility import EligibilityAssessment, EligibilityInputs, assess, needed_inputs
from dosing.errors import DosingError
from dosing.plan import check_study_takes_patients
from dosing.plausibility import SiteLimits, check_weight_measured_on
from dosing.protocol import Protocol
from dosing.settings import site_limits
from dosing.store import tables as t
from dosing.store.chain import forget_head
from dosing.store.db import Store
from dosing.store.ledger import enrollment_batch
from dosing.store.ledger._common import _local_date, _one_writer_at_a_time
from dosing.store.ledger.allocation_state import AllocationState
from dosing.store.ledger.audit_entry import audit_fields as _audit
from dosing.store.ledger.enrollment_batch import Candidate
from dosing.store.ledger.enrollment_draft import audit_content, draft, eligibility_values, view
from dosing.store.ledger.plan_rows import (
    ALREADY_ENROLLED,
    _insert_enrollment,
    _insert_plan,
    _insert_subject,
    table_of,
)
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


def _enroll_once(store: Store, protocol: Protocol, request: EnrollmentRequest) -> Enrollment:
    site = protocol.site(request.site)
    as_of_local = _local_date(request.as_of, site.timezone)
    limits = site_limits()
    check_weight_measured_on(request.weight_measured_on or as_of_local, as_of_local, limits)
    eligibility = _eligibility(protocol, request)
    with store.transaction() as session:
        # The arm choice reads the randomization list and the cohorts, then writes: one at a time.
        _one_writer_at_a_time(session, f"dosing.enroll:{protocol.id}")
        return _enroll_in(session, protocol, request, eligibility, AllocationState(session), limits)


def enroll_many(store: Store, requests: Sequence[EnrollmentRequest]) -> list[Enrollment | DosingError]:
    """Enroll ``requests`` in one store transaction: all or nothing per subject (a refused subject
    leaves no row and no audit entry), one commit for the batch.

    Returns, in the order of ``requests``, the enrollment or the refusal of each. The rules are those
    of :func:`enroll` (the same drafts and rows); the subjects are written per table
    (:mod:`dosing.store.ledger.enrollment_batch`). If the database still refuses a row there, the
    batch is enrolled again subject by subject, each in its own SAVEPOINT, which reports the subject
    refused. A database error that is not a refusal of a subject (a lost connection) ends the batch:
    nothing is stored.
    """
    results: list[Enrollment | DosingError | None] = []
    candidates: list[tuple[int, Candidate]] = []
    limits = site_limits()
    with store.transaction() as session:
        locked: set[str] = set()
        for request in requests:
            try:
                protocol = get_protocol(request.protocol_id)
                check_study_takes_patients(protocol)
                site = protocol.site(request.site)
                as_of_local = _local_date(request.as_of, site.timezone)
                check_weight_measured_on(request.weight_measured_on or as_of_local, as_of_local, limits)
                eligibility = _eligibility(protocol, request)
            except DosingError as error:
                results.append(error)
                continue
            if protocol.id not in locked:
                # Held until the batch commits: the same turn-taking as one enrollment.
                _one_writer_at_a_time(session, f"dosing.enroll:{protocol.id}")
                locked.add(protocol.id)
            candidates.append((len(results), (protocol, request, eligibility)))
            results.append(None)
        written = _enroll_batch(session, [candidate for _, candidate in candidates], limits)
        for (position, _), outcome in zip(candidates, written, strict=True):
            results[position] = outcome
    return [result for result in results if result is not None]


def _enroll_batch(
    session: Session, candidates: Sequence[Candidate], limits: SiteLimits
) -> list[Enrollment | DosingError]:
    """The subjects' rows written per table, or subject by subject when the database refuses one."""
    if candidates and all(request.signature is None for _, request, _ in candidates):
        planned = enrollment_batch.drafts(session, candidates, limits)
        ready = [item for item in planned if not isinstance(item, DosingError)]
        stored = enrollment_batch.write(session, ready, audit=_audit) if ready else []
        if stored is not None:
            views = iter(stored)
            return [item if isinstance(item, DosingError) else next(views) for item in planned]
    allocation = AllocationState(session)
    results: list[Enrollment | DosingError] = []
    for protocol, request, eligibility in candidates:
        try:
            results.append(_enroll_saved(session, protocol, request, eligibility, allocation, limits))
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
    allocation: AllocationState,
    limits: SiteLimits,
) -> Enrollment:
    """One subject of a batch in its own SAVEPOINT: on any error nothing of it stays."""
    try:
        with session.begin_nested():
            return _enroll_in(session, protocol, request, eligibility, allocation, limits)
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
    allocation: AllocationState,
    limits: SiteLimits,
) -> Enrollment:
    """The subject's rows and audit entry written in ``session`` (the caller holds the protocol's
    enrollment lock and owns the transaction); ``allocation`` advances once they are written."""
    subject_draft = draft(allocation, protocol, request, eligibility, limits)
    subject = _insert_subject(session, request)
    enrollment = _insert_enrollment(
        session, subject, request, subject_draft.plan, subject_draft.choice, subject_draft.measured_on
    )
    doses, assessments = _insert_plan(session, protocol, subject, enrollment, subject_draft.plan)
    connection = session.connection()
    if eligibility is not None:
        eligibility_row = eligibility_values(enrollment.id, eligibility)
        connection.execute(insert(table_of("enrollment_eligibility")), [eligibility_row])
    entry = _audit(session, **audit_content(subject_draft, subject, enrollment, doses, assessments))
    connection.execute(insert(table_of("audit_log")), [entry])
    allocation.take(protocol, request.subject_code, subject_draft.choice)
    return view(subject_draft, len(doses), len(assessments))
