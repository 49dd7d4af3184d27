"""Times are stored in UTC: a pendulum time (the core's) becomes the same instant as a plain
``datetime``, through DST changes (the repeated hour on both of its folds), leap days and far years."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pendulum
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dosing.errors import DosingError
from dosing.store.ledger._common import _utc

ZONES = ["Europe/London", "America/New_York", "Asia/Shanghai", "Australia/Lord_Howe", "UTC"]


@settings(max_examples=400, deadline=None)
@given(
    st.datetimes(min_value=datetime(1901, 1, 1), max_value=datetime(9998, 12, 31)),
    st.sampled_from(ZONES),
    st.sampled_from([0, 1]),
)
def test_a_pendulum_time_is_the_same_instant_in_utc(wall: datetime, zone: str, fold: int) -> None:
    moment = pendulum.instance(wall.replace(fold=fold), tz=zone)
    converted = _utc(moment)
    expected = moment.astimezone(UTC)
    assert type(converted) is datetime and converted.tzinfo is UTC
    assert converted == expected
    assert converted.isoformat() == expected.isoformat()


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        # London's repeated hour on 31 October 2027: as summer time (fold 0), then as winter time
        # (fold 1, pendulum's default).
        (pendulum.datetime(2027, 10, 31, 1, 30, tz="Europe/London", fold=0), "2027-10-31T00:30:00+00:00"),
        (pendulum.datetime(2027, 10, 31, 1, 30, tz="Europe/London"), "2027-10-31T01:30:00+00:00"),
        (pendulum.datetime(2028, 2, 29, 8, 0, tz="Asia/Shanghai"), "2028-02-29T00:00:00+00:00"),
        (datetime(2026, 12, 1, 9, 0, tzinfo=ZoneInfo("America/New_York")), "2026-12-01T14:00:00+00:00"),
        (datetime(2026, 12, 1, 9, 0, tzinfo=timezone(timedelta(hours=8))), "2026-12-01T01:00:00+00:00"),
    ],
)
def test_worked_examples(moment: datetime, expected: str) -> None:
    assert _utc(moment).isoformat() == expected


def test_a_time_without_an_offset_is_refused() -> None:
    with pytest.raises(DosingError, match="has no offset"):
        _utc(datetime(2026, 12, 1, 9, 0))
