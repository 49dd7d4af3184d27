"""Table rows of the dose ledger. Rows are only ever inserted: nothing is updated in place or deleted.

Table models do not validate (SQLModel), so the ledger validates requests with pydantic models first
and builds rows from validated values only. Exact quantities are stored as decimal text (``4.96E+7``)
because SQLite has no exact decimal type; they are never compared in SQL.

Why the ledger cannot record a dose twice, even with two nurses pressing enter at the same moment:
every outcome of a planned dose (given or skipped) takes the next ``slot`` of that dose, and
``(planned_id, slot)`` is unique; a correction names the record it corrects and ``corrects_id`` is unique,
so a record is corrected once and later corrections form a chain. Reschedules and corrections leave
``slot`` empty (NULLs never collide in a unique constraint, on SQLite or PostgreSQL).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Column, Index, String, UniqueConstraint, func, text
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


class DecimalText(TypeDecorator[Decimal]):
    """An exact decimal stored as text, on every database alike."""

    impl = String(40)
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Any) -> str | None:
        return None if value is None else str(value)

    def process_result_value(self, value: str | None, dialect: Any) -> Decimal | None:
        return None if value is None else Decimal(value)


#: The partial indexes of each table, by name, with their WHERE clause (the same on both databases).
PARTIAL_INDEXES = {
    "administration_events": {
        "ix_administration_events_late": "local_date > window_latest",
        "ix_administration_events_changes": "kind IN ('correction', 'reschedule')",
    },
}


def _json() -> Any:
    return Field(default=None, sa_column=Column(JSON, nullable=True))


class Subject(SQLModel, table=True):
    __tablename__ = "subjects"
    # E-003 and e-003 are one patient: codes are unique without regard to case.
    __table_args__ = (Index("uq_subjects_code_ci", func.lower(text("code")), unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=64, unique=True, index=True)
    protocol_id: str = Field(max_length=64, index=True)
    created_at: datetime


class Enrollment(SQLModel, table=True):
    __tablename__ = "enrollments"
    __table_args__ = (
        # Randomization numbers are handed out once per study: a second enrollment racing for the
        # same number fails here, not in a count that two processes both read.
        UniqueConstraint("protocol_id", "randomization_number", name="uq_enrollments_randomization"),
        # Escalation cohorts cannot be overfilled by concurrent enrollments.
        UniqueConstraint("protocol_id", "cohort", "cohort_position", name="uq_enrollments_cohort_position"),
    )

    id: int | None = Field(default=None, primary_key=True)
    subject_id: int = Field(foreign_key="subjects.id", unique=True)
    protocol_id: str = Field(max_length=64)
    arm: str = Field(max_length=64)
    arm_role: str = Field(max_length=16)
    #: The dose level as written ("8 x10^5 cells/kg"); None for fixed or split doses and controls.
    dose_level: str | None = Field(default=None, max_length=64)
    #: Escalation cohort (1-based, in escalation.order; len(order) + 1 is the expansion); else None.
    cohort: int | None = None
    cohort_position: int | None = None
    randomization_number: int | None = None
    allocation_overridden: bool = False
    weight_kg: Decimal = Field(sa_type=DecimalText)
    weight_measured_on: date | None = None
    anchor_date: date
    site: str = Field(max_length=64, index=True)
    timezone: str = Field(max_length=64)
    enrolled_at: datetime
    enrolled_by: str = Field(max_length=128)


class EnrollmentEligibility(SQLModel, table=True):
    """The inclusion inputs typed at enrollment and the scores computed from them (one row per
    enrollment, written in the enrollment's transaction; insert-only like the rest of the ledger)."""

    __tablename__ = "enrollment_eligibility"

    enrollment_id: int = Field(foreign_key="enrollments.id", primary_key=True)
    age_years: int | None = None
    creatinine_value: Decimal | None = Field(default=None, sa_type=DecimalText)
    creatinine_unit: str | None = Field(default=None, max_length=16)
    bilirubin_value: Decimal | None = Field(default=None, sa_type=DecimalText)
    bilirubin_unit: str | None = Field(default=None, max_length=16)
    inr_value: Decimal | None = Field(default=None, sa_type=DecimalText)
    albumin_value: Decimal | None = Field(default=None, sa_type=DecimalText)
    albumin_unit: str | None = Field(default=None, max_length=16)
    ascites: str | None = Field(default=None, max_length=32)
    encephalopathy: str | None = Field(default=None, max_length=32)
    meld: Decimal | None = Field(default=None, sa_type=DecimalText)
    child_pugh_points: int | None = None
    child_pugh_class: str | None = Field(default=None, max_length=1)


class PlannedAdministration(SQLModel, table=True):
    __tablename__ = "planned_administrations"
    __table_args__ = (
        UniqueConstraint("enrollment_id", "sequence", name="uq_planned_administrations_sequence"),
        # The overdue sweep walks planned doses by window end (rowid rides along in the index).
        Index("ix_planned_administrations_latest", "latest"),
    )

    id: int | None = Field(default=None, primary_key=True)
    enrollment_id: int = Field(foreign_key="enrollments.id")
    subject_id: int = Field(foreign_key="subjects.id", index=True)
    sequence: int
    label: str = Field(max_length=200)
    study_day: str = Field(max_length=32)
    target_date: date
    earliest: date
    latest: date
    planned_start: datetime
    intervention: str = Field(max_length=16)
    dose_per_kg: str | None = Field(default=None, max_length=64)
    ordered_dose_value: Decimal | None = Field(default=None, sa_type=DecimalText)
    ordered_dose_unit: str | None = Field(default=None, max_length=16)
    final_volume_ml: Decimal | None = Field(default=None, sa_type=DecimalText)


class PlannedAssessment(SQLModel, table=True):
    __tablename__ = "planned_assessments"
    __table_args__ = (UniqueConstraint("enrollment_id", "key", name="uq_planned_assessments_key"),)

    id: int | None = Field(default=None, primary_key=True)
    enrollment_id: int = Field(foreign_key="enrollments.id")
    subject_id: int = Field(foreign_key="subjects.id", index=True)
    #: Stable within the subject (calendars build UIDs from it).
    key: str = Field(max_length=160)
    name: str = Field(max_length=200)
    due: datetime
    due_date: date
    after: str = Field(max_length=32)
    offset_months: int = 0
    offset_days: int = 0
    offset_hours: int = 0
    offset_text: str = Field(max_length=64)
    measures: list[str] | None = _json()
    source: str = Field(max_length=500)
    administration_sequence: int | None = None


class AdministrationEvent(SQLModel, table=True):
    """What happened to a planned dose: given, skipped, corrected or rescheduled. Insert-only."""

    __tablename__ = "administration_events"
    __table_args__ = (
        UniqueConstraint("planned_id", "slot", name="uq_administration_events_outcome_slot"),
        UniqueConstraint("corrects_id", name="uq_administration_events_corrects"),
        # Outcomes recorded after the window that was in effect: the overdue sweep finds late doses
        # through this small partial index instead of reading every administration.
        # (Their PostgreSQL WHERE is the same: see declare_postgresql_options.)
        *(
            Index(name, "planned_id", sqlite_where=text(where))
            for name, where in PARTIAL_INDEXES["administration_events"].items()
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    planned_id: int = Field(foreign_key="planned_administrations.id")
    subject_id: int = Field(foreign_key="subjects.id", index=True)
    #: given | skipped | correction | reschedule
    kind: str = Field(max_length=16)
    #: 0 for the first outcome of a dose, 1 after that one was voided by a correction, ...; None otherwise.
    slot: int | None = None
    corrects_id: int | None = Field(default=None, foreign_key="administration_events.id")
    #: For a correction: what the corrected record becomes (given | skipped | void).
    corrected_kind: str | None = Field(default=None, max_length=16)
    started_at: datetime | None = None
    ended_at: datetime | None = None
    #: Site-local day of the start (given) or of the decision (skipped).
    local_date: date | None = None
    #: The window's last day in effect when the record was written (for the late-dose index).
    window_latest: date | None = None
    amount_value: Decimal | None = Field(default=None, sa_type=DecimalText)
    amount_unit: str | None = Field(default=None, max_length=16)
    volume_ml: Decimal | None = Field(default=None, sa_type=DecimalText)
    partial: bool = False
    lot: str | None = Field(default=None, max_length=64)
    din: str | None = Field(default=None, max_length=32)
    route: str | None = Field(default=None, max_length=32)
    given_by: str | None = Field(default=None, max_length=128)
    infusion_reaction: str | None = Field(default=None, max_length=500)
    notes: str | None = Field(default=None, max_length=2000)
    reason: str | None = Field(default=None, max_length=500)
    #: For a reschedule: the dose's new target and window.
    new_target: date | None = None
    new_earliest: date | None = None
    new_latest: date | None = None
    recorded_at: datetime
    recorded_by: str = Field(max_length=128)


class CohortReview(SQLModel, table=True):
    """A safety review of one dose-escalation cohort (the latest one for a cohort counts)."""

    __tablename__ = "cohort_reviews"

    id: int | None = Field(default=None, primary_key=True)
    protocol_id: str = Field(max_length=64, index=True)
    cohort: int
    arm: str = Field(max_length=64)
    safe: bool
    reviewed_on: date
    notes: str | None = Field(default=None, max_length=2000)
    recorded_at: datetime
    recorded_by: str = Field(max_length=128)


class AuditEntry(SQLModel, table=True):
    """Who did what, when and why, with the state before and after. Insert-only."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_subject_at", "subject_code", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(index=True)
    actor: str = Field(max_length=128)
    action: str = Field(max_length=64, index=True)
    protocol_id: str | None = Field(default=None, max_length=64)
    subject_code: str | None = Field(default=None, max_length=64)
    entity: str = Field(max_length=64)
    entity_id: int | None = None
    #: The request's reason or notes: as long as the longest free text a request may carry.
    reason: str | None = Field(default=None, max_length=2000)
    before: dict[str, Any] | None = _json()
    after: dict[str, Any] | None = _json()
    #: For the missed-dose sweep: the planned dose this entry reports (each is reported once).
    missed_planned_id: int | None = Field(default=None, unique=True)
    #: For the sweep: the planned dose given after its window that this entry reports (once each). A
    #: unique index, not a constraint, so that the column is added without rebuilding the table.
    late_planned_id: int | None = Field(default=None, unique=True, index=True)
    #: The ledger rows this change wrote (``[[table, id], ...]``) and their digest (see dosing.store.chain).
    row_refs: list[Any] | None = _json()
    row_hash: str | None = Field(default=None, max_length=64)
    #: The electronic signature given for this change, if it needed one.
    signature_id: int | None = Field(default=None, index=True)
    #: The hash chain: the previous entry's hash (unique: the chain cannot fork) and this entry's own.
    prev_hash: str | None = Field(default=None, max_length=64, unique=True, index=True)
    entry_hash: str | None = Field(default=None, max_length=64)


class Account(SQLModel, table=True):
    """A person (or a named service) who may use the system. Never deleted; disabling keeps the row.

    Not a ledger table: the lockout counters and the password hash change in place, and every change
    is written to the audit log.
    """

    __tablename__ = "accounts"

    id: int | None = Field(default=None, primary_key=True)
    #: Lower case, unique: the ID component of a signature.
    username: str = Field(max_length=64, unique=True, index=True)
    #: The printed name on signatures (21 CFR 11.50).
    full_name: str = Field(max_length=128)
    #: Comma-separated roles (nurse, pharmacist, coordinator, investigator, data-manager, admin, service).
    roles: str = Field(max_length=256)
    #: person | service (a service account has no password and cannot log in).
    kind: str = Field(default="person", max_length=16)
    password_hash: str | None = Field(default=None, max_length=256)
    disabled: bool = False
    failed_attempts: int = 0
    locked: bool = False
    password_changed_at: datetime | None = None
    created_at: datetime
    created_by: str = Field(max_length=64)


class LoginSession(SQLModel, table=True):
    """An authenticated session: the CLI keeps its token in a file only its owner can read, the web
    application in a cookie. Only a hash of the token is stored."""

    __tablename__ = "login_sessions"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    account_id: int = Field(foreign_key="accounts.id", index=True)
    #: cli | web
    client: str = Field(max_length=16)
    started_at: datetime
    last_seen_at: datetime
    ended_at: datetime | None = None
    #: logout | idle timeout | disabled | password reset
    ended_reason: str | None = Field(default=None, max_length=32)


class Signature(SQLModel, table=True):
    """An electronic signature (21 CFR 11.50, 11.70): who (printed name), when (server clock), what it
    means, and a hash of the signed record's content, so it cannot be moved to another record. Insert-only.
    """

    __tablename__ = "signatures"

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="accounts.id", index=True)
    username: str = Field(max_length=64)
    printed_name: str = Field(max_length=128)
    #: "administered by", "skipped by", "corrected by", "reviewed: safe", ...
    meaning: str = Field(max_length=64)
    signed_at: datetime
    #: The signed rows (``[[table, id], ...]``) and their digest at signing.
    record_refs: list[Any] = Field(sa_column=Column(JSON, nullable=False))
    record_hash: str = Field(max_length=64)


TABLES = [
    Subject,
    Enrollment,
    EnrollmentEligibility,
    PlannedAdministration,
    PlannedAssessment,
    AdministrationEvent,
    CohortReview,
    AuditEntry,
    Account,
    LoginSession,
    Signature,
]


class SafetyDecision(SQLModel, table=True):
    """An investigator's decision on a safety hold: resume (at a named level) or terminate. Insert-only.

    It names the unsafe review whose hold it lifts; ``lifts_review_id`` is unique, so two decisions
    taken at the same moment on the same hold cannot both be written.
    """

    __tablename__ = "safety_decisions"

    id: int | None = Field(default=None, primary_key=True)
    protocol_id: str = Field(max_length=64, index=True)
    lifts_review_id: int = Field(foreign_key="cohort_reviews.id", unique=True)
    #: resume | terminate
    action: str = Field(max_length=16)
    level: str | None = Field(default=None, max_length=64)
    reason: str = Field(max_length=500)
    decided_on: date
    recorded_at: datetime
    recorded_by: str = Field(max_length=128)


TABLES.append(SafetyDecision)


def declare_postgresql_options() -> None:
    """Give the partial indexes their PostgreSQL WHERE clause (idempotent; called by a PostgreSQL store).

    Declared where the index is, ``postgresql_where`` would make SQLAlchemy load its PostgreSQL dialect
    with every import of this module: 35-50 ms of each SQLite command (issue 15).
    """
    for table_name, indexes in PARTIAL_INDEXES.items():
        for index in SQLModel.metadata.tables[table_name].indexes:
            where = indexes.get(str(index.name))
            if where is not None:
                index.dialect_options["postgresql"]["where"] = text(where)
