"""Issue 9: plausibility limits, study opening, the week-0 window rule and the course total (pure core)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dosing.catalog import get_protocol
from dosing.course_total import CourseDose, course_total
from dosing.errors import DosingError, HardStop
from dosing.plan import check_study_takes_patients
from dosing.plausibility import (
    SiteLimits,
    check_body_weight,
    check_delayed_day,
    check_given_amount,
    check_given_day,
    check_given_volume,
    check_weight_measured_on,
    check_year,
    delivered_from_volume,
)
from dosing.protocol import Protocol, StudyStatus
from dosing.units import Amount, AmountUnit, Percent, Volume, Weight


def mg(value: str | Decimal) -> Amount:
    return Amount(value=Decimal(value), unit=AmountUnit.MG)


@pytest.mark.parametrize("kg", ["29.9", "300.1", "620", "0.5", "6.2", "3000", "1e9"])
def test_weights_outside_the_adult_range_are_refused(kg: str) -> None:
    with pytest.raises(HardStop, match="not a plausible adult weight"):
        check_body_weight(Weight(value=Decimal(kg)))


@pytest.mark.parametrize("kg", ["30", "62", "300"])
def test_adult_weights_pass(kg: str) -> None:
    check_body_weight(Weight(value=Decimal(kg)))


@pytest.mark.parametrize("day", [date(1900, 1, 1), date(1989, 12, 31), date(2101, 1, 1), date(9999, 12, 31)])
def test_years_outside_the_sites_range_are_refused(day: date) -> None:
    with pytest.raises(DosingError, match="1990-2100"):
        check_year(day, "at")


def test_a_site_moves_its_years() -> None:
    check_year(date(1985, 1, 1), "at", SiteLimits(earliest_year=1980))


def test_weight_measured_on_is_not_in_the_future_nor_too_old() -> None:
    check_weight_measured_on(date(2026, 11, 1), date(2026, 12, 1))
    with pytest.raises(HardStop, match="in the future"):
        check_weight_measured_on(date(2026, 12, 2), date(2026, 12, 1))
    with pytest.raises(HardStop, match="31 days before"):
        check_weight_measured_on(date(2026, 10, 31), date(2026, 12, 1))


def test_an_amount_above_the_order_beyond_the_tolerance_is_an_overdose() -> None:
    check_given_amount(mg("14.74"), mg("13.4"), Percent(value=Decimal(10)))
    with pytest.raises(HardStop, match="overdose"):
        check_given_amount(mg("14.75"), mg("13.4"), Percent(value=Decimal(10)))


def test_less_than_the_order_beyond_the_tolerance_is_partial_only_when_said() -> None:
    ten_percent = Percent(value=Decimal(10))
    check_given_amount(mg("12.06"), mg("13.4"), ten_percent)  # 10% under: within the tolerance
    with pytest.raises(HardStop, match=r"1.34 mg is 90% below the order .*\(--partial\)"):
        check_given_amount(mg("1.34"), mg("13.4"), ten_percent)  # an extra zero in the wrong place
    check_given_amount(mg("1.34"), mg("13.4"), ten_percent, partial=True)
    with pytest.raises(HardStop, match=r"volume: 6 mL delivers 0.804 mg, 94% less"):
        check_given_amount(
            mg("0.804"), mg("13.4"), ten_percent, final_volume=Volume(value=Decimal(100)),
            volume=Volume(value=Decimal(6)),
        )  # fmt: skip


def test_nothing_given_is_not_a_dose_given_even_as_a_partial_one() -> None:
    for partial in (False, True):
        with pytest.raises(HardStop, match=r"no dose .*dosing skip"):
            check_given_amount(mg("0"), mg("13.4"), Percent(value=Decimal(10)), partial=partial)


def test_the_day_a_delayed_dose_is_expected_is_one_it_could_be_given_on() -> None:
    days = {
        "planned_on": date(2026, 12, 8),
        "enrolled_on": date(2026, 12, 2),
        "window_earliest": date(2026, 12, 8),
        "days_early_allowed": 1,
    }
    check_delayed_day(date(2027, 3, 8), **days)  # 90 days: the longest delay by default
    with pytest.raises(HardStop, match=r"given on: 2027-03-09 is 91 days after .*DOSING_MAX_DELAY_DAYS"):
        check_delayed_day(date(2027, 3, 9), **days)
    with pytest.raises(HardStop, match="16802 days after the planned 2026-12-08; check the year"):
        check_delayed_day(date(2072, 12, 8), **days)
    with pytest.raises(DosingError, match="given on: 2026-11-08 is before enrollment"):
        check_delayed_day(date(2026, 11, 8), **days)
    check_delayed_day(date(2027, 6, 1), **days, limits=SiteLimits(max_delay_days=200))
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        SiteLimits(max_delay_days=0)


def test_a_partial_volume_delivers_its_share_of_the_bag() -> None:
    assert delivered_from_volume(mg("13.4"), Volume(value=Decimal(50)), Volume(value=Decimal(100))) == mg(
        "6.7"
    )
    with pytest.raises(HardStop, match="more than the bag holds"):
        delivered_from_volume(mg("13.4"), Volume(value=Decimal(101)), Volume(value=Decimal(100)))


def test_a_dose_before_enrollment_or_long_before_its_window_is_refused() -> None:
    check_given_day(date(2026, 12, 3), enrolled_on=date(2026, 12, 1), window_earliest=date(2026, 12, 4),
                    days_early_allowed=1)  # fmt: skip
    with pytest.raises(DosingError, match="before enrollment"):
        check_given_day(date(2026, 11, 30), enrolled_on=date(2026, 12, 1), window_earliest=date(2026, 12, 1),
                        days_early_allowed=1)  # fmt: skip
    with pytest.raises(DosingError, match="2 days before the window opens"):
        check_given_day(date(2026, 12, 2), enrolled_on=date(2026, 12, 1), window_earliest=date(2026, 12, 4),
                        days_early_allowed=1)  # fmt: skip


@pytest.mark.parametrize("status", [StudyStatus.UNKNOWN, StudyStatus.NOT_YET_RECRUITING])
def test_unknown_and_not_yet_recruiting_take_patients_only_when_the_site_opened_them(
    status: StudyStatus,
) -> None:
    opened = get_protocol("MSC-ACLF-WEEKLY").model_copy(update={"status": status})
    check_study_takes_patients(opened)
    closed = opened.model_copy(update={"enrollment_opening": None})
    with pytest.raises(HardStop, match="enrollment_opening"):
        check_study_takes_patients(closed)


def _raw(protocol_id: str) -> dict[str, object]:
    return get_protocol(protocol_id).model_dump(mode="json")


def test_a_withdrawn_study_cannot_be_opened_by_the_site() -> None:
    data = _raw("MSC-ACLF-WEEKLY")
    data["status"] = "withdrawn"
    with pytest.raises(Exception, match="cannot be opened by the site"):
        Protocol.model_validate(data)


def test_a_window_opening_before_enrollment_is_refused() -> None:
    data = _raw("MSC-ACLF-WEEKLY")
    first = dict(data["administrations"][0])  # type: ignore[index]
    first["window"] = {"before": 1, "after": 1}
    data["administrations"] = [first, *data["administrations"][1:]]  # type: ignore[index]
    with pytest.raises(Exception, match="opens before enrollment"):
        Protocol.model_validate(data)


def test_forty_mg_with_dose_1_given_and_2_and_3_not_is_13_4_of_40() -> None:
    course = course_total(
        mg(40),
        [
            CourseDose(ordered=mg("13.4"), outcome="given", delivered=mg("13.4")),
            CourseDose(ordered=mg("13.3"), outcome="not_given"),
            CourseDose(ordered=mg("13.3"), outcome="not_given"),
        ],
        policy="forfeit",
    )
    assert course.describe() == "13.4 mg of 40 mg delivered (26.6 mg forfeited)"


amounts = st.decimals(min_value=Decimal("0.1"), max_value=Decimal(30), places=1)
outcomes = st.sampled_from(["given", "not_given", "open"])


@given(
    doses=st.lists(st.tuples(amounts, outcomes, amounts), min_size=1, max_size=6),
    cap=st.decimals(min_value=Decimal(1), max_value=Decimal(40), places=1),
)
def test_redistribution_never_exceeds_the_cap_nor_invents_product(
    doses: list[tuple[Decimal, str, Decimal]], cap: Decimal
) -> None:
    course_doses = [
        CourseDose(
            ordered=mg(ordered),
            outcome=outcome,
            delivered=mg(min(given_, ordered)) if outcome == "given" else None,
        )  # type: ignore[arg-type]
        for ordered, outcome, given_ in doses
    ]
    total = mg(sum((ordered for ordered, _, _ in doses), Decimal(0)))
    course = course_total(total, course_doses, policy="redistribute", per_dose_maximum=mg(cap))
    planned_open = [d.ordered.value for d in course_doses if d.outcome == "open"]
    for before, after in zip(planned_open, course.open_doses, strict=True):
        assert after.value >= before
        assert after.value <= max(before, cap)
    # Delivered + still to give + forfeited is the total: nothing lost, nothing invented.
    still = sum((a.value for a in course.open_doses), Decimal(0))
    assert course.delivered.value + still + course.forfeited.value == total.value


def test_a_volume_given_below_what_can_be_measured_is_refused() -> None:
    """ "0.006 mL" of a 100 mL bag is a slip (for 6 or 60 mL), not a partial dose a thousand times too
    small; the protocol's volume increment (0.1 mL) is the smallest volume measured."""
    bag, step = Volume(value=Decimal(100)), Volume(value=Decimal("0.1"))
    with pytest.raises(HardStop, match="cannot have been measured"):
        check_given_volume(Volume(value=Decimal("0.006")), bag, step)
    check_given_volume(Volume(value=Decimal("0.1")), bag, step)
    check_given_volume(Volume(value=Decimal("100")), bag, step)


def test_an_amount_given_below_what_the_smallest_measured_volume_delivers_is_refused() -> None:
    """2.48 x10^7 cells in 100 mL: 0.1 mL (the increment) delivers 2.48 x10^4; "x10^3" typed for "x10^7"
    is a slip, even confirmed as a partial dose."""
    order = Amount(value=Decimal("2.48E+7"), unit=AmountUnit.CELLS)
    bag, step = Volume(value=Decimal(100)), Volume(value=Decimal("0.1"))
    tolerance = Percent(value=Decimal(10))
    typed = Amount(value=Decimal("2.48E+3"), unit=AmountUnit.CELLS)
    with pytest.raises(HardStop, match="less than the bag can have given"):
        check_given_amount(typed, order, tolerance, partial=True, final_volume=bag, increment=step)
    least = Amount(value=Decimal("2.48E+4"), unit=AmountUnit.CELLS)
    check_given_amount(least, order, tolerance, partial=True, final_volume=bag, increment=step)
