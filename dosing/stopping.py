"""Stopping rules (issue 9): whether a study is on a safety hold, from the protocol's rules and the
recorded facts alone.

A stopping rule of the protocol file (``stopping_rules``) is set off by a recorded fact: for
``cohort_reviewed_unsafe``, every safety review that concluded *unsafe*. A later review of the same
cohort concluding safe does not lift the hold; only an investigator's recorded decision that names the
review does: resume (at a named dose level, which caps the levels enrolled from then on) or terminate
(the study takes no subject and no dose again).

>>> from datetime import date
>>> from dosing.catalog import get_protocol
>>> rules = get_protocol("NCT04822922").stopping_rules
>>> unsafe = [UnsafeReview(review_id=7, cohort=1, arm="low", reviewed_on=date(2026, 12, 20))]
>>> hold_state("NCT04822922", rules, unsafe, []).reason
'safety stop: cohort 1 (low) reviewed unsafe on 2026-12-20 (review 7)'
>>> resume = HoldDecision(decision_id=1, lifts_review_id=7, action="resume", level="low", reason="unrelated")
>>> lifted = hold_state("NCT04822922", rules, unsafe, [resume])
>>> (lifted.state, lifted.level_cap)
('running', 'low')
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict

from dosing.errors import HardStop
from dosing.protocol import StoppingAction, StoppingRule, StoppingTrigger


class UnsafeReview(BaseModel):
    """A cohort safety review that concluded unsafe (the fact that sets the rule off)."""

    model_config = ConfigDict(frozen=True)

    review_id: int
    cohort: int
    arm: str
    reviewed_on: date


class HoldDecision(BaseModel):
    """An investigator's recorded decision on a safety hold."""

    model_config = ConfigDict(frozen=True)

    decision_id: int
    #: The latest unsafe review when the decision was taken; it lifts the hold of that one and all before.
    lifts_review_id: int
    action: Literal["resume", "terminate"]
    #: For resume: the dose level the study goes on at.
    level: str | None
    reason: str


class StudyHold(BaseModel):
    """Whether a study may go on, and why not."""

    model_config = ConfigDict(frozen=True)

    protocol_id: str
    state: Literal["running", "held", "terminated"]
    #: "safety stop: ..." while held, "study terminated: ..." once terminated; None while running.
    reason: str | None = None
    #: The stopping rule in force (its id and the record's words), for refusals.
    rule: str | None = None
    #: The unsafe reviews not yet decided on (an investigator's decision names one of them).
    open_reviews: list[int] = []
    #: The level named by the latest resume decision: no cohort above it opens.
    level_cap: str | None = None

    @property
    def stopped(self) -> bool:
        return self.state != "running"

    def refuse(self, field: str, doing: str) -> None:
        """Raise a HardStop on ``field`` naming the rule when the study is held or terminated."""
        if self.stopped:
            assert self.reason is not None and self.rule is not None
            raise HardStop(
                field, self.rule, f"{self.protocol_id} is {self._word}: {doing} refused; {self._lift}"
            )

    @property
    def _word(self) -> str:
        return "terminated" if self.state == "terminated" else f"held ({self.reason})"

    @property
    def _lift(self) -> str:
        if self.state == "terminated":
            return "an investigator terminated the study"
        return (
            f"only an investigator's decision lifts it: dosing cohorts {self.protocol_id} --decide resume "
            "--level LEVEL --reason ... (or --decide terminate)"
        )


def _rule_text(rule: StoppingRule) -> str:
    return f"stopping rule {rule.id}: {rule.record_says}"


def hold_state(
    protocol_id: str,
    rules: list[StoppingRule],
    unsafe_reviews: list[UnsafeReview],
    decisions: list[HoldDecision],
) -> StudyHold:
    """The study's state from its stopping rules, its unsafe reviews and the decisions taken on them."""
    holding = [
        rule
        for rule in rules
        if rule.trigger is StoppingTrigger.COHORT_REVIEWED_UNSAFE
        and rule.action is StoppingAction.SAFETY_HOLD
    ]
    ordered = sorted(decisions, key=lambda decision: decision.decision_id)
    resumed = [decision for decision in ordered if decision.action == "resume"]
    cap = resumed[-1].level if resumed else None
    if not holding:
        return StudyHold(protocol_id=protocol_id, state="running", level_cap=cap)
    rule = _rule_text(holding[0])
    terminated = [decision for decision in ordered if decision.action == "terminate"]
    if terminated:
        first = terminated[0]
        return StudyHold(
            protocol_id=protocol_id,
            state="terminated",
            reason=f"study terminated: decision {first.decision_id} ({first.reason})",
            rule=rule,
        )
    # A decision covers every unsafe review recorded up to the one it names (what the investigator knew).
    decided = max((decision.lifts_review_id for decision in ordered), default=0)
    undecided = sorted(
        (review for review in unsafe_reviews if review.review_id > decided), key=lambda r: r.review_id
    )
    if not undecided:
        return StudyHold(protocol_id=protocol_id, state="running", rule=rule, level_cap=cap)
    first_review = undecided[0]
    return StudyHold(
        protocol_id=protocol_id,
        state="held",
        reason=(
            f"safety stop: cohort {first_review.cohort} ({first_review.arm}) reviewed unsafe on "
            f"{first_review.reviewed_on.isoformat()} (review {first_review.review_id})"
        ),
        rule=rule,
        open_reviews=[review.review_id for review in undecided],
        level_cap=cap,
    )
