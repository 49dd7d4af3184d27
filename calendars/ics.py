"""Serialise calendar events to RFC 5545 (.ics).

Events are written with plain string formatting (:func:`to_ical`): icalendar's property objects and
per-character folding made a 10,000-event ward calendar take seconds. The VCALENDAR header and the
VTIMEZONE blocks still come from icalendar (cached), and :func:`to_ical_icalendar`, the same file
written through icalendar alone, is kept as the reference the fast writer is tested against byte for
byte (tests/calendars/test_fast_writer.py).

The file has no METHOD: it is a downloadable or subscribed calendar, not an iTIP invitation
(PUBLISH/REQUEST/CANCEL would need an ORGANIZER). Every zone an event uses gets a VTIMEZONE, because
clients such as Outlook shift events whose TZID they cannot resolve. Nothing in the output depends
on the clock: the same events always give the same bytes.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from functools import cache, lru_cache
from zoneinfo import ZoneInfo

from icalendar import Alarm, Calendar, Event, Timezone
from icalendar.enums import STATUS, TRANSP
from icalendar.prop import vDuration

from calendars.events import PROJECT_NAMESPACE, UID_DOMAIN, CalendarEvent

PRODID = "-//cell-dosing//infusion calendars//EN"
DEFAULT_ALARM_TEXT = "Pharmacy preparation"


@cache
def vtimezone(tzid: str, first_year: int, last_year: int) -> Timezone:
    """The VTIMEZONE of ``tzid`` for whole years; building one is slow (icalendar walks the tz rules).

    Whole years keep the cache small and the output stable: the block depends only on which years the
    events fall in, not on the exact dates.
    """
    return Timezone.from_tzid(tzid, first_date=date(first_year, 1, 1), last_date=date(last_year + 1, 1, 1))


def _zone_years(events: Sequence[CalendarEvent]) -> tuple[tuple[str, int, int], ...]:
    years: dict[str, tuple[int, int]] = {}
    for event in events:
        first, last = event.first_day.year, event.last_day.year
        # An all-day event has no TZID; its zone is still the site's, and one block per zone is cheap.
        low, high = years.get(event.timezone, (first, last))
        years[event.timezone] = (min(low, first), max(high, last))
    return tuple((tzid, low, high) for tzid, (low, high) in sorted(years.items()))


def _timezones(events: Sequence[CalendarEvent]) -> list[Timezone]:
    return [vtimezone(tzid, low, high) for tzid, low, high in _zone_years(events)]


def unambiguous(moment: datetime | date) -> datetime | date:
    """``moment`` as every client will read it back: a local time that happens twice is written in UTC.

    RFC 5545 says an ambiguous local time (01:30 on a fall-back night) means its first occurrence,
    but ical.js (Thunderbird) and libical (Evolution) both read the second: the same TZID text would
    be two instants an hour apart depending on the client. UTC is one instant for all of them, and
    a client still shows it at the site's wall time. Only times inside a fall-back hour are affected.
    """
    if not isinstance(moment, datetime) or moment.tzinfo is None:
        return moment
    other = moment.replace(fold=1 - moment.fold)
    if other.utcoffset() == moment.utcoffset():
        return moment
    return moment.astimezone(UTC)


def vevent(
    event: CalendarEvent, *, alarm_minutes: int | None = None, alarm_text: str = DEFAULT_ALARM_TEXT
) -> Event:
    component = Event.new(
        uid=event.uid,
        start=unambiguous(event.start),
        end=unambiguous(event.end),
        stamp=event.stamp,
        last_modified=event.stamp,
        sequence=event.sequence,
        status=STATUS(event.status.value),
        summary=event.summary,
        description=event.description,
        # A window of several days should not mark the nurse busy for the whole span.
        transparency=TRANSP.TRANSPARENT if event.all_day else None,
    )
    if alarm_minutes is not None and event.wants_alarm:
        alarm = Alarm.new(description=f"{alarm_text}: {event.summary}")
        alarm.add("ACTION", "DISPLAY")
        alarm.add("TRIGGER", -timedelta(minutes=alarm_minutes))
        component.add_component(alarm)
    return component


def calendar_uid(name: str) -> str:
    return f"{uuid.uuid5(PROJECT_NAMESPACE, 'calendar/' + name)}@{UID_DOMAIN}"


def to_ical(
    events: Iterable[CalendarEvent],
    *,
    name: str,
    alarm_minutes: int | None = None,
    alarm_text: str = DEFAULT_ALARM_TEXT,
) -> bytes:
    """The .ics file of ``events`` (in the order given), named ``name`` in the client's calendar list.

    ``alarm_minutes``: a reminder that many minutes before each dose and assessment still to come
    (e.g. 120 for pharmacy preparation); given and cancelled items get none.

    The same bytes as :func:`to_ical_icalendar`, written as text.
    """
    if alarm_minutes is not None and alarm_minutes < 0:
        raise ValueError("alarm_minutes is a lead time before the event: 0 or more")
    listed = list(events)
    header = _header(name, _zone_years(listed))
    trigger = _trigger(alarm_minutes) if alarm_minutes is not None else None
    parts = [header]
    for event in listed:
        text = _event_text(event, trigger, alarm_text)
        if text is None:  # a shape the text writer does not cover: icalendar writes that one
            text = vevent(event, alarm_minutes=alarm_minutes, alarm_text=alarm_text).to_ical().decode()
        parts.append(text)
    parts.append("END:VCALENDAR\r\n")
    return "".join(parts).encode("utf-8")


def to_ical_icalendar(
    events: Iterable[CalendarEvent],
    *,
    name: str,
    alarm_minutes: int | None = None,
    alarm_text: str = DEFAULT_ALARM_TEXT,
) -> bytes:
    """:func:`to_ical` through icalendar's components alone: the reference for the text writer."""
    if alarm_minutes is not None and alarm_minutes < 0:
        raise ValueError("alarm_minutes is a lead time before the event: 0 or more")
    listed = list(events)
    calendar = Calendar.new(prodid=PRODID, name=name, uid=calendar_uid(name))
    for timezone in _timezones(listed):
        calendar.add_component(timezone)
    for event in listed:
        calendar.add_component(vevent(event, alarm_minutes=alarm_minutes, alarm_text=alarm_text))
    serialised: bytes = calendar.to_ical()
    return serialised


_END = "END:VCALENDAR\r\n"


@lru_cache(maxsize=64)
def _header(name: str, zone_years: tuple[tuple[str, int, int], ...]) -> str:
    """BEGIN:VCALENDAR, its properties and the VTIMEZONE blocks, as icalendar writes them."""
    calendar = Calendar.new(prodid=PRODID, name=name, uid=calendar_uid(name))
    for tzid, low, high in zone_years:
        calendar.add_component(vtimezone(tzid, low, high))
    text: str = calendar.to_ical().decode("utf-8")
    if not text.endswith(_END):  # pragma: no cover - icalendar always closes the calendar last
        raise AssertionError("unexpected VCALENDAR serialisation")
    return text[: -len(_END)]


@lru_cache(maxsize=64)
def _trigger(minutes: int) -> str:
    text: bytes = vDuration(-timedelta(minutes=minutes)).to_ical()  # type: ignore[no-untyped-call]
    return text.decode("ascii")


def escape_text(text: str) -> str:
    """RFC 5545 TEXT escaping (backslash, semicolon, comma, newline), exactly as icalendar does it:
    a literal ``\\N`` is a newline, and CRLF or a lone CR are newlines too."""
    return (
        text.replace("\\N", "\n")
        .replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
        .replace("\r", "\\n")
    )


def fold(line: str) -> str:
    """A content line folded as RFC 5545 asks and as icalendar does it: at most 75 octets per physical
    line (74 of content after the leading space of a continuation), never inside a UTF-8 character,
    and never right after a backslash or caret (so an escape such as ``\\,`` stays on one line)."""
    if len(line) < 75 and line.isascii():
        return line
    if line.isascii():
        chunks = []
        start, size = 0, len(line)
        while size - start > 74:
            end = start + 74
            if line[end - 1] in "\\^":
                end -= 1
            chunks.append(line[start:end])
            start = end
        chunks.append(line[start:])
        return "\r\n ".join(chunks)
    return _fold_chars(line)


def _fold_chars(line: str) -> str:
    # The general case, one character at a time with its UTF-8 length (icalendar's own algorithm).
    folded: list[str] = []
    current: list[str] = []
    count = 0
    for char in line:
        code = ord(char)
        length = 1 if code < 0x80 else 2 if code < 0x800 else 3 if code < 0x10000 else 4
        if current and count + length >= 75:
            if len(current) > 1 and current[-1] in "\\^":
                carried = current.pop()
                folded.append("".join(current))
                current = [carried]
                count = 1
            else:
                folded.append("".join(current))
                current = []
                count = 0
        current.append(char)
        count += length
    if current:
        folded.append("".join(current))
    return "\r\n ".join(folded)


def _utc_text(moment: datetime) -> str:
    return (
        f"{moment.year:04d}{moment.month:02d}{moment.day:02d}"
        f"T{moment.hour:02d}{moment.minute:02d}{moment.second:02d}Z"
    )


def _moment_line(prop: str, moment: datetime | date) -> str | None:
    """``DTSTART...`` for a date, a UTC time or a time in an IANA zone; None for anything else."""
    if not isinstance(moment, datetime):
        return f"{prop};VALUE=DATE:{moment.year:04d}{moment.month:02d}{moment.day:02d}"
    zone = moment.tzinfo
    if zone is UTC:
        return f"{prop}:{_utc_text(moment)}"
    key = getattr(zone, "key", None) if isinstance(zone, ZoneInfo) else None
    if key is None or not _plain_tzid(key):
        return None
    return (
        f"{prop};TZID={key}:{moment.year:04d}{moment.month:02d}{moment.day:02d}"
        f"T{moment.hour:02d}{moment.minute:02d}{moment.second:02d}"
    )


@lru_cache(maxsize=256)
def _plain_tzid(key: str) -> bool:
    # A region/city name icalendar writes as it is; UTC aliases and names that would need quoting
    # are left to icalendar.
    return "/" in key and not key.startswith(("Etc/", "UTC", "GMT")) and not any(c in key for c in ',;:"')


def _event_text(event: CalendarEvent, trigger: str | None, alarm_text: str) -> str | None:
    """One VEVENT as text (CRLF after every line), or None where icalendar must write it."""
    stamp = event.stamp
    if stamp.tzinfo is not UTC:
        return None
    start = _moment_line("DTSTART", unambiguous(event.start))
    end = _moment_line("DTEND", unambiguous(event.end))
    if start is None or end is None:
        return None
    stamp_text = _utc_text(stamp)
    summary = escape_text(event.summary)
    lines = [
        "BEGIN:VEVENT",
        fold("SUMMARY:" + summary),
        fold(start),
        fold(end),
        "DTSTAMP:" + stamp_text,
        fold("UID:" + escape_text(event.uid)),
        f"SEQUENCE:{event.sequence}",
        fold("DESCRIPTION:" + escape_text(event.description)),
        "LAST-MODIFIED:" + stamp_text,
        "STATUS:" + event.status.value,
    ]
    if event.all_day:
        lines.append("TRANSP:TRANSPARENT")
    if trigger is not None and event.wants_alarm:
        lines += [
            "BEGIN:VALARM",
            "ACTION:DISPLAY",
            fold("DESCRIPTION:" + escape_text(f"{alarm_text}: {event.summary}")),
            "TRIGGER:" + trigger,
            "END:VALARM",
        ]
    lines.append("END:VEVENT\r\n")
    return "\r\n".join(lines)
