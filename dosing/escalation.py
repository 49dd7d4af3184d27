"""Dose-escalation cohorts (NCT04822922): which cohort and arm the next subject joins, or why none.

Cohorts fill in ``escalation.order``, ``cohort_size`` subjects each. The next cohort opens only when the
previous one is full, every subject in it is at least ``safety_window_days`` past its first dose, and a
safety review that covers the whole window (reviewed on or after the day the last subject's window
ended) marked it safe. After the last cohort, ``expansion_size`` more subjects join at the selected
level, which must be a level whose cohort was marked safe. Refusals are DosingErrors on field "arm".
"""

from __future__ import annotations

from datetime import date, timedelta

from pydantic import BaseModel, ConfigDict

from dosing.errors import DosingError
from dosing.protocol import Escalation


class CohortMember(BaseModel):
    model_config = ConfigDict(frozen=True)

    subject_code: str
    cohort: int
    arm: str
    #: Local day of the subject's first dose actually given; None while nothing was given.
    first_dose: date | None


class CohortReviewRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    #: The ledger's id of the review (a later review of the same cohort supersedes it).
    review_id: int | None = None
    cohort: int
    safe: bool
    reviewed_on: date


class CohortState(BaseModel):
    model_config = ConfigDict(frozen=True)

    cohort: int
    #: The cohort's dose level; for the expansion, the selected level (None until chosen).
    arm: str | None
    expansion: bool
    size: int
    enrolled: int
    members: list[str]
    #: The day the last member is past the safety window; None until every member has a first dose.
    safety_window_ends: date | None
    #: "safe", "unsafe" or None (not reviewed).
    review: str | None
    reviewed_on: date | None
    open: bool
    why_closed: str | None


class CohortSlot(BaseModel):
    """Where the next subject goes."""

    model_config = ConfigDict(frozen=True)

    cohort: int
    position: int
    arm: str
    expansion: bool


def latest_review(reviews: list[CohortReviewRecord], cohort: int) -> CohortReviewRecord | None:
    mine = [review for review in reviews if review.cohort == cohort]
    return mine[-1] if mine else None


def window_end(members: list[CohortMember], days: int) -> date | None:
    if not members or any(member.first_dose is None for member in members):
        return None
    return max(member.first_dose for member in members if member.first_dose is not None) + timedelta(
        days=days
    )


def _gate(
    escalation: Escalation,
    previous: int,
    members: list[CohortMember],
    reviews: list[CohortReviewRecord],
    as_of: date,
) -> str | None:
    """Why cohort ``previous + 1`` may not open yet, or None when it may."""
    level = escalation.order[previous - 1]
    for earlier in range(1, previous):
        # Issue 9: a later cohort reviewed safe never outweighs an earlier one reviewed unsafe.
        earlier_review = latest_review(reviews, earlier)
        if earlier_review is not None and not earlier_review.safe:
            return (
                f"cohort {earlier} ({escalation.order[earlier - 1]}) was reviewed unsafe on "
                f"{earlier_review.reviewed_on.isoformat()}"
            )
    cohort_members = [member for member in members if member.cohort == previous]
    if len(cohort_members) < escalation.cohort_size:
        return f"cohort {previous} ({level}) has {len(cohort_members)} of {escalation.cohort_size} subjects"
    ends = window_end(cohort_members, escalation.safety_window_days)
    if ends is None:
        waiting = sorted(m.subject_code for m in cohort_members if m.first_dose is None)
        return f"cohort {previous} ({level}): no first dose recorded yet for {', '.join(waiting)}"
    if as_of < ends:
        return (
            f"cohort {previous} ({level}) is within its {escalation.safety_window_days}-day safety window "
            f"until {ends.isoformat()}"
        )
    review = latest_review(reviews, previous)
    if review is None:
        return f"cohort {previous} ({level}) has no safety review yet"
    if not review.safe:
        return f"cohort {previous} ({level}) was reviewed unsafe on {review.reviewed_on.isoformat()}"
    if review.reviewed_on < ends:
        return (
            f"cohort {previous} ({level}) was reviewed on {review.reviewed_on.isoformat()}, before its "
            f"safety window ended on {ends.isoformat()}; a review must cover the whole window"
        )
    return None


def _rule(escalation: Escalation) -> str:
    return (
        f"dose escalation: cohorts of {escalation.cohort_size} in order {' -> '.join(escalation.order)}, "
        f"each opened after a safety review of the previous one ({escalation.safety_window_days} days "
        "after first dose)"
    )


def _above_cap(escalation: Escalation, level: str | None, level_cap: str | None) -> str | None:
    """Why ``level`` may not open after an investigator resumed the study at ``level_cap``."""
    if (
        level_cap is None
        or level is None
        or level_cap not in escalation.order
        or level not in escalation.order
    ):
        return None
    if escalation.order.index(level) > escalation.order.index(level_cap):
        return f"the study resumed at level {level_cap} by an investigator's decision; {level} is above it"
    return None


def cohort_states(
    escalation: Escalation,
    members: list[CohortMember],
    reviews: list[CohortReviewRecord],
    as_of: date,
    *,
    held: str | None = None,
    level_cap: str | None = None,
) -> list[CohortState]:
    """Every cohort (and the expansion) with its members, safety window, review and whether it is open.

    ``held``: why the study is on a safety hold (no cohort opens); ``level_cap``: the level an
    investigator resumed the study at (no cohort above it opens).
    """
    states = []
    levels = len(escalation.order)
    for cohort in range(1, levels + 2):
        expansion = cohort == levels + 1
        cohort_members = [member for member in members if member.cohort == cohort]
        size = escalation.expansion_size if expansion else escalation.cohort_size
        if expansion:
            arm = cohort_members[0].arm if cohort_members else None
        else:
            arm = escalation.order[cohort - 1]
        why = None if cohort == 1 else _gate(escalation, cohort - 1, members, reviews, as_of)
        if expansion and level_cap is not None:
            why = _gate(escalation, escalation.order.index(level_cap) + 1, members, reviews, as_of)
        if why is None and len(cohort_members) >= size:
            why = "full"
        if why is None and not expansion:
            why = _above_cap(escalation, arm, level_cap)
        if why is None and held is not None:
            why = held
        review = latest_review(reviews, cohort)
        states.append(
            CohortState(
                cohort=cohort,
                arm=arm,
                expansion=expansion,
                size=size,
                enrolled=len(cohort_members),
                members=[member.subject_code for member in cohort_members],
                safety_window_ends=window_end(cohort_members, escalation.safety_window_days),
                review=None if review is None else ("safe" if review.safe else "unsafe"),
                reviewed_on=None if review is None else review.reviewed_on,
                open=why is None,
                why_closed=why,
            )
        )
    return states


def next_slot(
    escalation: Escalation,
    members: list[CohortMember],
    reviews: list[CohortReviewRecord],
    as_of: date,
    requested_arm: str | None,
    *,
    level_cap: str | None = None,
) -> CohortSlot:
    """The cohort, position and arm of the next subject, or a DosingError on "arm" naming the rule.

    After an investigator resumed a held study at ``level_cap``, cohorts above it stay closed and the
    expansion opens at that level (or below) once the cohort of that level passes its gate.
    """
    levels = len(escalation.order)
    rule = _rule(escalation)
    for cohort in range(1, levels + 1):
        filled = [member for member in members if member.cohort == cohort]
        if len(filled) >= escalation.cohort_size:
            continue
        level = escalation.order[cohort - 1]
        if _above_cap(escalation, level, level_cap) is not None:
            break
        if cohort > 1:
            why = _gate(escalation, cohort - 1, members, reviews, as_of)
            if why is not None:
                raise DosingError("arm", rule, f"cohort {cohort} ({level}) is not open: {why}")
        if requested_arm is not None and requested_arm != level:
            raise DosingError(
                "arm", rule, f"cohort {cohort} ({level}) is filling; {requested_arm!r} is not its level"
            )
        return CohortSlot(cohort=cohort, position=len(filled) + 1, arm=level, expansion=False)

    expansion = levels + 1
    expanded = [member for member in members if member.cohort == expansion]
    if len(expanded) >= escalation.expansion_size:
        raise DosingError(
            "arm",
            rule,
            f"enrollment is complete: all cohorts and the expansion of {escalation.expansion_size}",
        )
    gated = levels if level_cap is None else escalation.order.index(level_cap) + 1
    why = _gate(escalation, gated, members, reviews, as_of)
    if why is not None:
        raise DosingError("arm", rule, f"the expansion is not open: {why}")
    selected = expanded[0].arm if expanded else (requested_arm or level_cap)
    capped = _above_cap(escalation, selected, level_cap)
    if capped is not None:
        raise DosingError("arm", rule, f"the expansion is not open at {selected}: {capped}")
    if selected is None:
        raise DosingError("arm", rule, "the expansion needs the selected dose level: name the arm")
    if requested_arm is not None and requested_arm != selected:
        raise DosingError(
            "arm", rule, f"the expansion is at the selected level {selected!r}, not {requested_arm!r}"
        )
    if selected not in escalation.order:
        raise DosingError("arm", rule, f"{selected!r} is not an escalation level")
    review = latest_review(reviews, escalation.order.index(selected) + 1)
    if review is None or not review.safe:
        raise DosingError("arm", rule, f"the selected level {selected!r} has no cohort reviewed safe")
    return CohortSlot(cohort=expansion, position=len(expanded) + 1, arm=selected, expansion=True)
