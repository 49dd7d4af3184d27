"""Stable identity: same UIDs on regeneration, SEQUENCE on change, cancelled doses kept, same bytes."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from icalendar import Calendar

from calendars.events import (
    CalendarEvent,
    DoseFacts,
    EventKind,
    EventStatus,
    in_range,
    plan_dose_facts,
    plan_events,
    subject_events,
)
from calendars.ics import to_ical
from dosing.plan import PatientPlan
from dosing.protocol import Protocol
from dosing.schedule import AdministrationDates, apply_reschedule, reschedule
from dosing.status import DoseState
from tests.calendars.conftest import PLANNED_AT, Reader, plan_for, protocol_at

REVISED_AT = datetime(2027, 3, 25, 14, 5, tzinfo=UTC)


def _weekly(zone: str = "Europe/London", anchor: date = date(2027, 3, 17)) -> tuple[Protocol, PatientPlan]:
    protocol = protocol_at("MSC-ACLF-WEEKLY", zone)
    return protocol, plan_for(protocol, anchor)


def _doses(plan: PatientPlan) -> list[DoseFacts]:
    return plan_dose_facts(plan, PLANNED_AT)


def _events(protocol: Protocol, plan: PatientPlan, doses: list[DoseFacts]) -> list[CalendarEvent]:
    return subject_events(
        protocol, subject_code="S-001", site=plan.site, timezone=plan.timezone, doses=doses, assessments=[]
    )


def test_regeneration_is_byte_identical_with_the_same_uids() -> None:
    protocol, plan = _weekly()
    first = to_ical(plan_events(protocol, plan, subject_code="S-001", revised_at=PLANNED_AT), name="S-001")
    # A fresh plan from the same inputs, as a new process would compute it.
    protocol, plan = _weekly()
    second = to_ical(plan_events(protocol, plan, subject_code="S-001", revised_at=PLANNED_AT), name="S-001")
    assert first == second
    assert b"DTSTAMP:20261101T080000Z" in first  # the revision time, not the time of export


def test_uid_identifies_the_planned_item_not_its_date() -> None:
    protocol, plan = _weekly()
    _, moved = _weekly(anchor=date(2027, 4, 2))
    uids = [e.uid for e in plan_events(protocol, plan, subject_code="S-001", revised_at=PLANNED_AT)]
    moved_uids = [e.uid for e in plan_events(protocol, moved, subject_code="S-001", revised_at=PLANNED_AT)]
    assert uids == moved_uids
    assert len(set(uids)) == len(uids)
    other = {e.uid for e in plan_events(protocol, plan, subject_code="S-002", revised_at=PLANNED_AT)}
    assert other.isdisjoint(uids)
    assert all(re.fullmatch(r"[0-9a-f-]{36}@cell-dosing\.invalid", uid) for uid in uids)


def test_reschedule_keeps_the_uid_and_raises_sequence(reader: Reader) -> None:
    protocol, plan = _weekly()
    doses = _doses(plan)
    before = {e["uid"]: e for e in reader(to_ical(_events(protocol, plan, doses), name="S-001"))["events"]}

    # Dose 2 given two days late; the protocol shifts the later doses by the delay.
    dates = [
        AdministrationDates(**d.model_dump(include=set(AdministrationDates.model_fields))) for d in doses
    ]
    changes = reschedule(
        dates,
        2,
        dates[1].target_date + timedelta(days=2),
        protocol.rescheduling,
        minimum_interval_days=protocol.minimum_interval_days,
    )
    moved = {d.sequence: d for d in apply_reschedule(dates, changes)}
    revised = []
    for dose in doses:
        if dose.sequence in {change.sequence for change in changes}:
            new = moved[dose.sequence]
            start = plan.administrations[0].planned_start.add(
                days=(new.target_date - doses[0].target_date).days
            )
            dose = dose.model_copy(
                update={
                    "target_date": new.target_date,
                    "earliest": new.earliest,
                    "latest": new.latest,
                    "planned_start": start,
                    "revision": 1,
                    "revised_at": REVISED_AT,
                }
            )
        revised.append(dose)
    after_events = _events(protocol, plan, revised)
    after = {e["uid"]: e for e in reader(to_ical(after_events, name="S-001"))["events"]}

    assert set(after) == set(before)
    third = next(e.uid for e in after_events if e.summary.endswith("MSC infusion 3 (week 2)"))
    assert before[third]["sequence"] == 0
    assert after[third]["sequence"] == 1
    assert before[third]["start"]["local"] == "2027-03-31T09:00:00"
    assert after[third]["start"]["local"] == "2027-04-02T09:00:00"
    first = next(e.uid for e in after_events if e.summary.endswith("MSC infusion 1 (week 0)"))
    assert after[first]["sequence"] == 0


def test_a_skipped_dose_is_published_cancelled_not_dropped(reader: Reader) -> None:
    protocol, plan = _weekly()
    doses = _doses(plan)
    doses[2] = doses[2].model_copy(
        update={"state": DoseState.SKIPPED, "revision": 1, "revised_at": REVISED_AT}
    )
    events = _events(protocol, plan, doses)
    read = reader(to_ical(events, name="S-001", alarm_minutes=120))["events"]
    assert len(read) == 4
    cancelled = [e for e in read if e["status"] == "CANCELLED"]
    assert len(cancelled) == 1
    assert cancelled[0]["sequence"] == 1
    assert cancelled[0]["summary"].startswith("[cancelled] ")
    assert [e["status"] for e in read].count("CONFIRMED") == 3


def test_given_doses_are_marked_and_only_doses_to_come_get_the_reminder(ical_js: Reader) -> None:
    protocol, plan = _weekly()
    doses = _doses(plan)
    doses[0] = doses[0].model_copy(
        update={
            "state": DoseState.GIVEN_ON_TIME,
            "given_at": datetime(2027, 3, 17, 9, 40, tzinfo=UTC),
            "revision": 1,
            "revised_at": REVISED_AT,
        }
    )
    doses[1] = doses[1].model_copy(
        update={"state": DoseState.SKIPPED, "revision": 1, "revised_at": REVISED_AT}
    )
    read = ical_js(to_ical(_events(protocol, plan, doses), name="S-001", alarm_minutes=120))["events"]
    assert read[0]["summary"].startswith("[given] ")
    assert "started 2027-03-17 09:40" in read[0]["description"]
    assert [len(e["alarms"]) for e in read] == [0, 0, 1, 1]
    assert read[2]["alarms"][0]["action"] == "DISPLAY"
    assert read[2]["alarms"][0]["trigger"] == "-PT2H"
    assert read[2]["alarms"][0]["description"].startswith("Pharmacy preparation: ")


def test_no_reminder_unless_the_site_sets_one() -> None:
    protocol, plan = _weekly()
    text = to_ical(plan_events(protocol, plan, subject_code="S-001", revised_at=PLANNED_AT), name="S-001")
    assert b"VALARM" not in text


def test_window_event_says_the_window() -> None:
    protocol = protocol_at("SYSU3-MSCEV-LT", "Asia/Shanghai")
    plan = plan_for(protocol, date(2028, 2, 27))
    dose = next(
        e
        for e in plan_events(protocol, plan, subject_code="S-001", revised_at=PLANNED_AT)
        if e.kind is EventKind.DOSE
    )
    assert dose.all_day
    assert (dose.start, dose.end) == (date(2028, 2, 28), date(2028, 3, 4))
    assert "Window: 2028-02-28 to 2028-03-03 (5 days)" in dose.description


def test_privacy_only_study_and_subject_codes_and_nothing_that_unblinds() -> None:
    protocol = protocol_at("NCT04822922", "Europe/London")
    allowed = {
        "SUMMARY", "DTSTART", "DTEND", "DTSTAMP", "UID", "SEQUENCE", "DESCRIPTION", "LAST-MODIFIED",
        "STATUS", "TRANSP", "BEGIN", "END", "ACTION", "TRIGGER",
    }  # fmt: skip
    for arm in protocol.arms:
        if not arm.receives_administrations:
            continue
        plan = plan_for(protocol, date(2027, 6, 1), arm=arm.id)
        calendar = Calendar.from_ical(
            to_ical(
                plan_events(protocol, plan, subject_code="S-001", revised_at=PLANNED_AT),
                name="ward",
                alarm_minutes=60,
            )
        )
        planned = {a.target_date for a in plan.administrations} | {a.due_date for a in plan.assessments}
        planned |= {d for a in plan.administrations for d in (a.earliest, a.latest)}
        for event in calendar.events:
            assert set(event) | {p for alarm in event.subcomponents for p in alarm} <= allowed
            text = f"{event['SUMMARY']}\n{event['DESCRIPTION']}"
            assert "S-001" in text and protocol.id in text
            lowered = text.lower()
            for word in ("name", "birth", "dob", "born", "placebo", arm.id, arm.label.lower(), "kg", "cells"):
                assert not re.search(rf"\b{re.escape(word)}\b", lowered), word
            # Dates in the text are planned dates, never anything else (such as a birth date).
            for found in re.findall(r"\b(\d{4})-(\d{2})-(\d{2})\b", text):
                assert date(*map(int, found)) in planned, found


def test_range_keeps_events_touching_any_day_of_it() -> None:
    protocol, plan = _weekly()
    events = plan_events(protocol, plan, subject_code="S-001", revised_at=PLANNED_AT)
    window = in_range(events, date(2027, 3, 24), date(2027, 3, 31))
    doses = [e for e in window if e.kind is EventKind.DOSE]
    assert [e.first_day for e in doses] == [date(2027, 3, 24), date(2027, 3, 31)]
    protocol = protocol_at("SYSU3-MSCEV-LT", "Asia/Shanghai")
    span = next(
        e
        for e in plan_events(
            protocol, plan_for(protocol, date(2028, 2, 27)), subject_code="S-1", revised_at=PLANNED_AT
        )
        if e.kind is EventKind.DOSE
    )
    assert in_range([span], date(2028, 3, 3), date(2028, 3, 10)) == [span]
    assert in_range([span], date(2028, 3, 4), None) == []
    assert span.status is EventStatus.CONFIRMED


def test_only_doses_still_to_come_carry_a_reminder() -> None:
    # A missed dose's window has closed: a preparation reminder for it would send the pharmacy to work
    # on a bag nobody will hang.
    protocol, plan = _weekly()
    states = [DoseState.MISSED, DoseState.WINDOW_OPEN, DoseState.GIVEN_LATE, DoseState.UPCOMING]
    doses = [
        dose.model_copy(update={"state": state}) for dose, state in zip(_doses(plan), states, strict=True)
    ]
    assert [event.wants_alarm for event in _events(protocol, plan, doses)] == [False, True, False, True]
