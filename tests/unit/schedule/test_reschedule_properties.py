"""Rescheduling as a function of the recorded facts (issue 9), checked with hypothesis on every protocol.

- A reschedule applied any number of times equals the same reschedule applied once.
- No policy places an administration (its target or its window's opening) closer than the protocol's
  minimum interval after the administration before it.
- The facts decide: the order in which reschedules were applied does not.
"""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from dosing.catalog import get_protocol
from dosing.protocol import ReschedulePolicy
from dosing.schedule import AdministrationDates, apply_reschedule, effective_plan, planned_dates, reschedule

FAST = settings(max_examples=150, deadline=None)

PROTOCOLS = ["NCT04822922", "MSC-ACLF-WEEKLY", "NCT05871463", "NCT05940610", "SYSU3-MSCEV-LT"]


def _plan(protocol_id: str, anchor: date) -> list[AdministrationDates]:
    protocol = get_protocol(protocol_id)
    site = protocol.sites[0]
    return planned_dates(protocol.administrations, protocol.anchor.day_numbering, anchor, site.default_window)


@st.composite
def situations(
    draw: st.DrawFn,
) -> tuple[list[AdministrationDates], int, dict[int, date], int, date, ReschedulePolicy]:
    """A protocol's plan, its minimum interval, some doses given (in order, each within -2..+8 days of
    its target), the dose rescheduled and its day, and a policy."""
    protocol_id = draw(st.sampled_from(PROTOCOLS))
    anchor = draw(st.dates(min_value=date(2024, 1, 1), max_value=date(2030, 12, 31)))
    plan = _plan(protocol_id, anchor)
    gap = get_protocol(protocol_id).minimum_interval_days
    sequence = draw(st.integers(1, len(plan)))
    given_days: dict[int, date] = {}
    last: date | None = None
    for dates in plan:
        if dates.sequence == sequence or not draw(st.booleans()):
            continue
        day = dates.target_date + timedelta(days=draw(st.integers(-2, 8)))
        if last is not None and day <= last:
            continue  # recorded days follow each other
        given_days[dates.sequence] = last = day
    given_on = plan[sequence - 1].target_date + timedelta(days=draw(st.integers(-2, 10)))
    policy = draw(st.sampled_from(list(ReschedulePolicy)))
    return plan, gap, given_days, sequence, given_on, policy


@FAST
@given(situation=situations(), times=st.integers(1, 5))
def test_a_reschedule_applied_any_number_of_times_equals_it_applied_once(situation, times) -> None:  # type: ignore[no-untyped-def]
    plan, gap, given_days, sequence, given_on, policy = situation
    current = plan
    results = []
    for _ in range(times):
        changes = reschedule(
            plan, sequence, given_on, policy, minimum_interval_days=gap, given=given_days, current=current
        )
        current = apply_reschedule(current, changes)
        results.append(current)
    assert all(result == results[0] for result in results)
    assert (
        reschedule(
            plan, sequence, given_on, policy, minimum_interval_days=gap, given=given_days, current=current
        )
        == []
    )


@FAST
@given(situation=situations())
def test_no_policy_places_two_administrations_closer_than_the_minimum_interval(situation) -> None:  # type: ignore[no-untyped-def]
    plan, gap, given_days, sequence, given_on, policy = situation
    facts = {**given_days, sequence: given_on}
    placed = effective_plan(plan, facts, policy, minimum_interval_days=gap)
    previous: date | None = None
    for dates in placed:
        if dates.sequence in facts:
            previous = facts[dates.sequence]
            continue
        if previous is not None:
            assert (dates.target_date - previous).days >= gap, (dates, previous)
            assert (dates.earliest - previous).days >= gap, (dates, previous)
        assert dates.earliest <= dates.target_date <= dates.latest
        previous = dates.target_date


@FAST
@given(situation=situations(), detour=st.integers(-3, 12))
def test_the_facts_decide_not_an_earlier_reschedule(situation, detour) -> None:  # type: ignore[no-untyped-def]
    """An earlier reschedule on an expected day that did not happen leaves no trace once the real day
    is rescheduled: the result is the one computed from the plan directly."""
    plan, gap, given_days, sequence, given_on, policy = situation
    expected = plan[sequence - 1].target_date + timedelta(days=detour)
    detoured = apply_reschedule(
        plan, reschedule(plan, sequence, expected, policy, minimum_interval_days=gap, given=given_days)
    )
    direct = apply_reschedule(
        plan, reschedule(plan, sequence, given_on, policy, minimum_interval_days=gap, given=given_days)
    )
    after_detour = apply_reschedule(
        detoured,
        reschedule(
            plan, sequence, given_on, policy, minimum_interval_days=gap, given=given_days, current=detoured
        ),
    )
    assert after_detour == direct


def test_the_minimum_interval_is_positive_in_every_protocol() -> None:
    for protocol_id in PROTOCOLS:
        assert get_protocol(protocol_id).minimum_interval_days >= 1
