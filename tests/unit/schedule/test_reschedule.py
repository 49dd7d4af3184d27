"""After a late dose, later doses move as the protocol's rescheduling policy says; earlier ones never do."""

from datetime import date

import pytest

from dosing.catalog import get_protocol
from dosing.errors import DosingError
from dosing.protocol import ReschedulePolicy
from dosing.schedule import apply_reschedule, planned_dates, reschedule

D = date


ANCHOR = D(2026, 12, 1)


def planned(protocol_id, anchor=ANCHOR):
    protocol = get_protocol(protocol_id)
    site = protocol.sites[0]
    return planned_dates(protocol.administrations, protocol.anchor.day_numbering, anchor, site.default_window)


def test_shift_later_nct04822922_infusion_2_a_day_late_moves_infusions_3_and_4_by_a_day():
    plan = planned("NCT04822922")  # 1, 4, 7, 10 December
    assert get_protocol("NCT04822922").rescheduling is ReschedulePolicy.SHIFT_LATER
    changes = reschedule(plan, 2, D(2026, 12, 5), ReschedulePolicy.SHIFT_LATER)
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


def test_keep_original_later_doses_stay_on_their_planned_days():
    assert get_protocol("SYSU3-MSCEV-LT").rescheduling is ReschedulePolicy.KEEP_ORIGINAL
    plan = planned("NCT04822922")
    assert reschedule(plan, 2, D(2026, 12, 5), ReschedulePolicy.KEEP_ORIGINAL) == []
    assert apply_reschedule(plan, []) == plan


def test_clamp_to_window_keeps_the_interval_while_it_fits_each_dose_window():
    plan = planned("NCT05871463")  # 1, 8, 15 December; windows 1-2, 7-9, 14-16
    assert get_protocol("NCT05871463").rescheduling is ReschedulePolicy.CLAMP_TO_WINDOW
    changes = reschedule(plan, 1, D(2026, 12, 2), ReschedulePolicy.CLAMP_TO_WINDOW)
    assert [(c.sequence, c.new_target) for c in changes] == [(2, D(2026, 12, 9)), (3, D(2026, 12, 16))]
    # the windows themselves do not move
    assert [c.new_window for c in changes] == [c.old_window for c in changes]


def test_clamp_to_window_never_moves_a_dose_beyond_its_own_window():
    plan = planned("NCT05871463")
    changes = reschedule(plan, 1, D(2026, 12, 5), ReschedulePolicy.CLAMP_TO_WINDOW)  # 4 days late
    assert [(c.sequence, c.new_target) for c in changes] == [(2, D(2026, 12, 9)), (3, D(2026, 12, 16))]
    for change in changes:
        assert change.new_window[0] <= change.new_target <= change.new_window[1]


@pytest.mark.parametrize("policy", list(ReschedulePolicy))
def test_a_dose_given_on_its_target_day_moves_nothing(policy):
    plan = planned("NCT04822922")
    assert reschedule(plan, 2, D(2026, 12, 4), policy) == []


@pytest.mark.parametrize("policy", list(ReschedulePolicy))
def test_the_delayed_dose_and_earlier_doses_never_move(policy):
    plan = planned("NCT04822922")
    changes = reschedule(plan, 3, D(2026, 12, 8), policy)
    assert all(c.sequence > 3 for c in changes)


def test_the_last_dose_late_moves_nothing():
    plan = planned("NCT04822922")
    assert reschedule(plan, 4, D(2026, 12, 11), ReschedulePolicy.SHIFT_LATER) == []


def test_an_unknown_dose_is_refused():
    with pytest.raises(DosingError) as refused:
        reschedule(planned("NCT04822922"), 5, D(2026, 12, 11), ReschedulePolicy.SHIFT_LATER)
    assert (refused.value.field, refused.value.rule) == ("dose", "one of doses 1-4")
