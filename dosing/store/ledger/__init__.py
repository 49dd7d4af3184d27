"""Use cases of the dose ledger, each one transaction: enroll, record, skip, correct, reschedule, review.

Reads compute everything from rows that are only ever inserted: the effective window of a dose is its
planned window moved by its latest reschedule, the effective record is the last link of the chain of
corrections of its latest outcome, and the status comes from :func:`dosing.status.dose_status`.

One module per use case; this package re-exports what callers use (``ledger.enroll(...)``).
"""

from __future__ import annotations

from dosing.store.ledger.correction import correct
from dosing.store.ledger.enrollment import enroll, enroll_many
from dosing.store.ledger.escalation_cohorts import cohorts, review_cohort
from dosing.store.ledger.overdue_queries import late_candidates, missed_candidates
from dosing.store.ledger.overdue_rows import overdue
from dosing.store.ledger.reading import site_views, subject_protocol, subject_timezone, subject_view
from dosing.store.ledger.recording import record_given, record_skipped
from dosing.store.ledger.rescheduling import preview_reschedule, reschedule
from dosing.store.ledger.safety_hold import decide_hold, study_hold
from dosing.store.ledger.sweep import sweep_missed, sweep_overdue
from dosing.store.ledger.trail import audit_trail
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
    LateDose,
    MissedDose,
    OverdueRow,
    RescheduleChange,
    ReschedulePreview,
    RescheduleRequest,
    SkipRequest,
    SubjectView,
    SweepResult,
)

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
    "LateDose",
    "MissedDose",
    "OverdueRow",
    "RescheduleChange",
    "ReschedulePreview",
    "RescheduleRequest",
    "SkipRequest",
    "SubjectView",
    "SweepResult",
    "audit_trail",
    "cohorts",
    "correct",
    "decide_hold",
    "enroll",
    "enroll_many",
    "late_candidates",
    "missed_candidates",
    "overdue",
    "preview_reschedule",
    "record_given",
    "record_skipped",
    "reschedule",
    "review_cohort",
    "site_views",
    "study_hold",
    "subject_protocol",
    "subject_timezone",
    "subject_view",
    "sweep_missed",
    "sweep_overdue",
]
