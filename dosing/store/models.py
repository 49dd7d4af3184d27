"""Requests into the ledger and views out of it: validated pydantic models, never table rows.

Table models do not validate (SQLModel), so every use case takes one of these requests, validated on
construction, and every read returns views whose quantities carry their units.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from dosing.course_total import CourseTotal
from dosing.eligibility import EligibilityAssessment, EligibilityInputs
from dosing.errors import DoseWarning, DosingError
from dosing.free_text import Code, Description, Note, PersonName, Reason, ShortCode
from dosing.protocol import ReschedulePolicy
from dosing.status import DoseStatus
from dosing.units import Amount, DosePerKg, Volume, Weight

SUBJECT_CODE = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"

#: No protocol plans anywhere near this many doses; a larger number is a typo (and overflows a column).
MAX_DOSE_NUMBER = 999


def _dose_number(value: int) -> int:
    if not 1 <= value <= MAX_DOSE_NUMBER:
        raise DosingError(
            "dose", f"a dose number of the plan (1 to {MAX_DOSE_NUMBER})", f"{value} is not a dose number"
        )
    return value


#: The dose number people type (``--dose 2``): named "dose" in every refusal, as the option is.
DoseNumber = Annotated[int, AfterValidator(_dose_number)]


class SignatureIntent(BaseModel):
    """An electronic signature the application layer has authenticated (the signer re-entered the
    password): who signs, the printed name and what the signature means. The ledger links it to the
    rows it signs, in the same transaction."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    account_id: int
    username: str = Field(min_length=1, max_length=64)
    printed_name: str = Field(min_length=1, max_length=128)
    meaning: str = Field(min_length=1, max_length=64)


class _Form(BaseModel):
    """What a person types for a change: never who they are or what time it is."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    @model_validator(mode="after")
    def _plausible_dates(self) -> _Form:
        """Every date of a form (and of its request) lies in the site's years, whatever built it."""
        from dosing.plausibility import check_year
        from dosing.settings import site_limits

        limits = site_limits()
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, date | datetime):
                check_year(value, name.replace("_", " "), limits)
        return self


class _Stamp(BaseModel):
    """What the system adds to a form: the authenticated actor, the server clock, the signature."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: The authenticated account's username (from the session, never from input).
    actor: PersonName = Field(min_length=1)
    #: The server clock when the change is recorded (never from input).
    as_of: AwareDatetime
    signature: SignatureIntent | None = None


def _text(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


class EnrollmentForm(_Form):
    protocol_id: Code
    subject_code: str = Field(pattern=SUBJECT_CODE)
    #: None: from the randomization list (randomized studies), the open cohort (escalation) or the only arm.
    arm: Code | None = None
    weight: Weight
    weight_measured_on: date | None = None
    anchor: date | AwareDatetime
    site: Code | None = None
    dose_per_kg: DosePerKg | None = None
    #: The inputs of the protocol's inclusion criteria (age, MELD or Child-Pugh labs); required when
    #: the protocol states those criteria, stored with the enrollment with the computed scores.
    eligibility: EligibilityInputs | None = None
    #: Give an arm on a randomized study anyway (audited, needs a reason).
    override_allocation: bool = False
    reason: Reason | None = None

    _strip = field_validator("reason")(_text)


class GivenForm(_Form):
    subject_code: Code
    sequence: DoseNumber
    started_at: AwareDatetime
    ended_at: AwareDatetime | None = None
    #: Default: the ordered dose (a partial dose states what was given).
    amount: Amount | None = None
    volume: Volume | None = None
    partial: bool = False
    lot: Code | None = None
    din: ShortCode | None = None
    route: ShortCode | None = None
    given_by: PersonName | None = None
    infusion_reaction: Description | None = None
    notes: Note | None = None
    #: Why a dose given well before now is entered only now (a late entry, GCP): required then.
    late_reason: Reason | None = None


class SkipForm(_Form):
    subject_code: Code
    sequence: DoseNumber
    reason: Reason = Field(min_length=1)
    #: When the decision not to give was taken (default: as_of).
    decided_at: AwareDatetime | None = None

    @field_validator("reason")
    @classmethod
    def _reason_given(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a skipped dose needs a reason")
        return value.strip()


class CorrectionForm(_Form):
    """A new record that replaces the effective record of a dose; fields left out are carried over."""

    subject_code: Code
    sequence: DoseNumber
    reason: Reason = Field(min_length=1)
    #: What the record becomes: still given (with corrected details), skipped, or void (entered in error).
    becomes: Literal["given", "skipped", "void"] = "given"
    #: The record being corrected, when the caller wants to be sure it is still the effective one.
    record_id: int | None = None
    started_at: AwareDatetime | None = None
    ended_at: AwareDatetime | None = None
    amount: Amount | None = None
    volume: Volume | None = None
    partial: bool | None = None
    lot: Code | None = None
    din: ShortCode | None = None
    route: ShortCode | None = None
    given_by: PersonName | None = None
    infusion_reaction: Description | None = None
    notes: Note | None = None
    skip_reason: Reason | None = None


class RescheduleForm(_Form):
    subject_code: Code
    sequence: DoseNumber
    #: The day the delayed dose was (or will be) given; default: its recorded administration.
    given_on: date | None = None
    #: Default: the protocol's policy; another one needs a reason.
    policy: ReschedulePolicy | None = None
    reason: Reason | None = None


class CohortReviewForm(_Form):
    protocol_id: Code
    cohort: int = Field(ge=1, le=MAX_DOSE_NUMBER)
    safe: bool
    reviewed_on: date
    notes: Note | None = None
    #: Needed (and audited) for a review before the safety window ended, or one superseding another.
    reason: Reason | None = None

    _strip = field_validator("reason")(_text)


class SafetyDecisionForm(_Form):
    """An investigator's decision on a study's safety hold."""

    protocol_id: str
    action: Literal["resume", "terminate"]
    #: For resume: the dose level the study goes on at.
    level: str | None = None
    reason: Reason = Field(min_length=1)
    decided_on: date

    @field_validator("reason")
    @classmethod
    def _reason_given(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a decision on a safety hold is audited with its reason")
        return value.strip()


class EnrollmentRequest(EnrollmentForm, _Stamp):
    pass


class GivenRequest(GivenForm, _Stamp):
    pass


class SkipRequest(SkipForm, _Stamp):
    pass


class CorrectionRequest(CorrectionForm, _Stamp):
    pass


class RescheduleRequest(RescheduleForm, _Stamp):
    pass


class CohortReviewRequest(CohortReviewForm, _Stamp):
    pass


class SafetyDecisionRequest(SafetyDecisionForm, _Stamp):
    pass


# --- views ------------------------------------------------------------------------------------------


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class Enrollment(_View):
    subject_code: str
    protocol_id: str
    arm: str
    #: randomization | override | escalation | given | only arm
    arm_source: str
    randomization_number: int | None
    cohort: int | None
    cohort_position: int | None
    site: str
    timezone: str
    anchor_date: date
    weight: Weight
    weight_measured_on: date | None
    enrolled_at: datetime
    planned_doses: int
    planned_assessments: int
    warnings: list[DoseWarning] = []
    #: The inclusion inputs and computed scores (MELD, Child-Pugh), when the protocol has criteria.
    eligibility: EligibilityAssessment | None = None


class GivenView(_View):
    record_id: int
    started_at: datetime
    ended_at: datetime | None
    amount: Amount | None
    volume: Volume | None
    partial: bool
    lot: str | None
    din: str | None
    route: str | None
    given_by: str | None
    infusion_reaction: str | None
    notes: str | None
    recorded_by: str
    recorded_at: datetime
    #: The electronic signature of the record ("Li Na (nurse-li), administered by, 2026-12-01T01:35Z").
    signed: str | None = None


class DoseView(_View):
    planned_id: int | None
    sequence: int
    label: str
    study_day: str
    target_date: date
    earliest: date
    latest: date
    #: Local start on the target day, in the site's zone.
    planned_start: datetime
    intervention: str
    ordered_dose: Amount | None
    final_volume: Volume | None
    status: DoseStatus
    given: GivenView | None
    #: The effective skip record's id, when the dose was skipped.
    skipped_record_id: int | None = None
    revision: int
    revised_at: datetime


class AssessmentView(_View):
    key: str
    name: str
    due: datetime
    measures: list[str]
    administration_sequence: int | None
    revision: int
    revised_at: datetime
    #: A check tied to a dose that was not given (e.g. the 24 h toxicity check of a skipped infusion).
    cancelled: bool = False


class SubjectView(_View):
    subject_code: str
    protocol_id: str
    arm: str
    site: str
    timezone: str
    enrolled_at: datetime
    weight: Weight
    weight_measured_on: date | None
    anchor_date: date
    cohort: int | None
    randomization_number: int | None
    doses: list[DoseView]
    assessments: list[AssessmentView]
    #: "safety stop: ..." or "study terminated: ..." while the study's stopping rule holds every dose.
    hold: str | None = None
    #: A total-over-period regimen: what was delivered of the total (None for other dose rules).
    course: CourseTotal | None = None


class OverdueRow(_View):
    subject_code: str
    protocol_id: str
    site: str
    sequence: int
    label: str
    target_date: date
    latest: date
    state: str
    days_late: int
    given_on: date | None = None
    #: A total-over-period regimen: "13.4 mg of 40 mg delivered" for the subject.
    course: str | None = None


class MissedDose(_View):
    subject_code: str
    protocol_id: str
    site: str
    sequence: int
    label: str
    latest: date
    days_late: int
    audit_id: int


class LateDose(_View):
    """A dose recorded as given after its window closed, as the sweep wrote it to the audit log."""

    subject_code: str
    protocol_id: str
    site: str
    sequence: int
    label: str
    latest: date
    given_on: date
    days_late: int
    audit_id: int


class SweepResult(_View):
    """What one sweep wrote to the audit log: doses newly missed and doses newly found given late."""

    missed: list[MissedDose]
    late: list[LateDose]


class RescheduleChange(_View):
    sequence: int
    label: str
    old_target: date
    new_target: date
    old_window: tuple[date, date]
    new_window: tuple[date, date]


class ReschedulePreview(_View):
    subject_code: str
    sequence: int
    given_on: date
    delay_days: int
    policy: ReschedulePolicy
    changes: list[RescheduleChange]
    applied: bool
    audit_id: int | None = None


class AuditView(_View):
    id: int
    at: datetime
    actor: str
    action: str
    protocol_id: str | None
    subject_code: str | None
    entity: str
    entity_id: int | None
    reason: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    #: The signature given for the change, as printed (name, username, meaning, time).
    signature: str | None = None
    entry_hash: str | None = None
