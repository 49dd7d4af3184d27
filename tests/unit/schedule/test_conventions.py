"""Day numbering: the protocol says which day the anchor is; the engine never guesses."""

from datetime import date

from dosing.protocol import AdministrationSpec, DayNumbering, TargetWindow, WindowDays
from dosing.schedule import days_from_anchor, planned_dates, study_day_label, window_offsets

ANCHOR = date(2026, 12, 1)
SITE_DEFAULT = WindowDays(before=1, after=1)


def one(spec, numbering):
    (dates,) = planned_dates([spec], numbering, ANCHOR, SITE_DEFAULT)
    return dates


def test_anchor_is_day_0_post_transplant_day_1_is_the_day_after_the_transplant():
    dates = one(AdministrationSpec(label="x", day=1), DayNumbering.ANCHOR_IS_DAY_0)
    assert dates.target_date == date(2026, 12, 2)
    assert dates.study_day == "day 1"


def test_anchor_is_day_0_day_0_is_the_anchor_day_itself():
    assert one(AdministrationSpec(label="x", day=0), DayNumbering.ANCHOR_IS_DAY_0).target_date == ANCHOR


def test_anchor_is_day_1_day_1_is_the_anchor_day_and_day_4_three_days_later():
    assert one(AdministrationSpec(label="x", day=1), DayNumbering.ANCHOR_IS_DAY_1).target_date == ANCHOR
    assert one(AdministrationSpec(label="x", day=4), DayNumbering.ANCHOR_IS_DAY_1).target_date == date(
        2026, 12, 4
    )


def test_anchor_is_week_0_week_0_is_the_anchor_day_and_week_n_is_7n_days_later():
    week0 = one(AdministrationSpec(label="x", week=0), DayNumbering.ANCHOR_IS_WEEK_0)
    week3 = one(AdministrationSpec(label="x", week=3), DayNumbering.ANCHOR_IS_WEEK_0)
    assert (week0.target_date, week3.target_date) == (ANCHOR, date(2026, 12, 22))
    assert (week0.study_day, week3.study_day) == ("week 0", "week 3")
    assert days_from_anchor(AdministrationSpec(label="x", week=3), DayNumbering.ANCHOR_IS_WEEK_0) == 21


def test_an_explicit_window_of_days_is_read_in_the_same_numbering():
    spec = AdministrationSpec(label="x", day=1, window=TargetWindow(earliest_day=1, latest_day=5))
    assert window_offsets(spec, DayNumbering.ANCHOR_IS_DAY_0, SITE_DEFAULT) == (1, 5)
    assert window_offsets(spec, DayNumbering.ANCHOR_IS_DAY_1, SITE_DEFAULT) == (0, 4)


def test_a_tolerance_window_is_around_the_target_day():
    spec = AdministrationSpec(label="x", day=8, window=WindowDays(before=0, after=2))
    dates = one(spec, DayNumbering.ANCHOR_IS_DAY_1)
    assert (dates.earliest, dates.target_date, dates.latest) == (
        date(2026, 12, 8),
        date(2026, 12, 8),
        date(2026, 12, 10),
    )


def test_without_a_protocol_window_the_site_default_applies():
    dates = one(AdministrationSpec(label="x", week=1), DayNumbering.ANCHOR_IS_WEEK_0)
    assert (dates.earliest, dates.latest) == (date(2026, 12, 7), date(2026, 12, 9))


def test_study_day_labels_follow_the_numbering():
    assert study_day_label(AdministrationSpec(label="x", day=10), DayNumbering.ANCHOR_IS_DAY_1) == "day 10"
    assert study_day_label(AdministrationSpec(label="x", week=2), DayNumbering.ANCHOR_IS_WEEK_0) == "week 2"


def test_sequence_numbers_follow_the_protocol_order():
    specs = [AdministrationSpec(label=f"dose {n}", day=n) for n in (1, 8, 15)]
    dates = planned_dates(specs, DayNumbering.ANCHOR_IS_DAY_1, ANCHOR, SITE_DEFAULT)
    assert [(d.sequence, d.label) for d in dates] == [(1, "dose 1"), (2, "dose 8"), (3, "dose 15")]
