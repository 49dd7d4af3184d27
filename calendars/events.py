"""Calendar events for planned administrations and follow-up assessments, as pure data.

An event is built from a patient's plan (``dosing.plan``) or from the dose ledger's view of a subject
(``dosing.store``); :mod:`calendars.ics` turns a list of them into an RFC 5545 file. Nothing here does
I/O or knows about icalendar.

Rules every event follows (DOMAIN.md, Calendars):

- the UID depends only on the study code, the subject code and which planned item it is, so a
  regenerated calendar updates events in place instead of duplicating them;
- SEQUENCE is the ledger's revision of the item; a rescheduled dose keeps its UID;
- a skipped or cancelled dose stays in the calendar with STATUS:CANCELLED: a dose that silently
  vanishes reads, on a nurse's phone, as a calendar that failed to sync;
- DTSTAMP and LAST-MODIFIED are the item's revision time, never "now", so exports of unchanged data
  are byte-identical;
- privacy and blinding: the only identifiers are the study code and the subject code, and neither
  the arm nor the product-or-placebo nor the dose appear (a calendar leaves the ward on personal phones).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dosing.plan import PatientPlan, PlannedAssessment
from dosing.protocol import Offset, Protocol, TargetWindow
from dosing.status import DoseState

#: Fixed for the project: changing it would change every UID ever published.
PROJECT_NAMESPACE = uuid.UUID("d1dbf45a-bf8d-48b2-a620-1aaa0876d133")
#: RFC 5545 suggests a domain on the right of the UID; ``.invalid`` never resolves to anyone's host.
UID_DOMAIN = "cell-dosing.invalid"
#: Length of a timed infusion event when the protocol does not give one.
DEFAULT_INFUSION_MINUTES = 60
#: Length of a follow-up assessment event (the protocols give a due time, not a duration).
ASSESSMENT_MINUTES = 30


class EventKind(StrEnum):
    DOSE = "dose"
    ASSESSMENT = "assessment"


class EventStatus(StrEnum):
    CONFIRMED = "CONFIRMED"
    CANCELLED = "CANCELLED"


class CalendarEvent(BaseModel):
    """One VEVENT: a planned administration or a follow-up assessment of one subject."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    uid: str
    kind: EventKind
    protocol_id: str
    subject_code: str
    site: str
    timezone: str
    summary: str
    description: str
    #: True for a window of several days: ``start`` and ``end`` are dates, ``end`` exclusive.
    all_day: bool
    start: datetime | date
    end: datetime | date
    sequence: int = Field(ge=0)
    status: EventStatus
    #: The revision time of the item (aware, UTC): DTSTAMP and LAST-MODIFIED.
    stamp: datetime
    #: Doses still to come get the site's reminder; given or cancelled doses and assessments do not.
    wants_alarm: bool = True

    @model_validator(mode="after")
    def _consistent(self) -> CalendarEvent:
        if self.stamp.tzinfo is None:
            raise ValueError("stamp must be an aware UTC datetime")
        timed = isinstance(self.start, datetime), isinstance(self.end, datetime)
        if self.all_day:
            if any(timed):
                raise ValueError("an all-day event has dates, not date-times")
        elif not all(timed):
            raise ValueError("a timed event has date-times")
        # Compare instants: aware datetimes in one zone compare by wall clock, and on a fall-back
        # night 01:00 (second, GMT) is later than 01:30 (first, BST).
        if _instant(self.end) <= _instant(self.start):
            raise ValueError("an event ends after it starts")
        return self

    @property
    def first_day(self) -> date:
        """The first local calendar day the event covers."""
        if isinstance(self.start, datetime):
            return self.start.date()
        return self.start

    @property
    def last_day(self) -> date:
        """The last local calendar day the event covers (DTEND of an all-day event is exclusive)."""
        if isinstance(self.end, datetime):
            assert isinstance(self.start, datetime)
            return max(self.start.date(), (self.end - timedelta(microseconds=1)).date())
        return self.end - timedelta(days=1)

    @property
    def sort_key(self) -> tuple[datetime, str]:
        if isinstance(self.start, datetime):
            return self.start.astimezone(UTC), self.uid
        midnight = datetime(self.start.year, self.start.month, self.start.day, tzinfo=ZoneInfo(self.timezone))
        return midnight.astimezone(UTC), self.uid


def _instant(moment: datetime | date) -> datetime | date:
    return moment.astimezone(UTC) if isinstance(moment, datetime) else moment


def event_uid(protocol_id: str, subject_code: str, item: str) -> str:
    """The UID of a planned item: the same for every regeneration of the calendar.

    >>> event_uid("NCT04822922", "S-001", "dose-1") == event_uid("NCT04822922", "S-001", "dose-1")
    True
    >>> event_uid("NCT04822922", "S-001", "dose-1").endswith("@cell-dosing.invalid")
    True
    """
    name = "/".join((protocol_id, subject_code, item))
    return f"{_uuid5_text(name)}@{UID_DOMAIN}"


_NAMESPACE_BYTES = PROJECT_NAMESPACE.bytes


def _uuid5_text(name: str) -> str:
    """``str(uuid.uuid5(PROJECT_NAMESPACE, name))`` without building UUID objects (RFC 4122 4.3: SHA-1
    of namespace and name, version 5 and the variant bits set); tested equal to ``uuid.uuid5``."""
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name.encode("utf-8"), usedforsecurity=False).digest())
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    text = digest[:16].hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def dose_item(sequence: int) -> str:
    return f"dose-{sequence}"


def assessment_item(key: str) -> str:
    return f"assessment-{key}"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def plan_assessment_key(assessment: PlannedAssessment, protocol: Protocol) -> str:
    """The key the ledger stores for a planned assessment, so a dry-run calendar and the ledger's
    calendar of the same subject share UIDs. It does not depend on the date (a reschedule keeps it).

    >>> from datetime import datetime, date, UTC
    >>> from dosing.catalog import get_protocol
    >>> a = PlannedAssessment(name="Liver function and immune cell subsets",
    ...     due=datetime(2027, 1, 1, tzinfo=UTC), due_date=date(2027, 1, 1), after="anchor",
    ...     offset="1 months", measures=[], source="x")
    >>> plan_assessment_key(a, get_protocol("SYSU3-MSCEV-LT"))
    'liver-function-and-immune-cell-subsets/1m0d0h'
    """
    offsets = {
        (follow_up.name, offset.describe()): offset
        for follow_up in protocol.follow_up
        for offset in follow_up.offsets
    }
    offset = offsets.get((assessment.name, assessment.offset), Offset())
    key = f"{_slug(assessment.name)}/{offset.months}m{offset.days}d{offset.hours}h"
    if assessment.administration_sequence is not None:
        key += f"/{dose_item(assessment.administration_sequence)}"
    return key


def infusion_minutes(protocol: Protocol) -> int:
    return protocol.preparation.infusion_minutes or DEFAULT_INFUSION_MINUTES


def spans_window(protocol: Protocol, sequence: int) -> bool:
    """Whether the protocol gives this administration a window of several days rather than a time.

    "At an appropriate time during days 1-5" is a window; "day 4 +/- 1" is a time with a tolerance.
    """
    if not 1 <= sequence <= len(protocol.administrations):
        return False
    window = protocol.administrations[sequence - 1].window
    return isinstance(window, TargetWindow) and window.latest_day > window.earliest_day


class DoseFacts(BaseModel):
    """What a calendar shows of one planned dose, from a plan or from the ledger."""

    model_config = ConfigDict(frozen=True)

    sequence: int
    label: str
    study_day: str
    target_date: date
    earliest: date
    latest: date
    planned_start: datetime
    state: DoseState | None = None
    revision: int = 0
    revised_at: datetime
    given_at: datetime | None = None


class AssessmentFacts(BaseModel):
    model_config = ConfigDict(frozen=True)

    key: str
    name: str
    due: datetime
    measures: list[str]
    revision: int = 0
    revised_at: datetime
    #: A check tied to a dose that was not given is published as cancelled, not dropped.
    cancelled: bool = False


_GIVEN = {DoseState.GIVEN_ON_TIME, DoseState.GIVEN_LATE, DoseState.GIVEN_EARLY, DoseState.PARTIAL}
_MARKERS = {
    DoseState.GIVEN_ON_TIME: "[given] ",
    DoseState.GIVEN_EARLY: "[given] ",
    DoseState.GIVEN_LATE: "[given late] ",
    DoseState.PARTIAL: "[given, partial] ",
    DoseState.SKIPPED: "[cancelled] ",
    DoseState.NOT_APPLICABLE: "[cancelled] ",
    DoseState.MISSED: "[missed] ",
}
_CANCELLED = {DoseState.SKIPPED, DoseState.NOT_APPLICABLE}
_STILL_TO_COME = {DoseState.UPCOMING, DoseState.WINDOW_OPEN}


def _in_zone(moment: datetime, zone: ZoneInfo) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"{moment.isoformat()} has no UTC offset")
    # Plans share their start instants between patients (dosing.schedule), and a ward calendar reads
    # the same few thousand instants in one zone: convert each once. Within one tzinfo equal datetimes
    # compare by wall clock and ignore the fold, so the fold and the tzinfo (its id: ``moment`` in the
    # key keeps it alive) complete the key.
    key = (moment, moment.fold, id(moment.tzinfo), zone)
    local = _LOCAL.get(key)
    if local is None:
        if len(_LOCAL) >= 50_000:
            _LOCAL.clear()
        local = _LOCAL[key] = _convert(moment, zone)
    return local


_LOCAL: dict[tuple[datetime, int, int, ZoneInfo], datetime] = {}


def _convert(moment: datetime, zone: ZoneInfo) -> datetime:
    # A plain datetime with a ZoneInfo: pendulum's subclass does its own arithmetic (wall-clock days)
    # and its own TZID handling; the calendar needs neither.
    utc = moment.astimezone(UTC)
    plain = datetime(
        utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second, utc.microsecond, tzinfo=UTC
    )
    return plain.astimezone(zone)


@lru_cache(maxsize=256)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _clock(moment: datetime) -> str:
    """``moment.strftime("%Y-%m-%d %H:%M")``, as plain formatting."""
    return f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d} {moment.hour:02d}:{moment.minute:02d}"


def _span(earliest: date, latest: date) -> str:
    if earliest == latest:
        return f"{earliest.isoformat()} only"
    return f"{earliest.isoformat()} to {latest.isoformat()} ({(latest - earliest).days + 1} days)"


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"revision time {moment.isoformat()} has no UTC offset")
    return _in_zone(moment, _zone("UTC")).astimezone(UTC)


def dose_event(
    protocol: Protocol,
    *,
    subject_code: str,
    site: str,
    timezone: str,
    dose: DoseFacts,
    dose_count: int,
) -> CalendarEvent:
    zone = _zone(timezone)
    start_local = _in_zone(dose.planned_start, zone)
    marker = _MARKERS.get(dose.state, "") if dose.state is not None else ""
    cancelled = dose.state in _CANCELLED
    window_event = spans_window(protocol, dose.sequence)
    lines = [
        f"Study {protocol.id}, subject {subject_code}",
        f"Dose {dose.sequence} of {dose_count}: {dose.label} ({dose.study_day})",
        f"Window: {_span(dose.earliest, dose.latest)}, site time {timezone}",
    ]
    start: datetime | date
    end: datetime | date
    if window_event:
        start, end = dose.earliest, dose.latest + timedelta(days=1)
        lines.append(f"Give on any day of the window; planned day {dose.target_date.isoformat()}")
    else:
        minutes = infusion_minutes(protocol)
        start = start_local
        end = _in_zone(start_local.astimezone(UTC) + timedelta(minutes=minutes), zone)
        lines.append(f"Planned start: {_clock(start_local)} ({timezone}), infusion {minutes} min")
    if dose.state is not None:
        status_line = f"Status: {dose.state.value.replace('_', ' ')}"
        if dose.given_at is not None and dose.state in _GIVEN:
            status_line += f", started {_clock(_in_zone(dose.given_at, zone))}"
        if dose.state in _CANCELLED:
            # A skip's reason is free text typed at the bedside: it could name anyone or anything,
            # so it stays in the ledger.
            status_line += f"; the reason is in the ledger (dosing status {subject_code})"
        lines.append(status_line)
    if dose.revision:
        lines.append(f"Revision {dose.revision} of this dose")
    return CalendarEvent(
        uid=event_uid(protocol.id, subject_code, dose_item(dose.sequence)),
        kind=EventKind.DOSE,
        protocol_id=protocol.id,
        subject_code=subject_code,
        site=site,
        timezone=timezone,
        summary=f"{marker}{protocol.id} {subject_code}: {dose.label} ({dose.study_day})",
        description="\n".join(lines),
        all_day=window_event,
        start=start,
        end=end,
        sequence=dose.revision,
        status=EventStatus.CANCELLED if cancelled else EventStatus.CONFIRMED,
        stamp=_utc(dose.revised_at),
        # A reminder is for a dose still to come: never for one given, cancelled or already missed.
        wants_alarm=dose.state is None or dose.state in _STILL_TO_COME,
    )


def assessment_event(
    protocol: Protocol, *, subject_code: str, site: str, timezone: str, assessment: AssessmentFacts
) -> CalendarEvent:
    zone = _zone(timezone)
    start = _in_zone(assessment.due, zone)
    end = _in_zone(start.astimezone(UTC) + timedelta(minutes=ASSESSMENT_MINUTES), zone)
    lines = [
        f"Study {protocol.id}, subject {subject_code}",
        f"Follow-up: {assessment.name}",
        f"Due: {_clock(start)} ({timezone})",
    ]
    if assessment.measures:
        lines.append("Measures: " + ", ".join(assessment.measures))
    if assessment.revision:
        lines.append(f"Revision {assessment.revision} of this assessment")
    marker = "[cancelled] " if assessment.cancelled else ""
    return CalendarEvent(
        uid=event_uid(protocol.id, subject_code, assessment_item(assessment.key)),
        kind=EventKind.ASSESSMENT,
        protocol_id=protocol.id,
        subject_code=subject_code,
        site=site,
        timezone=timezone,
        summary=f"{marker}{protocol.id} {subject_code}: {assessment.name}",
        description="\n".join(lines),
        all_day=False,
        start=start,
        end=end,
        sequence=assessment.revision,
        status=EventStatus.CANCELLED if assessment.cancelled else EventStatus.CONFIRMED,
        stamp=_utc(assessment.revised_at),
        # The site's reminder is a preparation lead time for doses; an assessment needs none.
        wants_alarm=False,
    )


def plan_dose_facts(plan: PatientPlan, revised_at: datetime) -> list[DoseFacts]:
    """The planned administrations of a dry-run plan as calendar facts, all at revision 0."""
    return [
        DoseFacts(
            sequence=a.sequence,
            label=a.label,
            study_day=a.study_day,
            target_date=a.target_date,
            earliest=a.earliest,
            latest=a.latest,
            planned_start=a.planned_start,
            revised_at=revised_at,
        )
        for a in plan.administrations
    ]


def plan_events(
    protocol: Protocol, plan: PatientPlan, *, subject_code: str, revised_at: datetime
) -> list[CalendarEvent]:
    """Events of a dry-run plan (nothing recorded yet): every item at revision 0, stamped ``revised_at``.

    ``revised_at`` is when the plan was made (e.g. the enrollment time): not "now", so that exporting
    the same plan twice gives the same bytes.
    """
    if plan.protocol_id != protocol.id:
        raise ValueError(f"plan is for {plan.protocol_id}, protocol is {protocol.id}")
    doses = plan_dose_facts(plan, revised_at)
    assessments = [
        AssessmentFacts(
            key=plan_assessment_key(a, protocol),
            name=a.name,
            due=a.due,
            measures=a.measures,
            revised_at=revised_at,
        )
        for a in plan.assessments
    ]
    return subject_events(
        protocol,
        subject_code=subject_code,
        site=plan.site,
        timezone=plan.timezone,
        doses=doses,
        assessments=assessments,
    )


def subject_events(
    protocol: Protocol,
    *,
    subject_code: str,
    site: str,
    timezone: str,
    doses: Sequence[DoseFacts],
    assessments: Sequence[AssessmentFacts],
) -> list[CalendarEvent]:
    events = [
        dose_event(
            protocol,
            subject_code=subject_code,
            site=site,
            timezone=timezone,
            dose=dose,
            dose_count=len(doses),
        )
        for dose in doses
    ]
    events += [
        assessment_event(protocol, subject_code=subject_code, site=site, timezone=timezone, assessment=a)
        for a in assessments
    ]
    return sort_events(events)


def sort_events(events: Iterable[CalendarEvent]) -> list[CalendarEvent]:
    """Chronological, ties by UID: the file's order never depends on how the events were gathered."""
    return sorted(events, key=lambda event: event.sort_key)


def in_range(events: Iterable[CalendarEvent], start: date | None, end: date | None) -> list[CalendarEvent]:
    """Events that touch any local day from ``start`` to ``end`` (both inclusive; None is open)."""
    return [
        event
        for event in events
        if (start is None or event.last_day >= start) and (end is None or event.first_day <= end)
    ]
