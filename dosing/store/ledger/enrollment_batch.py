"""A batch of enrollments written per table: every subject allocated, planned and checked in memory
first, then one INSERT (executemany, ``RETURNING`` the stored rows) per table and one for the audit
entries, whose digests and chain links come from the returned rows.

The rows are those one enrollment writes (:mod:`dosing.store.ledger.enrollment_draft` builds both);
only the round trips differ: a handful per batch instead of a dozen per subject. The batch is one
SAVEPOINT: when the database still refuses a row (a constraint the rules did not foresee), nothing of
the batch stays and the caller enrolls it again subject by subject, which names the subject refused.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.exc import DataError, IntegrityError
from sqlmodel import Session

from dosing.eligibility import EligibilityAssessment
from dosing.errors import DosingError
from dosing.plausibility import SiteLimits
from dosing.protocol import Protocol
from dosing.store.chain import forget_head
from dosing.store.ledger.allocation_state import AllocationState
from dosing.store.ledger.enrollment_draft import (
    EnrollmentDraft,
    audit_content,
    draft,
    eligibility_values,
    view,
)
from dosing.store.ledger.plan_rows import (
    ADMINISTRATION_KEY,
    ASSESSMENT_KEY,
    ENROLLMENT_KEY,
    SUBJECT_KEY,
    administration_values,
    already_enrolled,
    assessment_values,
    enrolled_codes,
    enrollment_values,
    insert_rows,
    inserted,
    subject_values,
)
from dosing.store.models import Enrollment

#: A subject of a batch, checked and ready to allocate: its protocol, request and eligibility.
Candidate = tuple[Protocol, Any, EligibilityAssessment | None]


def drafts(
    session: Session, candidates: Sequence[Candidate], limits: SiteLimits
) -> list[EnrollmentDraft | DosingError]:
    """Allocate and plan ``candidates`` in order, as if each were enrolled after the one before it
    (the caller holds their protocols' enrollment locks): the draft or the refusal of each."""
    allocation = AllocationState(session)
    stored = enrolled_codes(session, [request.subject_code for _, request, _ in candidates])
    results: list[EnrollmentDraft | DosingError] = []
    for protocol, request, eligibility in candidates:
        try:
            subject_draft = draft(allocation, protocol, request, eligibility, limits)
            exists = stored.get(request.subject_code.lower())
            if exists is not None:
                raise already_enrolled(request.subject_code, exists)
        except DosingError as error:
            results.append(error)
            continue
        stored[request.subject_code.lower()] = request.subject_code
        allocation.take(protocol, request.subject_code, subject_draft.choice)
        results.append(subject_draft)
    return results


#: Builds an audit entry's columns linked into the chain (``audit_fields``); the enrollment module
#: passes its own name for it, so that the one and the many enrollments share it.
AuditFields = Callable[..., dict[str, Any]]


def write(
    session: Session, batch: Sequence[EnrollmentDraft], *, audit: AuditFields
) -> list[Enrollment] | None:
    """Write ``batch`` in one SAVEPOINT, in order; None (nothing written) if the database refused a row."""
    try:
        with session.begin_nested():
            return _write(session, batch, audit)
    except (IntegrityError, DataError):
        # The audit entries built for the batch are gone with it: the head is read again.
        forget_head(session)
        return None
    except BaseException:
        forget_head(session)
        raise


def _write(session: Session, batch: Sequence[EnrollmentDraft], audit: AuditFields) -> list[Enrollment]:
    subjects = inserted(session, "subjects", [subject_values(item.request) for item in batch], SUBJECT_KEY)
    enrollments = inserted(
        session,
        "enrollments",
        [
            enrollment_values(subject.id, item.request, item.plan, item.choice, item.measured_on)
            for item, subject in zip(batch, subjects, strict=True)
        ],
        ENROLLMENT_KEY,
    )
    dose_values: list[dict[str, Any]] = []
    assessment_rows: list[dict[str, Any]] = []
    counts: list[tuple[int, int]] = []
    for item, subject, enrollment in zip(batch, subjects, enrollments, strict=True):
        doses_of = administration_values(item.protocol, subject.id, enrollment.id, item.plan)
        assessments_of = assessment_values(item.protocol, subject.id, enrollment.id, item.plan)
        dose_values.extend(doses_of)
        assessment_rows.extend(assessments_of)
        counts.append((len(doses_of), len(assessments_of)))
    doses = inserted(session, "planned_administrations", dose_values, ADMINISTRATION_KEY)
    assessments = inserted(session, "planned_assessments", assessment_rows, ASSESSMENT_KEY)
    eligibility = [
        eligibility_values(enrollment.id, item.eligibility)
        for item, enrollment in zip(batch, enrollments, strict=True)
        if item.eligibility is not None
    ]
    connection = session.connection()
    insert_rows(connection, "enrollment_eligibility", eligibility)
    entries = []
    views = []
    dose_at = assessment_at = 0
    for item, subject, enrollment, (dose_count, assessment_count) in zip(
        batch, subjects, enrollments, counts, strict=True
    ):
        own_doses = doses[dose_at : dose_at + dose_count]
        own_assessments = assessments[assessment_at : assessment_at + assessment_count]
        dose_at += dose_count
        assessment_at += assessment_count
        # Built in insertion order: each entry links to the one before it.
        entries.append(audit(session, **audit_content(item, subject, enrollment, own_doses, own_assessments)))
        views.append(view(item, dose_count, assessment_count))
    insert_rows(connection, "audit_log", entries)
    return views
