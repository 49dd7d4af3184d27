"""Exported calendars read back by real clients' parsers show the planned local dates and times.

Expected values are computed here with the standard library (zoneinfo), independently of the
engine's pendulum arithmetic and of icalendar's VTIMEZONE writer.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from calendars.events import EventKind, plan_events
from calendars.ics import to_ical
from tests.calendars.conftest import PLANNED_AT, Reader, plan_for, protocol_at


def _utc_text(day: date, at: time, zone: str) -> str:
    moment = datetime.combine(day, at, tzinfo=ZoneInfo(zone)).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _weekly_doses(reader: Reader, zone: str, anchor: date) -> tuple[list[date], list[dict[str, object]]]:
    protocol = protocol_at("MSC-ACLF-WEEKLY", zone)
    plan = plan_for(protocol, anchor)
    ics = to_ical(plan_events(protocol, plan, subject_code="S-001", revised_at=PLANNED_AT), name="ward")
    read = reader(ics)
    by_uid = {event["uid"]: event for event in read["events"]}
    events = plan_events(protocol, plan, subject_code="S-001", revised_at=PLANNED_AT)
    doses = [by_uid[event.uid] for event in events if event.kind is EventKind.DOSE]
    return [a.target_date for a in plan.administrations], doses


@pytest.mark.parametrize(
    ("zone", "anchor", "transition"),
    [
        # Weekly x4 straddling each transition weekend of 2027.
        ("Europe/London", date(2027, 3, 17), date(2027, 3, 28)),  # spring forward
        ("Europe/London", date(2027, 10, 20), date(2027, 10, 31)),  # fall back
        ("America/New_York", date(2027, 3, 3), date(2027, 3, 14)),
        ("America/New_York", date(2027, 10, 27), date(2027, 11, 7)),
    ],
)
def test_weekly_dose_stays_at_nine_local_across_dst(
    reader: Reader, zone: str, anchor: date, transition: date
) -> None:
    targets, doses = _weekly_doses(reader, zone, anchor)
    assert targets[0] < transition < targets[-1], "the schedule must straddle the transition"
    offsets = set()
    for target, dose in zip(targets, doses, strict=True):
        start, end = dose["start"], dose["end"]
        assert isinstance(start, dict) and isinstance(end, dict)
        assert start["local"] == f"{target.isoformat()}T09:00:00"
        assert start["zone"] == zone
        assert start["utc"] == _utc_text(target, time(9), zone)
        assert end["local"] == f"{target.isoformat()}T09:30:00"  # infusion_minutes: 30
        offsets.add(start["utc"][11:16])
    assert len(offsets) == 2, "UTC hour must change across the transition while local stays 09:00"


@pytest.mark.parametrize(("zone", "utc_clock"), [("Asia/Shanghai", "01:00"), ("Asia/Tehran", "05:30")])
def test_zones_without_dst(reader: Reader, zone: str, utc_clock: str) -> None:
    targets, doses = _weekly_doses(reader, zone, date(2027, 3, 17))
    for target, dose in zip(targets, doses, strict=True):
        start = dose["start"]
        assert isinstance(start, dict)
        assert start["local"] == f"{target.isoformat()}T09:00:00"
        assert start["utc"] == f"{target.isoformat()}T{utc_clock}:00Z"


def test_leap_day_dose(reader: Reader) -> None:
    targets, doses = _weekly_doses(reader, "Europe/London", date(2028, 2, 22))
    assert targets[1] == date(2028, 2, 29)
    start = doses[1]["start"]
    assert isinstance(start, dict)
    assert start["local"] == "2028-02-29T09:00:00"


def test_window_of_days_is_an_all_day_span_over_the_leap_day(reader: Reader) -> None:
    # "At an appropriate time during days 1-5 after transplantation", transplant on 2028-02-27.
    protocol = protocol_at("SYSU3-MSCEV-LT", "Asia/Shanghai")
    plan = plan_for(protocol, date(2028, 2, 27))
    events = plan_events(protocol, plan, subject_code="S-002", revised_at=PLANNED_AT)
    read = {e["uid"]: e for e in reader(to_ical(events, name="ward"))["events"]}
    dose = read[next(e.uid for e in events if e.kind is EventKind.DOSE)]
    assert dose["start"]["local"] == "2028-02-28"
    assert dose["start"]["is_date"] is True
    assert dose["end"]["local"] == "2028-03-04"  # exclusive: the window's last day is 2028-03-03
    assert dose["end"]["is_date"] is True


def test_monthly_follow_up_from_january_31_lands_on_the_leap_day(reader: Reader) -> None:
    protocol = protocol_at("SYSU3-MSCEV-LT", "Asia/Shanghai")
    plan = plan_for(protocol, date(2028, 1, 31))
    events = plan_events(protocol, plan, subject_code="S-003", revised_at=PLANNED_AT)
    read = {e["uid"]: e for e in reader(to_ical(events, name="ward"))["events"]}
    monthly = [
        read[e.uid]["start"]["local"]
        for e in events
        if e.kind is EventKind.ASSESSMENT and e.summary.endswith("Liver function and immune cell subsets")
    ]
    assert monthly[:2] == ["2028-02-29T10:00:00", "2028-03-31T10:00:00"]


def test_ambiguous_fall_back_time_is_one_instant_for_every_client(reader: Reader) -> None:
    # 01:30 happens twice in London on 2027-10-31. The plan takes the first (BST), as RFC 5545 says
    # a TZID time does, but ical.js and libical both read a TZID 01:30 as the second (GMT): such a
    # time is written in UTC so that every client reads the planned instant.
    protocol = protocol_at("MSC-ACLF-WEEKLY", "Europe/London", infusion_time=time(1, 30))
    plan = plan_for(protocol, date(2027, 10, 24))
    events = plan_events(protocol, plan, subject_code="S-004", revised_at=PLANNED_AT)
    read = {e["uid"]: e for e in reader(to_ical(events, name="ward"))["events"]}
    dose_events = [e for e in events if e.kind is EventKind.DOSE]
    second = read[dose_events[1].uid]["start"]
    assert plan.administrations[1].target_date == date(2027, 10, 31)
    assert second["utc"] == "2027-10-31T00:30:00Z"
    first = read[dose_events[0].uid]["start"]
    assert (first["local"], first["zone"]) == ("2027-10-24T01:30:00", "Europe/London")
    # Thirty minutes later is 01:00 GMT, the second 01:00 of the night: written so it is not read as BST.
    assert read[dose_events[1].uid]["end"]["utc"] == "2027-10-31T01:00:00Z"


def test_nonexistent_spring_time_is_written_as_the_moved_wall_time(reader: Reader) -> None:
    # 01:30 does not exist in London on 2027-03-28; the plan moves it forward by the gap, to 02:30,
    # and the file says 02:30 so that no client has to guess.
    protocol = protocol_at("MSC-ACLF-WEEKLY", "Europe/London", infusion_time=time(1, 30))
    plan = plan_for(protocol, date(2027, 3, 21))
    events = plan_events(protocol, plan, subject_code="S-005", revised_at=PLANNED_AT)
    read = {e["uid"]: e for e in reader(to_ical(events, name="ward"))["events"]}
    dose_events = [e for e in events if e.kind is EventKind.DOSE]
    second = read[dose_events[1].uid]["start"]
    assert second["local"] == "2027-03-28T02:30:00"
    assert second["utc"] == "2027-03-28T01:30:00Z"


def test_timed_dose_lasts_sixty_minutes_when_the_protocol_gives_no_duration(reader: Reader) -> None:
    protocol = protocol_at("NCT04822922", "Europe/London", infusion_minutes=None)
    plan = plan_for(protocol, date(2027, 6, 1))
    events = plan_events(protocol, plan, subject_code="S-006", revised_at=PLANNED_AT)
    dose = next(e for e in events if e.kind is EventKind.DOSE)
    read = {e["uid"]: e for e in reader(to_ical(events, name="ward"))["events"]}
    start = datetime.fromisoformat(read[dose.uid]["start"]["utc"])
    end = datetime.fromisoformat(read[dose.uid]["end"]["utc"])
    assert end - start == timedelta(minutes=60)


def test_every_tzid_has_one_vtimezone_and_no_method() -> None:
    # Mixed zones in one file (a sponsor's calendar across sites): each TZID gets one VTIMEZONE.
    events = []
    for zone, code in (("Europe/London", "L-1"), ("America/New_York", "N-1"), ("Asia/Tehran", "T-1")):
        protocol = protocol_at("MSC-ACLF-WEEKLY", zone)
        events += plan_events(
            protocol, plan_for(protocol, date(2027, 3, 10)), subject_code=code, revised_at=PLANNED_AT
        )
    text = to_ical(events, name="sponsor").decode()
    for zone in ("Europe/London", "America/New_York", "Asia/Tehran"):
        assert text.count(f"TZID:{zone}\r\n") == 1
    assert "METHOD" not in text
