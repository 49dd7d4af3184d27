"""Daylight-saving transitions: doses stay on the local wall clock; elapsed hours stay elapsed.

Europe/London: spring forward 2027-03-28 01:00 GMT -> 02:00 BST, fall back 2027-10-31 02:00 BST -> 01:00.
America/New_York: spring forward 2027-03-14 02:00 EST -> 03:00 EDT, fall back 2027-11-07 02:00 -> 01:00.
"""

from datetime import date, time
from itertools import pairwise

import pytest

from dosing.catalog import get_protocol
from dosing.protocol import Offset
from dosing.schedule import local_start, offset_datetime
from tests.unit.helpers import in_zone, plan

WEEKLY = get_protocol("MSC-ACLF-WEEKLY")


def weekly_at(timezone, anchor, infusion_time=time(9, 0)):
    protocol = in_zone(WEEKLY, timezone, infusion_time=infusion_time)
    doses = plan("", "msc", anchor=anchor, dose_per_kg="5e5 cells/kg", protocol=protocol).administrations
    return [d.planned_start for d in doses]


@pytest.mark.parametrize(
    ("timezone", "anchor", "offsets"),
    [
        ("Europe/London", date(2027, 3, 14), ["+00:00", "+00:00", "+01:00", "+01:00"]),
        ("Europe/London", date(2027, 10, 17), ["+01:00", "+01:00", "+00:00", "+00:00"]),
        ("America/New_York", date(2027, 2, 28), ["-05:00", "-05:00", "-04:00", "-04:00"]),
        ("America/New_York", date(2027, 10, 24), ["-04:00", "-04:00", "-05:00", "-05:00"]),
    ],
    ids=["London spring forward", "London fall back", "New York spring forward", "New York fall back"],
)
def test_a_weekly_dose_at_09_00_local_stays_at_09_00_local_across_the_change(timezone, anchor, offsets):
    starts = weekly_at(timezone, anchor)
    assert [(s.hour, s.minute) for s in starts] == [(9, 0)] * 4
    assert [s.isoformat()[-6:] for s in starts] == offsets
    # 7 calendar days apart, so one interval is 167 or 169 hours, never 168 moved to 08:00 or 10:00.
    hours = sorted({(b - a).total_seconds() / 3600 for a, b in pairwise(starts)})
    assert hours in ([167.0, 168.0], [168.0, 169.0])


def test_a_dose_on_the_spring_forward_day_itself_keeps_its_wall_clock_time():
    (start,) = [s for s in weekly_at("Europe/London", date(2027, 3, 14)) if s.date() == date(2027, 3, 28)]
    assert start.isoformat() == "2027-03-28T09:00:00+01:00"


@pytest.mark.parametrize(
    ("timezone", "day", "wall", "expected"),
    [
        ("America/New_York", date(2027, 3, 14), time(2, 30), "2027-03-14T03:30:00-04:00"),
        ("Europe/London", date(2027, 3, 28), time(1, 30), "2027-03-28T02:30:00+01:00"),
    ],
)
def test_a_planned_time_in_the_spring_forward_gap_moves_forward_by_the_gap(timezone, day, wall, expected):
    assert local_start(day, wall, timezone).isoformat() == expected


@pytest.mark.parametrize(
    ("timezone", "day", "expected"),
    [
        ("America/New_York", date(2027, 11, 7), "2027-11-07T01:30:00-04:00"),
        ("Europe/London", date(2027, 10, 31), "2027-10-31T01:30:00+01:00"),
    ],
)
def test_an_ambiguous_fall_back_time_takes_its_first_summer_time_occurrence(timezone, day, expected):
    assert local_start(day, time(1, 30), timezone).isoformat() == expected


def test_a_weekly_infusion_planned_for_02_30_lands_at_03_30_only_on_the_spring_forward_day():
    starts = weekly_at("America/New_York", date(2027, 2, 28), infusion_time=time(2, 30))
    assert [s.isoformat() for s in starts] == [
        "2027-02-28T02:30:00-05:00",
        "2027-03-07T02:30:00-05:00",
        "2027-03-14T03:30:00-04:00",
        "2027-03-21T02:30:00-04:00",
    ]


def test_the_24_hour_safety_check_is_24_elapsed_hours_even_across_spring_forward():
    # NCT04822922 at a New York site, recruited 10 March 2027: infusion 2 (day 4) is on 13 March at
    # 09:00 EST; 24 h later the clocks read 10:00 EDT on 14 March.
    protocol = in_zone(get_protocol("NCT04822922"), "America/New_York")
    checks = [a for a in plan("", "middle", anchor=date(2027, 3, 10), protocol=protocol).assessments]
    second = next(a for a in checks if a.administration_sequence == 2)
    assert second.due.isoformat() == "2027-03-14T10:00:00-04:00"


def test_months_after_the_anchor_are_calendar_months_at_the_same_local_time_across_dst():
    protocol = in_zone(get_protocol("SYSU3-MSCEV-LT"), "Europe/London")
    labs = [a for a in plan("", "control", anchor=date(2027, 2, 15), protocol=protocol).assessments]
    assert [a.due.isoformat() for a in labs[:2]] == ["2027-03-15T10:00:00+00:00", "2027-04-15T10:00:00+01:00"]


def test_a_calendar_offset_landing_in_the_fall_back_hour_reads_it_like_local_start():
    # One week after 01:30 BST on 24 October 2027 is 01:30 on 31 October, which happens twice;
    # like a planned start, the follow-up takes the first (summer-time) occurrence.
    start = local_start(date(2027, 10, 24), time(1, 30), "Europe/London")
    assert offset_datetime(start, Offset(days=7)).isoformat() == "2027-10-31T01:30:00+01:00"
    assert offset_datetime(start, Offset(days=7, hours=1)).isoformat() == "2027-10-31T01:30:00+00:00"


def test_a_calendar_offset_landing_in_the_spring_forward_gap_moves_forward():
    start = local_start(date(2027, 3, 7), time(2, 30), "America/New_York")
    assert offset_datetime(start, Offset(days=7)).isoformat() == "2027-03-14T03:30:00-04:00"
    assert offset_datetime(start, Offset(months=1)).isoformat() == "2027-04-07T02:30:00-04:00"
