"""Serialise calendar events to RFC 5545 (.ics) with icalendar.

The file has no METHOD: it is a downloadable or subscribed calendar, not an iTIP invitation
(PUBLISH/REQUEST/CANCEL would need an ORGANIZER). Every zone an event uses gets a VTIMEZONE, because
clients such as Outlook shift events whose TZID they cannot resolve. Nothing in the output depends
on the clock: the same events always give the same bytes.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from functools import cache

from icalendar import Alarm, Calendar, Event, Timezone
from icalendar.enums import STATUS, TRANSP

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


def _timezones(events: Sequence[CalendarEvent]) -> list[Timezone]:
    years: dict[str, tuple[int, int]] = {}
    for event in events:
        first, last = event.first_day.year, event.last_day.year
        # An all-day event has no TZID; its zone is still the site's, and one block per zone is cheap.
        low, high = years.get(event.timezone, (first, last))
        years[event.timezone] = (min(low, first), max(high, last))
    return [vtimezone(tzid, low, high) for tzid, (low, high) in sorted(years.items())]


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
    """
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
