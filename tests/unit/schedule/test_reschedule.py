"""After a late dose, later doses move as the protocol's rescheduling policy says; earlier ones never do."""

from datetime import date

import pytest

from dosing.catalog import get_protocol
from dosing.errors import DosingError
from dosing.protocol import ReschedulePolicy
from dosing.schedule import apply_reschedule, planned_dates, reschedule

D = date


ANCHOR = D(2026, 12, 1)
GAP = 3  # NCT04822922 minimum_interval_days, checked below


def gap(protocol_id):
    return get_protocol(protocol_id).minimum_interval_days


def planned(protocol_id, anchor=ANCHOR):
    protocol = get_protocol(protocol_id)
    site = protocol.sites[0]
    return planned_dates(protocol.administrations, protocol.anchor.day_numbering, anchor, site.default_window)


def test_shift_later_nct04822922_infusion_2_a_day_late_moves_infusions_3_and_4_by_a_day():
    plan = planned("NCT04822922")  # 1, 4, 7, 10 December
    assert get_protocol("NCT04822922").rescheduling is ReschedulePolicy.SHIFT_LATER
    changes = reschedule(plan, 2, D(2026, 12, 5), ReschedulePolicy.SHIFT_LATER, minimum_interval_days=GAP)
    assert [(c.sequence, c.old_target, c.new_target) for c in changes] == [
        (3, D(2026, 12, 7), D(2026, 12, 8)),
        (4, D(2026, 12, 10), D(2026, 12, 11)),
    ]
    assert [c.new_window for c in changes] == [
        (D(2026, 12, 8), D(2026, 12, 9)),
        (D(2026, 12, 11), D(2026, 12, 12)),
    ]
    moved = apply_reschedule(plan, changes)
    assert [d.target_date.day for d in moved] == [1, 4, 8, 11]
    assert [(d.earliest.day, d.latest.day) for d in moved] == [(1, 1), (4, 5), (8, 9), (11, 12)]


def test_keep_original_later_doses_stay_on_their_planned_days_unless_too_close():
    assert get_protocol("SYSU3-MSCEV-LT").rescheduling is ReschedulePolicy.KEEP_ORIGINAL
    plan = planned("NCT04822922")
    assert (
        reschedule(plan, 2, D(2026, 12, 4), ReschedulePolicy.KEEP_ORIGINAL, minimum_interval_days=GAP) == []
    )
    assert apply_reschedule(plan, []) == plan
    # Dose 2 a day late: dose 3 on the 7th would be 2 days after it; the 3-day interval moves it (and 4).
    changes = reschedule(plan, 2, D(2026, 12, 5), ReschedulePolicy.KEEP_ORIGINAL, minimum_interval_days=GAP)
    assert [(c.sequence, c.new_target, c.new_window) for c in changes] == [
        (3, D(2026, 12, 8), (D(2026, 12, 8), D(2026, 12, 8))),
        (4, D(2026, 12, 11), (D(2026, 12, 11), D(2026, 12, 11))),
    ]  # the windows' ends stay where the protocol put them


def test_clamp_to_window_keeps_the_interval_while_it_fits_each_dose_window():
    plan = planned("NCT05871463")  # 1, 8, 15 December; windows 1-2, 7-9, 14-16
    assert get_protocol("NCT05871463").rescheduling is ReschedulePolicy.CLAMP_TO_WINDOW
    changes = reschedule(
        plan, 1, D(2026, 12, 2), ReschedulePolicy.CLAMP_TO_WINDOW, minimum_interval_days=gap("NCT05871463")
    )
    assert [(c.sequence, c.new_target) for c in changes] == [(2, D(2026, 12, 9)), (3, D(2026, 12, 16))]
    # the windows' ends do not move; each opening follows the 6-day minimum interval after the dose before
    assert [c.new_window for c in changes] == [
        (D(2026, 12, 8), D(2026, 12, 9)),
        (D(2026, 12, 15), D(2026, 12, 16)),
    ]


def test_clamp_to_window_keeps_a_dose_inside_its_window_while_the_interval_allows():
    plan = planned("NCT05871463")
    changes = reschedule(
        plan, 1, D(2026, 12, 3), ReschedulePolicy.CLAMP_TO_WINDOW, minimum_interval_days=gap("NCT05871463")
    )  # 2 days late: dose 2 clamps to the 9th, 6 days later, still weekly
    assert [(c.sequence, c.new_target) for c in changes] == [(2, D(2026, 12, 9)), (3, D(2026, 12, 16))]
    for change in changes:
        assert change.new_window[0] <= change.new_target <= change.new_window[1]


def test_issue_9_clamp_never_puts_the_second_weekly_exosome_dose_two_days_after_the_first():
    """Dose 1 given on day 7: clamping alone put dose 2 on day 9. The minimum interval (6 days) wins
    over the window: dose 2 on day 13, its window end keeping the dose's 1-day tolerance."""
    plan = planned("NCT05871463")  # windows 1-2, 7-9, 14-16 December
    changes = reschedule(
        plan, 1, D(2026, 12, 7), ReschedulePolicy.CLAMP_TO_WINDOW, minimum_interval_days=gap("NCT05871463")
    )
    assert [(c.sequence, c.new_target, c.new_window) for c in changes] == [
        (2, D(2026, 12, 13), (D(2026, 12, 13), D(2026, 12, 14))),
        (3, D(2026, 12, 19), (D(2026, 12, 19), D(2026, 12, 20))),
    ]


@pytest.mark.parametrize("policy", list(ReschedulePolicy))
def test_a_dose_given_on_its_target_day_moves_nothing(policy):
    plan = planned("NCT04822922")
    assert reschedule(plan, 2, D(2026, 12, 4), policy, minimum_interval_days=GAP) == []


@pytest.mark.parametrize("policy", list(ReschedulePolicy))
def test_the_delayed_dose_and_earlier_doses_never_move(policy):
    plan = planned("NCT04822922")
    changes = reschedule(plan, 3, D(2026, 12, 8), policy, minimum_interval_days=GAP)
    assert all(c.sequence > 3 for c in changes)


def test_the_last_dose_late_moves_nothing():
    plan = planned("NCT04822922")
    assert reschedule(plan, 4, D(2026, 12, 11), ReschedulePolicy.SHIFT_LATER, minimum_interval_days=GAP) == []


def test_an_unknown_dose_is_refused():
    with pytest.raises(DosingError) as refused:
        reschedule(
            planned("NCT04822922"),
            5,
            D(2026, 12, 11),
            ReschedulePolicy.SHIFT_LATER,
            minimum_interval_days=GAP,
        )
    assert (refused.value.field, refused.value.rule) == ("dose", "one of doses 1-4")


def test_gap_is_the_nct04822922_minimum_interval():
    assert gap("NCT04822922") == GAP


def test_a_drifted_plan_is_brought_back_to_the_facts():
    """Issue 9: the same reschedule applied again moved doses again. The effective plan is the
    protocol's plan plus the recorded days, so a drifted plan is corrected, not drifted further."""
    plan = planned("NCT04822922")
    once = apply_reschedule(
        plan, reschedule(plan, 1, D(2026, 12, 3), ReschedulePolicy.SHIFT_LATER, minimum_interval_days=GAP)
    )
    assert [d.target_date.day for d in once] == [1, 6, 9, 12]
    again = reschedule(
        plan, 1, D(2026, 12, 3), ReschedulePolicy.SHIFT_LATER, minimum_interval_days=GAP, current=once
    )
    assert again == []
    drifted = apply_reschedule(once, [c.model_copy(update={"new_target": D(2026, 12, 8)}) for c in
                                      reschedule(plan, 1, D(2026, 12, 3), ReschedulePolicy.SHIFT_LATER,
                                                 minimum_interval_days=GAP)][:1])  # fmt: skip
    fixed = reschedule(
        plan, 1, D(2026, 12, 3), ReschedulePolicy.SHIFT_LATER, minimum_interval_days=GAP, current=drifted
    )
    assert [(c.sequence, c.old_target, c.new_target) for c in fixed] == [(2, D(2026, 12, 8), D(2026, 12, 6))]
