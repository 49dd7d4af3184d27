"""The shortcuts in ``calendars.events`` give what the plain calls give: UIDs (published, so they must
never change), local times and clock texts."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pendulum
from hypothesis import given, settings
from hypothesis import strategies as st

from calendars import events
from calendars.events import PROJECT_NAMESPACE, UID_DOMAIN, event_uid

ZONES = ["Europe/London", "America/New_York", "Asia/Shanghai", "Asia/Tehran", "UTC"]


@given(st.text(max_size=40), st.text(max_size=20), st.text(max_size=20))
def test_uid_is_uuid5(protocol_id: str, subject: str, item: str) -> None:
    name = "/".join((protocol_id, subject, item))
    assert event_uid(protocol_id, subject, item) == f"{uuid.uuid5(PROJECT_NAMESPACE, name)}@{UID_DOMAIN}"


@settings(max_examples=300)
@given(
    instant=st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31)),
    source=st.sampled_from(ZONES),
    target=st.sampled_from(ZONES),
    as_pendulum=st.booleans(),
)
def test_local_time_is_the_plain_conversion(
    instant: datetime, source: str, target: str, as_pendulum: bool
) -> None:
    moment = instant.replace(tzinfo=UTC).astimezone(ZoneInfo(source))  # fold=1 in a fall-back hour
    if as_pendulum:
        moment = pendulum.instance(moment)
    zone = ZoneInfo(target)
    for _ in range(2):  # cold and cached
        local = events._in_zone(moment, zone)
        plain = events._convert(moment, zone)
        assert type(local) is type(plain) is datetime
        assert (local, local.isoformat(), local.fold, local.tzinfo) == (
            plain,
            plain.isoformat(),
            plain.fold,
            plain.tzinfo,
        )
        assert events._clock(local) == local.strftime("%Y-%m-%d %H:%M")


def test_the_two_01_30s_of_a_fall_back_night_stay_apart() -> None:
    london = ZoneInfo("Europe/London")
    first = datetime(2027, 10, 31, 0, 30, tzinfo=UTC).astimezone(london)
    second = datetime(2027, 10, 31, 1, 30, tzinfo=UTC).astimezone(london)
    assert first == second.replace(fold=0) and first.fold == 0 and second.fold == 1
    utc = ZoneInfo("UTC")
    assert events._in_zone(first, utc).hour == 0
    assert events._in_zone(second, utc).hour == 1
