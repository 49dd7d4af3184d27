"""Calendar months: month ends clamp, leap days count, and every offset is taken from the anchor."""

from datetime import date

import pytest

from dosing.protocol import Offset
from dosing.schedule import add_days, offset_date
from tests.unit.helpers import plan


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (date(2028, 1, 31), 1, date(2028, 2, 29)),
        (date(2027, 1, 31), 1, date(2027, 2, 28)),
        (date(2028, 2, 29), 12, date(2029, 2, 28)),
        (date(2028, 2, 29), 48, date(2032, 2, 29)),
        (date(2028, 3, 31), 1, date(2028, 4, 30)),
        (date(2028, 12, 31), 2, date(2029, 2, 28)),
    ],
)
def test_one_month_after_a_month_end_is_the_last_day_of_the_next_month(start, months, expected):
    assert offset_date(start, Offset(months=months)) == expected


def test_jan_31_plus_1_month_is_feb_29_2028_for_the_sae_review():
    review = next(
        a
        for a in plan("NCT04822922", "middle", anchor=date(2028, 1, 31)).assessments
        if a.name == "Safety of treatment (SAE review)"
    )
    assert review.due_date == date(2028, 2, 29)


def test_monthly_labs_from_jan_31_are_each_counted_from_the_anchor_not_chained():
    labs = [
        a.due_date
        for a in plan("SYSU3-MSCEV-LT", "control", anchor=date(2028, 1, 31)).assessments
        if a.name.startswith("Liver function")
    ]
    assert labs == [
        date(2028, 2, 29),
        date(2028, 3, 31),
        date(2028, 4, 30),
        date(2028, 5, 31),
        date(2028, 6, 30),
        date(2028, 7, 31),
    ]


def test_a_leap_day_anchor_plans_doses_and_one_year_follow_up():
    leap = plan("SYSU3-MSCEV-LT", "msc-ev", anchor=date(2028, 2, 29))
    (dose,) = leap.administrations
    assert (dose.target_date, dose.earliest, dose.latest) == (
        date(2028, 3, 1),
        date(2028, 3, 1),
        date(2028, 3, 5),
    )
    survival = next(a for a in leap.assessments if a.name == "Patient and graft survival")
    assert survival.due_date == date(2029, 2, 28)


def test_weekly_doses_step_over_the_leap_day():
    doses = plan(
        "MSC-ACLF-WEEKLY", "msc", anchor=date(2028, 2, 22), dose_per_kg="5e5 cells/kg"
    ).administrations
    assert [d.target_date for d in doses] == [
        date(2028, 2, 22),
        date(2028, 2, 29),
        date(2028, 3, 7),
        date(2028, 3, 14),
    ]


def test_90_days_is_90_calendar_days():
    efficacy = next(
        a
        for a in plan("NCT04822922", "low", anchor=date(2028, 1, 1)).assessments
        if a.name == "Short-time efficacy"
    )
    assert efficacy.due_date == date(2028, 3, 31)
    assert add_days(date(2028, 1, 1), 90) == date(2028, 3, 31)
