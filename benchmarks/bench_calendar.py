"""Time to export a 10,000-event ward calendar through ``calendars``, against a plain string writer.

    python benchmarks/bench_calendar.py [--events 10000] [--repeat 3]

Prints the best CPU time of ``--repeat`` runs for: building the events (``calendars.events`` from plans),
serialising them (``calendars.ics.to_ical``), the floor (the same bytes from the same events with
nothing but f-strings, ``str.replace`` and slicing; checked identical), icalendar alone
(``calendars.ics.to_ical_icalendar``, the writer before issue 15, and bare ``Event()``/``add()`` calls),
then the ratios. The header and VTIMEZONE blocks are the same cached text for the writer and the floor.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from icalendar import Calendar, Event

from calendars.events import CalendarEvent, plan_events
from calendars.ics import _header, _zone_years, to_ical, to_ical_icalendar, unambiguous, vtimezone
from dosing.catalog import get_protocol
from dosing.plan import PatientInputs, PatientPlan, plan_patient
from dosing.units import Weight, parse_dose_per_kg

STAMP = datetime(2026, 11, 1, 8, tzinfo=UTC)


def ward_plans(event_count: int) -> tuple[list[tuple[str, PatientPlan]], int]:
    protocol = get_protocol("MSC-ACLF-WEEKLY")
    per_kg = parse_dose_per_kg("5 x10^5 cells/kg")
    plans = []
    total = 0
    subject = 0
    while total < event_count:
        subject += 1
        anchor = date(2027, 1, 4) + timedelta(days=subject % 365)
        plan = plan_patient(
            protocol, PatientInputs(arm="msc", weight=Weight.kg(70), anchor=anchor, dose_per_kg=per_kg)
        )
        plans.append((f"S-{subject:05d}", plan))
        total += len(plan.administrations) + len(plan.assessments)
    return plans, subject


def build_events(plans: list[tuple[str, PatientPlan]], event_count: int) -> list[CalendarEvent]:
    protocol = get_protocol("MSC-ACLF-WEEKLY")
    events: list[CalendarEvent] = []
    for code, plan in plans:
        events += plan_events(protocol, plan, subject_code=code, revised_at=STAMP)
    return events[:event_count]


def bare(events: list[CalendarEvent]) -> bytes:
    """The same VEVENTs with plain icalendar calls: what any exporter has to pay for."""
    calendar = Calendar()
    calendar.add("prodid", "-//bench//bare icalendar//EN")
    calendar.add("version", "2.0")
    for item in events:
        event = Event()
        event.add("uid", item.uid)
        event.add("dtstart", item.start)
        event.add("dtend", item.end)
        event.add("dtstamp", item.stamp)
        event.add("last-modified", item.stamp)
        event.add("sequence", item.sequence)
        event.add("status", item.status.value)
        event.add("summary", item.summary)
        event.add("description", item.description)
        calendar.add_component(event)
    first = min(item.first_day for item in events)
    last = max(item.last_day for item in events)
    calendar.add_missing_timezones(first_date=date(first.year, 1, 1), last_date=date(last.year + 1, 1, 1))
    serialised: bytes = calendar.to_ical()
    return serialised


def _floor_escape(text: str) -> str:
    return (
        text.replace("\\N", "\n")
        .replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
        .replace("\r", "\\n")
    )


def _floor_fold(line: str) -> str:
    # ASCII only (the ward's texts are); 74 characters per line, never ending on a backslash.
    chunks = []
    while len(line) > 74:
        cut = 73 if line[73] == "\\" else 74
        chunks.append(line[:cut])
        line = line[cut:]
    chunks.append(line)
    return "\r\n ".join(chunks)


def _floor_moment(moment: datetime | date) -> str:
    if not isinstance(moment, datetime):
        return f";VALUE=DATE:{moment:%Y%m%d}"
    if moment.tzinfo is UTC:
        return f":{moment:%Y%m%dT%H%M%S}Z"
    return f";TZID={moment.tzinfo}:{moment:%Y%m%dT%H%M%S}"


def floor(events: list[CalendarEvent], name: str) -> bytes:
    """The same file as plain string formatting writes it: what the bytes themselves cost."""
    out = [_header(name, _zone_years(events))]
    for e in events:
        stamp = f"{e.stamp:%Y%m%dT%H%M%S}Z"
        transparent = "TRANSP:TRANSPARENT\r\n" if e.all_day else ""
        out.append(
            f"BEGIN:VEVENT\r\n{_floor_fold('SUMMARY:' + _floor_escape(e.summary))}\r\n"
            f"DTSTART{_floor_moment(unambiguous(e.start))}\r\nDTEND{_floor_moment(unambiguous(e.end))}\r\n"
            f"DTSTAMP:{stamp}\r\nUID:{_floor_escape(e.uid)}\r\nSEQUENCE:{e.sequence}\r\n"
            f"{_floor_fold('DESCRIPTION:' + _floor_escape(e.description))}\r\n"
            f"LAST-MODIFIED:{stamp}\r\nSTATUS:{e.status.value}\r\n{transparent}END:VEVENT\r\n"
        )
    out.append("END:VCALENDAR\r\n")
    return "".join(out).encode()


def best(repeat: int, run: Callable[[], object]) -> tuple[float, object]:
    times = []
    result: object = None
    for _ in range(repeat):
        # CPU time of this process: the machine running it is often shared, and wall time then
        # measures the neighbours as much as the code.
        started = time.process_time()
        result = run()
        times.append(time.process_time() - started)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    plans, subjects = ward_plans(args.events)
    events = build_events(plans, args.events)
    vtimezone.cache_clear()
    _header.cache_clear()
    cold_started = time.process_time()
    to_ical(events, name="ward")
    cold = time.process_time() - cold_started

    build_time, _ = best(args.repeat, lambda: build_events(plans, args.events))
    ics_alarm_time, _ = best(args.repeat, lambda: to_ical(events, name="ward", alarm_minutes=120))
    ics_time, ics = best(args.repeat, lambda: to_ical(events, name="ward"))
    floor_time, floor_ics = best(args.repeat, lambda: floor(events, "ward"))
    old_time, old_ics = best(args.repeat, lambda: to_ical_icalendar(events, name="ward"))
    bare_time, bare_ics = best(args.repeat, lambda: bare(events))
    assert isinstance(ics, bytes) and isinstance(bare_ics, bytes) and isinstance(floor_ics, bytes)
    if ics != floor_ics or ics != old_ics:
        raise SystemExit("the writer, the floor and icalendar do not write the same bytes")

    print(f"ward calendar: {len(events)} events, {subjects} subjects, CPU time, best of {args.repeat}")
    print("  (to_ical, the floor and icalendar alone wrote identical bytes)")
    print(f"  build events (calendars.events, from plans)   {build_time * 1000:8.0f} ms")
    print(f"  serialise (calendars.ics.to_ical)              {ics_time * 1000:8.0f} ms")
    print(f"  serialise with 2 h reminders                   {ics_alarm_time * 1000:8.0f} ms")
    print(f"  first export, VTIMEZONE not yet cached         {cold * 1000:8.0f} ms")
    print(f"  floor: plain string writer, same bytes         {floor_time * 1000:8.0f} ms")
    print(f"  icalendar alone (to_ical_icalendar)            {old_time * 1000:8.0f} ms")
    print(f"  bare icalendar calls, same events              {bare_time * 1000:8.0f} ms")
    print(f"  ratio serialise / floor                        {ics_time / floor_time:8.2f}")
    print(f"  ratio build + serialise / floor                {(build_time + ics_time) / floor_time:8.2f}")
    print(f"  ratio icalendar alone / floor                  {old_time / floor_time:8.2f}")
    print(f"  ratio serialise / bare icalendar               {ics_time / bare_time:8.2f}")
    print(f"  file size {len(ics) / 1e6:.1f} MB (bare {len(bare_ics) / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
