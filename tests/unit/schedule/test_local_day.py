"""Days are the site's local calendar days: an instant is read in the site's zone first."""

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from dosing.catalog import get_protocol
from dosing.errors import DosingError
from dosing.schedule import local_anchor_date
from tests.unit.helpers import plan


def test_an_anchor_instant_late_in_the_utc_day_lands_on_the_next_local_day_in_shanghai():
    # 17:00 UTC on 1 December is 01:00 on 2 December in Shanghai (+08:00): day 1 is 2 December.
    recruited = datetime(2026, 12, 1, 17, 0, tzinfo=UTC)
    middle = plan("NCT04822922", "middle", anchor=recruited)
    assert middle.anchor_date == date(2026, 12, 2)
    assert [a.target_date.day for a in middle.administrations] == [2, 5, 8, 11]


def test_an_anchor_instant_just_before_local_midnight_stays_on_its_local_day():
    assert local_anchor_date(datetime(2026, 12, 1, 15, 59, tzinfo=UTC), "Asia/Shanghai") == date(2026, 12, 1)
    assert local_anchor_date(datetime(2026, 12, 1, 16, 0, tzinfo=UTC), "Asia/Shanghai") == date(2026, 12, 2)


def test_tehran_half_hour_offset_is_respected():
    assert local_anchor_date(datetime(2026, 12, 1, 20, 29, tzinfo=UTC), "Asia/Tehran") == date(2026, 12, 1)
    assert local_anchor_date(datetime(2026, 12, 1, 20, 30, tzinfo=UTC), "Asia/Tehran") == date(2026, 12, 2)


def test_an_instant_with_any_offset_is_read_in_the_site_zone():
    new_york_evening = datetime(2026, 12, 1, 20, 0, tzinfo=timezone(timedelta(hours=-5)))
    assert local_anchor_date(new_york_evening, "Asia/Shanghai") == date(2026, 12, 2)


def test_a_local_date_is_taken_as_it_is():
    assert local_anchor_date(date(2026, 12, 1), "Asia/Shanghai") == date(2026, 12, 1)


def test_a_bare_local_time_without_an_offset_is_refused_as_ambiguous():
    with pytest.raises(DosingError) as refused:
        plan("NCT04822922", "middle", anchor=datetime(2026, 12, 1, 23, 30))
    assert refused.value.field == "anchor"
    assert refused.value.rule == "date, or date-time with a UTC offset"


def test_planned_start_carries_the_site_offset():
    starts = [a.planned_start.isoformat() for a in plan("NCT05871463", "exosome").administrations]
    assert starts[0] == "2026-12-01T09:00:00+03:30"
    protocol = get_protocol("SYSU3-MSCEV-LT")
    (dose,) = plan("", "msc-ev", protocol=protocol).administrations
    assert dose.planned_start.isoformat() == "2026-12-02T10:00:00+08:00"
