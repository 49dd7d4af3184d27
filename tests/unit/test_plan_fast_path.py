"""The fast planning path gives exactly the plain one's plans (tests/unit/plain_plan.py, the core as it
was before issue 15): the same values, the same types, the same reprs and JSON, the same refusals.

Dates are drawn over DST days in Europe/London and America/New_York (including infusion times in the
spring-forward gap and the fall-back hour), leap days and month ends.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pendulum
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from dosing import schedule
from dosing.catalog import get_protocol
from dosing.errors import DosingError
from dosing.plan import PatientInputs, PatientPlan, plan_patient
from dosing.protocol import Offset, PerKgRange
from dosing.units import Concentration, DosePerKg, Percent, Weight
from tests.unit import plain_plan
from tests.unit.helpers import in_zone

#: NCT05940610 takes no patients (its status): its refusal is compared too.
PROTOCOLS = ["NCT04822922", "MSC-ACLF-WEEKLY", "SYSU3-MSCEV-LT", "NCT05871463", "NCT05940610"]
ZONES = [None, "Europe/London", "America/New_York"]
TIMES = [time(9, 0), time(1, 30), time(2, 30), time(0, 0), time(23, 30), time(10, 15)]
SPECIAL_DAYS = [
    date(2027, 3, 28),  # London spring forward
    date(2027, 10, 31),  # London fall back
    date(2027, 3, 14),  # New York spring forward
    date(2027, 11, 7),  # New York fall back
    date(2028, 2, 29),
    date(2024, 2, 29),
    date(2027, 1, 31),
    date(2028, 1, 31),
    date(2027, 8, 31),
    date(2027, 12, 31),
]


@st.composite
def anchors(draw: st.DrawFn) -> date:
    base = draw(
        st.one_of(
            st.sampled_from(SPECIAL_DAYS),
            st.dates(min_value=date(2024, 1, 1), max_value=date(2030, 12, 31)),
        )
    )
    # Back off by whole weeks and days so doses and follow-ups land on the special days too.
    return base - timedelta(days=draw(st.sampled_from([0, 1, 3, 7, 14, 21, 28, 30, 31, 60, 90, 365])))


def _compare(fast: Any, plain: Any) -> None:
    """Equal values of the same types, recursively, with the same set fields."""
    assert type(fast) is type(plain)
    if isinstance(fast, BaseModel):
        assert fast == plain
        assert fast.model_fields_set == plain.model_fields_set
        for name in type(fast).model_fields:
            _compare(getattr(fast, name), getattr(plain, name))
    elif isinstance(fast, list | tuple):
        assert len(fast) == len(plain)
        for a, b in zip(fast, plain, strict=True):
            _compare(a, b)
    elif isinstance(fast, datetime):
        assert fast == plain
        assert fast.isoformat() == plain.isoformat()
        assert fast.fold == plain.fold
        assert getattr(fast.tzinfo, "key", None) == getattr(plain.tzinfo, "key", None)
    elif isinstance(fast, Decimal):
        assert str(fast) == str(plain)
    else:
        assert fast == plain


def _outcome(planner: Any, protocol: Any, inputs: PatientInputs) -> PatientPlan | tuple[str, str]:
    try:
        plan: PatientPlan = planner(protocol, inputs)
    except DosingError as error:
        return type(error).__name__, str(error)
    return plan


@settings(max_examples=400, deadline=None)
@given(
    protocol_id=st.sampled_from(PROTOCOLS),
    zone=st.sampled_from(ZONES),
    at=st.sampled_from(TIMES),
    anchor=anchors(),
    weight=st.integers(450, 1500),
    per_kg=st.one_of(st.none(), st.integers(10, 120)),
    enrollment_weight=st.one_of(st.none(), st.integers(300, 1500)),
    lot=st.one_of(st.none(), st.tuples(st.sampled_from(["2", "5", "0.8", "5.0"]), st.integers(50, 100))),
    data=st.data(),
)
def test_plans_equal_the_plain_path(
    protocol_id: str,
    zone: str | None,
    at: time,
    anchor: date,
    weight: int,
    per_kg: int | None,
    enrollment_weight: int | None,
    lot: tuple[str, int] | None,
    data: st.DataObject,
) -> None:
    protocol = get_protocol(protocol_id)
    protocol = in_zone(protocol, zone or protocol.sites[0].timezone, infusion_time=at)
    arm = data.draw(st.sampled_from(protocol.arms))
    unit = protocol.product.amount_unit
    chosen = None
    # Mostly valid patients (a range arm gets a level within its range); sometimes a refusal.
    if isinstance(arm.dose, PerKgRange) or (per_kg is not None and per_kg > 110):
        chosen = DosePerKg(value=Decimal(per_kg or 50).scaleb(4), amount_unit=unit)
    inputs = PatientInputs(
        arm=arm.id,
        weight=Weight(value=Decimal(weight) / 10),
        anchor=anchor,
        dose_per_kg=chosen,
        enrollment_weight=Weight(value=Decimal(enrollment_weight) / 10) if enrollment_weight else None,
        concentration=Concentration(value=Decimal(lot[0]).scaleb(6), amount_unit=unit) if lot else None,
        viability=Percent(value=Decimal(lot[1])) if lot else None,
    )
    fast = _outcome(plan_patient, protocol, inputs)
    plain = _outcome(plain_plan.plan_patient, protocol, inputs)
    _compare(fast, plain)
    event("planned" if isinstance(fast, PatientPlan) else f"refused: {fast[1].split(':')[0]}")
    if isinstance(fast, PatientPlan):
        assert repr(fast) == repr(plain)
        assert fast.model_dump_json() == plain.model_dump_json()
        # Planning the same patient again (every cache warm) changes nothing.
        _compare(plan_patient(protocol, inputs), plain)


@settings(max_examples=400, deadline=None)
@given(
    zone=st.sampled_from(["Europe/London", "America/New_York", "Asia/Shanghai", "Asia/Tehran"]),
    instant=st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31)),
    near=st.sampled_from([None, *SPECIAL_DAYS]),
    months=st.integers(0, 25),
    days=st.integers(0, 400),
    hours=st.integers(0, 72),
)
def test_offset_datetime_equals_the_plain_path(
    zone: str, instant: datetime, near: date | None, months: int, days: int, hours: int
) -> None:
    if near is not None:  # a start within a day of a transition, any minute (fold=1 times included)
        instant = datetime.combine(near, time()) + timedelta(minutes=instant.minute + 60 * instant.hour)
    start = plain_plan._resolve_instant(instant.replace(tzinfo=UTC), plain_plan._zone(zone))
    offset = Offset(months=months, days=days, hours=hours)
    _compare(schedule.offset_datetime(start, offset), plain_plan.offset_datetime(start, offset))
    # The same instant read in another zone is another start: the cache must not mix them up.
    other = plain_plan._resolve_instant(instant.replace(tzinfo=UTC), plain_plan._zone("Asia/Tehran"))
    _compare(schedule.offset_datetime(other, offset), plain_plan.offset_datetime(other, offset))
    assert offset.describe() == plain_plan.describe(offset)


@pytest.mark.parametrize("zone", ["Europe/London", "America/New_York"])
@pytest.mark.parametrize("day", SPECIAL_DAYS)
@pytest.mark.parametrize("at", TIMES)
def test_local_start_equals_the_plain_path(zone: str, day: date, at: time) -> None:
    for _ in range(2):  # cold and cached
        _compare(schedule.local_start(day, at, zone), plain_plan.local_start(day, at, zone))


def test_fall_back_hour_start_is_not_confused_with_its_twin() -> None:
    # 01:30 happens twice on 2027-10-31 in London; equal wall clocks in one zone compare equal in
    # Python whatever the fold, so the cache key must carry the fold.
    zone = plain_plan._zone("Europe/London")
    first = plain_plan._resolve_instant(datetime(2027, 10, 31, 0, 30, tzinfo=UTC), zone)
    second = plain_plan._resolve_instant(datetime(2027, 10, 31, 1, 30, tzinfo=UTC), zone)
    assert (first.hour, first.fold, second.hour, second.fold) == (1, 0, 1, 1)
    for start in (first, second, first):
        moved = schedule.offset_datetime(start, Offset(hours=1))
        _compare(moved, plain_plan.offset_datetime(start, Offset(hours=1)))


def test_trusted_models_copy_and_validate_like_validated_ones() -> None:
    plan = plan_patient(
        get_protocol("NCT04822922"), PatientInputs(arm="high", weight=Weight.kg(62), anchor=date(2026, 12, 1))
    )
    first, second = plan.administrations[:2]
    moved = first.model_copy(update={"target_date": date(2026, 12, 9)})
    assert moved.target_date == date(2026, 12, 9) and first.target_date == date(2026, 12, 1)
    assert first.model_fields_set == second.model_fields_set == set(type(first).model_fields)
    for model in [plan, *plan.administrations, *plan.assessments]:
        assert type(model).model_validate(model.model_dump()) == model
    with pytest.raises(Exception, match="frozen"):
        first.label = "x"  # type: ignore[misc]
    assert isinstance(plan.assessments[0].due, pendulum.DateTime)
