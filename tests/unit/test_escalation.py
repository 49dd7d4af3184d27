"""Dose-escalation rules of NCT04822922 (pure: no store)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from dosing.catalog import get_protocol
from dosing.errors import DosingError
from dosing.escalation import CohortMember, CohortReviewRecord, cohort_states, next_slot

ESCALATION = get_protocol("NCT04822922").escalation
assert ESCALATION is not None
FIRST = date(2026, 12, 1)
WINDOW_ENDS = FIRST + timedelta(days=30)


def members(cohort: int, arm: str, count: int = 4, first: date | None = FIRST) -> list[CohortMember]:
    return [
        CohortMember(subject_code=f"C{cohort}-{n}", cohort=cohort, arm=arm, first_dose=first)
        for n in range(count)
    ]


def safe(cohort: int, on: date = WINDOW_ENDS) -> CohortReviewRecord:
    return CohortReviewRecord(cohort=cohort, safe=True, reviewed_on=on)


def test_the_first_subject_opens_the_lowest_level() -> None:
    slot = next_slot(ESCALATION, [], [], FIRST, None)
    assert (slot.cohort, slot.position, slot.arm, slot.expansion) == (1, 1, "low", False)


@pytest.mark.parametrize(
    ("cohort_one", "reviews", "as_of", "why"),
    [
        (members(1, "low", 3), [], WINDOW_ENDS, None),  # still filling cohort 1: fine
        (members(1, "low", first=None), [], WINDOW_ENDS, "no first dose recorded"),
        (members(1, "low"), [safe(1)], WINDOW_ENDS - timedelta(days=1), "safety window until 2026-12-31"),
        (members(1, "low"), [], WINDOW_ENDS, "no safety review"),
        (
            members(1, "low"),
            [safe(1, WINDOW_ENDS - timedelta(days=2))],
            WINDOW_ENDS,
            "cover the whole window",
        ),
        (
            members(1, "low"),
            [CohortReviewRecord(cohort=1, safe=False, reviewed_on=WINDOW_ENDS)],
            WINDOW_ENDS,
            "unsafe",
        ),
    ],
)
def test_the_next_cohort_is_gated(cohort_one, reviews, as_of, why) -> None:  # type: ignore[no-untyped-def]
    if why is None:
        assert next_slot(ESCALATION, cohort_one, reviews, as_of, None).arm == "low"
        return
    with pytest.raises(DosingError) as refused:
        next_slot(ESCALATION, cohort_one, reviews, as_of, None)
    assert refused.value.field == "arm" and why in refused.value.message
    assert "cohorts of 4" in refused.value.rule


def test_a_safe_review_after_the_window_opens_the_next_level_and_refuses_others() -> None:
    slot = next_slot(ESCALATION, members(1, "low"), [safe(1)], WINDOW_ENDS, None)
    assert (slot.cohort, slot.arm, slot.position) == (2, "middle", 1)
    with pytest.raises(DosingError, match="'high' is not its level"):
        next_slot(ESCALATION, members(1, "low"), [safe(1)], WINDOW_ENDS, "high")


def test_a_later_safe_review_overrides_an_earlier_unsafe_one() -> None:
    unsafe = CohortReviewRecord(cohort=1, safe=False, reviewed_on=WINDOW_ENDS)
    assert next_slot(ESCALATION, members(1, "low"), [unsafe, safe(1)], WINDOW_ENDS, None).arm == "middle"


def test_the_expansion_takes_the_selected_safe_level_then_closes() -> None:
    everyone = members(1, "low") + members(2, "middle") + members(3, "high")
    reviews = [safe(1), safe(2), safe(3)]
    with pytest.raises(DosingError, match="needs the selected dose level"):
        next_slot(ESCALATION, everyone, reviews, WINDOW_ENDS, None)
    slot = next_slot(ESCALATION, everyone, reviews, WINDOW_ENDS, "middle")
    assert (slot.cohort, slot.arm, slot.expansion) == (4, "middle", True)
    expanded = everyone + members(4, "middle", 1)
    assert next_slot(ESCALATION, expanded, reviews, WINDOW_ENDS, None).arm == "middle"
    with pytest.raises(DosingError, match="selected level 'middle', not 'high'"):
        next_slot(ESCALATION, expanded, reviews, WINDOW_ENDS, "high")
    with pytest.raises(DosingError, match="enrollment is complete"):
        next_slot(ESCALATION, everyone + members(4, "middle"), reviews, WINDOW_ENDS, None)


def test_the_expansion_refuses_a_level_never_reviewed_safe() -> None:
    everyone = members(1, "low") + members(2, "middle") + members(3, "high")
    reviews = [safe(1), CohortReviewRecord(cohort=2, safe=False, reviewed_on=WINDOW_ENDS), safe(2), safe(3)]
    only_high = [safe(3), CohortReviewRecord(cohort=1, safe=False, reviewed_on=WINDOW_ENDS)]
    assert next_slot(ESCALATION, everyone, reviews, WINDOW_ENDS, "low").arm == "low"
    with pytest.raises(DosingError, match=r"cohort 1 \(low\) was reviewed unsafe"):
        next_slot(ESCALATION, everyone, only_high, WINDOW_ENDS, "low")


def test_cohort_states_show_members_windows_reviews_and_the_open_cohort() -> None:
    states = cohort_states(ESCALATION, members(1, "low") + members(2, "middle", 2), [safe(1)], WINDOW_ENDS)
    assert [(s.cohort, s.arm, s.enrolled, s.open) for s in states] == [
        (1, "low", 4, False),
        (2, "middle", 2, True),
        (3, "high", 0, False),
        (4, None, 0, False),
    ]
    assert states[0].safety_window_ends == WINDOW_ENDS and states[0].review == "safe"
    assert states[0].why_closed == "full"


def test_issue_9_a_later_safe_review_never_outweighs_an_earlier_unsafe_one() -> None:
    """Cohort 1 safe, cohort 2 dosed, cohort 1 then unsafe, cohort 2 safe: cohort 3 stays closed."""
    everyone = members(1, "low") + members(2, "middle", first=WINDOW_ENDS)
    later = WINDOW_ENDS + timedelta(days=30)
    reviews = [
        safe(1),
        CohortReviewRecord(cohort=1, safe=False, reviewed_on=WINDOW_ENDS + timedelta(days=5)),
        safe(2, later),
    ]
    with pytest.raises(
        DosingError, match=r"cohort 3 \(high\) is not open: cohort 1 \(low\) was reviewed unsafe"
    ):
        next_slot(ESCALATION, everyone, reviews, later, None)
    states = cohort_states(ESCALATION, everyone, reviews, later)
    assert [(s.cohort, s.open) for s in states] == [(1, False), (2, False), (3, False), (4, False)]
    assert "cohort 1 (low) was reviewed unsafe" in (states[2].why_closed or "")


def test_a_hold_closes_every_cohort_and_a_resume_caps_the_level() -> None:
    one = members(1, "low")
    states = cohort_states(ESCALATION, one, [safe(1)], WINDOW_ENDS, held="safety stop: cohort 1")
    assert [s.open for s in states] == [False, False, False, False]
    assert states[1].why_closed == "safety stop: cohort 1"
    capped = cohort_states(ESCALATION, one, [safe(1)], WINDOW_ENDS, level_cap="low")
    assert [s.open for s in capped] == [False, False, False, True]
    assert "resumed at level low" in (capped[1].why_closed or "")
    slot = next_slot(ESCALATION, one, [safe(1)], WINDOW_ENDS, None, level_cap="low")
    assert (slot.cohort, slot.arm, slot.expansion) == (4, "low", True)
    with pytest.raises(DosingError, match="middle is above it"):
        next_slot(ESCALATION, one, [safe(1)], WINDOW_ENDS, "middle", level_cap="low")
