"""Stock arithmetic (pure): reservations never exceed what remains, whatever the order of events."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dosing.errors import HardStop
from dosing.pharmacy.custody import BagFacts, BagState, check_at_bedside, check_drawn_volume, check_transition
from dosing.pharmacy.stock import (
    LotStatus,
    Movement,
    StockTally,
    bag_use_by,
    check_draw,
    check_lot_status_change,
)
from dosing.units import Volume

volumes = st.decimals(min_value=Decimal("0.1"), max_value=Decimal("60"), places=1)
actions = st.lists(
    st.tuples(st.sampled_from(["prepare", "void", "use", "waste"]), volumes, st.integers(0, 20)), max_size=40
)


@given(received=volumes, steps=actions)
def test_a_container_never_reserves_more_than_it_has_left(received: Decimal, steps: list) -> None:
    movements: list[tuple[Movement, Decimal]] = [(Movement.RECEIVED, received)]
    live: list[Decimal] = []
    for action, volume, pick in steps:
        tally = StockTally.of(movements)
        if action == "prepare":
            try:
                check_draw(tally, Volume(value=volume), "container 1")
            except HardStop as refusal:
                assert volume > tally.remaining.value
                assert f"{tally.remaining} left" in refusal.message
                continue
            movements.append((Movement.RESERVED, volume))
            live.append(volume)
        elif live:
            drawn = live.pop(pick % len(live))
            kind = {"void": Movement.UNRESERVED, "use": Movement.USED, "waste": Movement.WASTED}[action]
            movements.append((kind, drawn))
        after = StockTally.of(movements)
        assert after.remaining.value >= 0
        assert after.reserved.value == sum(live, Decimal(0))
        total = after.reserved.value + after.used.value + after.wasted.value + after.remaining.value
        assert total == received
        if action in ("use", "waste"):
            assert after.remaining == tally.remaining  # a filled bag never returns volume to stock


def test_the_bag_use_by_is_thaw_plus_beyond_use_and_never_past_the_lot() -> None:
    thawed = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    use_by = bag_use_by(
        thawed_at=thawed, beyond_use_hours=Decimal(3), prepared_at=thawed, bag_hours=Decimal(24),
        lot_expiry=date(2027, 1, 1), timezone="Asia/Shanghai",
    )  # fmt: skip
    assert use_by == datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
    capped = bag_use_by(
        thawed_at=None, beyond_use_hours=None, prepared_at=thawed, bag_hours=Decimal(24),
        lot_expiry=date(2026, 12, 1), timezone="Asia/Shanghai",
    )  # fmt: skip
    assert capped == datetime(2026, 12, 1, 16, 0, tzinfo=UTC)  # midnight after the expiry day, in Shanghai
    with pytest.raises(HardStop, match="no thaw recorded"):
        bag_use_by(
            thawed_at=None, beyond_use_hours=Decimal(3), prepared_at=thawed, bag_hours=Decimal(24),
            lot_expiry=None, timezone="UTC",
        )  # fmt: skip


def test_lot_status_moves_and_retired_is_final() -> None:
    check_lot_status_change("L1", LotStatus.AVAILABLE, LotStatus.QUARANTINED)
    check_lot_status_change("L1", LotStatus.QUARANTINED, LotStatus.RELEASED)
    with pytest.raises(HardStop, match="retired is final"):
        check_lot_status_change("L1", LotStatus.RETIRED, LotStatus.RELEASED)


@pytest.mark.parametrize(
    ("current", "wanted", "allowed"),
    [
        (BagState.PREPARED, BagState.VERIFIED, True),
        (BagState.PREPARED, BagState.RELEASED, False),
        (BagState.VERIFIED, BagState.VOIDED, False),
        (BagState.RELEASED, BagState.RETURNED, True),
        (BagState.ADMINISTERED, BagState.WASTED, False),
        (BagState.WASTED, BagState.WASTED, False),
    ],
)
def test_bag_transitions(current: BagState, wanted: BagState, allowed: bool) -> None:
    if allowed:
        check_transition("B1", current, wanted)
    else:
        with pytest.raises(HardStop):
            check_transition("B1", current, wanted)


def test_the_drawn_volume_matches_within_one_increment() -> None:
    increment = Volume(value=Decimal("0.1"))
    check_drawn_volume("B1", Volume(value=Decimal("13.1")), Volume(value=Decimal("13.2")), increment)
    with pytest.raises(HardStop, match="does not match"):
        check_drawn_volume("B1", Volume(value=Decimal("13.1")), Volume(value=Decimal("13.3")), increment)


def test_the_bedside_check_refuses_the_wrong_subject_dose_state_or_time() -> None:
    use_by = datetime(2026, 12, 1, 3, tzinfo=UTC)
    bag = BagFacts(bag_id="B1", state=BagState.RELEASED, subject_code="S-001", sequence=1, use_by=use_by)
    check_at_bedside(bag, "s-001", 1, use_by)
    for subject, sequence, state, now, why in (
        ("S-002", 1, BagState.RELEASED, use_by, "is for S-001 dose 1"),
        ("S-001", 2, BagState.RELEASED, use_by, "is for S-001 dose 1"),
        ("S-001", 1, BagState.PREPARED, use_by, "not been verified"),
        ("S-001", 1, BagState.VERIFIED, use_by, "not released"),
        ("S-001", 1, BagState.ADMINISTERED, use_by, "is administered"),
        ("S-001", 1, BagState.RELEASED, datetime(2026, 12, 1, 3, 1, tzinfo=UTC), "expired"),
    ):
        with pytest.raises(HardStop, match=why):
            check_at_bedside(bag.model_copy(update={"state": state}), subject, sequence, now)
