"""The text writer (``calendars.ics.to_ical``) writes what icalendar writes, byte for byte.

``to_ical_icalendar`` builds the same file with icalendar's components (the writer before issue 15);
icalendar's parser reads both, event by event. Folding and escaping are also checked against RFC 5545
directly: no physical line over 75 octets, no UTF-8 character split, unfolding and unescaping give
back the text.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from icalendar import Calendar, Component

from calendars.events import CalendarEvent, EventKind, EventStatus, plan_events
from calendars.ics import escape_text, fold, to_ical, to_ical_icalendar
from tests.calendars.conftest import PLANNED_AT, plan_for, protocol_at

ZONES = ["Europe/London", "America/New_York", "Asia/Shanghai", "Asia/Tehran", "Australia/Lord_Howe"]
#: Text a summary or a description may hold: ASCII with every character TEXT escapes, two- three- and
#: four-byte UTF-8, and the literal ``\N`` icalendar reads as a newline.
TEXT = st.lists(
    st.sampled_from([*"abc XYZ019-:;,\\\n\r^\"'", "é", "ß", "中", "€", "😀", "\\N", "\r\n"]), max_size=120
).map("".join)


@st.composite
def events(draw: st.DrawFn) -> CalendarEvent:
    zone_name = draw(st.sampled_from(ZONES))
    zone = ZoneInfo(zone_name)
    all_day = draw(st.booleans())
    day = draw(st.dates(min_value=date(2026, 1, 1), max_value=date(2029, 12, 31)))
    start: datetime | date
    end: datetime | date
    if all_day:
        start, end = day, day + timedelta(days=draw(st.integers(1, 9)))
    else:
        # Any minute of the day, so fall-back hours (written in UTC) and spring-forward gaps occur.
        clock = time(draw(st.integers(0, 23)), draw(st.integers(0, 59)), draw(st.integers(0, 59)))
        start = datetime.combine(day, clock, tzinfo=zone).replace(fold=draw(st.integers(0, 1)))
        later = start.astimezone(UTC) + timedelta(minutes=draw(st.integers(1, 600)))
        end = later.astimezone(zone)
    stamp = datetime(2026, 11, 1, 8, tzinfo=UTC) + timedelta(seconds=draw(st.integers(0, 10**7)))
    return CalendarEvent(
        uid=draw(st.sampled_from(["a@cell-dosing.invalid", "x,y;z\\w@h", "long-" * 20])),
        kind=EventKind.DOSE,
        protocol_id="P",
        subject_code="S-001",
        site="site",
        timezone=zone_name,
        summary=draw(TEXT),
        description=draw(TEXT),
        all_day=all_day,
        start=start,
        end=end,
        sequence=draw(st.integers(0, 12)),
        status=draw(st.sampled_from(list(EventStatus))),
        stamp=stamp,
        wants_alarm=draw(st.booleans()),
    )


ALARMS = st.sampled_from([None, 0, 1, 90, 120, 1440, 1530])


@settings(max_examples=150, deadline=None)
@given(st.lists(events(), min_size=1, max_size=6), ALARMS, st.sampled_from(["ward", "Ward 3, é;x"]))
def test_same_bytes_as_icalendar(items: list[CalendarEvent], alarm: int | None, name: str) -> None:
    assert to_ical(items, name=name, alarm_minutes=alarm) == to_ical_icalendar(
        items, name=name, alarm_minutes=alarm
    )


def _values(component: Component) -> dict[str, object]:
    # Decoded values: datetimes with their zones, texts unescaped, integers, durations.
    return {key: component.decoded(key) for key in component}


def _parsed(ics: bytes) -> list[dict[str, object]]:
    calendar = Calendar.from_ical(ics)
    return [
        {**_values(event), "alarms": [_values(alarm) for alarm in event.walk("VALARM")]}
        for event in calendar.walk("VEVENT")
    ]


@settings(max_examples=60, deadline=None)
@given(st.lists(events(), min_size=1, max_size=4), ALARMS)
def test_icalendar_reads_the_same_events(items: list[CalendarEvent], alarm: int | None) -> None:
    fast = _parsed(to_ical(items, name="ward", alarm_minutes=alarm))
    reference = _parsed(to_ical_icalendar(items, name="ward", alarm_minutes=alarm))
    assert fast == reference
    calendar = Calendar.from_ical(to_ical(items, name="ward", alarm_minutes=alarm))
    for event, item in zip(calendar.walk("VEVENT"), items, strict=True):
        assert str(event["SUMMARY"]) == _normalised(item.summary)
        assert str(event["DESCRIPTION"]) == _normalised(item.description)
        assert str(event["UID"]) == item.uid


def _normalised(text: str) -> str:
    # What TEXT can carry back: a literal \N, CRLF and a lone CR are all a newline (RFC 5545 3.3.11).
    return text.replace("\\N", "\n").replace("\r\n", "\n").replace("\r", "\n")


@given(TEXT, st.sampled_from(["SUMMARY:", "DESCRIPTION:", "X:"]))
def test_folded_lines_are_at_most_75_octets_and_whole_characters(text: str, prefix: str) -> None:
    line = prefix + escape_text(text)
    folded = fold(line)
    physical = folded.split("\r\n")
    for index, part in enumerate(physical):
        encoded = part.encode("utf-8")  # a split surrogate or a cut character would not round-trip
        assert len(encoded) <= 75
        if index:
            assert part.startswith(" ")
    assert folded.replace("\r\n ", "") == line


def test_fold_boundaries() -> None:
    assert fold("x" * 74) == "x" * 74
    assert fold("x" * 75) == "x" * 74 + "\r\n x"
    assert fold("x" * 148) == "x" * 74 + "\r\n " + "x" * 74
    # A backslash never ends a line: it moves to the next one with the character it escapes.
    assert fold("x" * 73 + "\\,y") == "x" * 73 + "\r\n \\,y"
    # 3-byte characters: 24 of them are 72 octets; the 25th would make 75, so it starts the next line.
    assert fold("中" * 25) == "中" * 24 + "\r\n 中"


def test_escaping() -> None:
    assert escape_text("a\\b;c,d\ne") == "a\\\\b\\;c\\,d\\ne"
    assert escape_text("one\r\ntwo\rthree") == "one\\ntwo\\nthree"


@pytest.mark.parametrize(
    ("zone", "anchor"),
    [
        ("Europe/London", date(2027, 10, 20)),
        ("America/New_York", date(2027, 3, 3)),
        ("Asia/Tehran", date(2028, 2, 22)),
    ],
)
def test_ward_calendar_same_bytes(zone: str, anchor: date) -> None:
    protocol = protocol_at("MSC-ACLF-WEEKLY", zone)
    plan = plan_for(protocol, anchor)
    items = plan_events(protocol, plan, subject_code="S-001", revised_at=PLANNED_AT)
    for alarm in (None, 120):
        assert to_ical(items, name="ward", alarm_minutes=alarm) == to_ical_icalendar(
            items, name="ward", alarm_minutes=alarm
        )


def test_other_zones_fall_back_to_icalendar() -> None:
    # A start in a zone the text writer does not format (here UTC by its IANA name) is written by
    # icalendar for that event; the file stays identical.
    start = datetime(2027, 1, 5, 9, tzinfo=ZoneInfo("Etc/UTC"))
    item = CalendarEvent(
        uid="u@h",
        kind=EventKind.ASSESSMENT,
        protocol_id="P",
        subject_code="S",
        site="s",
        timezone="Etc/UTC",
        summary="s",
        description="d",
        all_day=False,
        start=start,
        end=start + timedelta(minutes=30),
        sequence=0,
        status=EventStatus.CONFIRMED,
        stamp=PLANNED_AT,
    )
    assert to_ical([item], name="w", alarm_minutes=5) == to_ical_icalendar([item], name="w", alarm_minutes=5)
