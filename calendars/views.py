"""Calendar events from the dose ledger's views (``dosing.store``): statuses, revisions, revision times.

A dose's SEQUENCE is the ledger's revision and its DTSTAMP the ledger's revision time, so a calendar
regenerated from unchanged records is byte-identical, and one regenerated after a reschedule, a skip
or a correction updates the event in the client instead of adding a second one.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from calendars.events import AssessmentFacts, CalendarEvent, DoseFacts, in_range, sort_events, subject_events
from dosing.catalog import get_protocol
from dosing.protocol import Protocol
from dosing.status import DoseState
from dosing.store.models import AssessmentView, DoseView, SubjectView


def shown_since(dose: DoseView, timezone: str) -> datetime:
    """When what the calendar shows of ``dose`` last changed: its DTSTAMP and LAST-MODIFIED.

    The ledger's revision time counts reschedules, skips and corrections (they raise SEQUENCE). Two
    more changes alter the event's text without moving it: the "[given]" marker, from the moment the
    administration was recorded, and the "[missed]" marker, from the end of the window's last local
    day. Both are fixed instants, so an export stays byte-identical until something changes.
    """
    moments = [dose.revised_at]
    if dose.given is not None:
        moments.append(dose.given.recorded_at)
    if dose.status.state is DoseState.MISSED:
        next_day = dose.latest + timedelta(days=1)
        moments.append(datetime(next_day.year, next_day.month, next_day.day, tzinfo=ZoneInfo(timezone)))
    return max(moment.astimezone(UTC) for moment in moments)


def dose_facts(dose: DoseView, timezone: str) -> DoseFacts:
    return DoseFacts(
        sequence=dose.sequence,
        label=dose.label,
        study_day=dose.study_day,
        target_date=dose.target_date,
        earliest=dose.earliest,
        latest=dose.latest,
        planned_start=dose.planned_start,
        state=dose.status.state,
        revision=dose.revision,
        revised_at=shown_since(dose, timezone),
        given_at=dose.given.started_at if dose.given is not None else None,
    )


def assessment_facts(assessment: AssessmentView) -> AssessmentFacts:
    return AssessmentFacts(
        key=assessment.key,
        name=assessment.name,
        due=assessment.due,
        measures=assessment.measures,
        revision=assessment.revision,
        revised_at=assessment.revised_at,
        cancelled=assessment.cancelled,
    )


def subject_view_events(view: SubjectView, protocol: Protocol | None = None) -> list[CalendarEvent]:
    """Every dose (cancelled ones included) and assessment of one subject, in time order.

    A control arm with nothing to give has its schedule shown as "not applicable" doses in the
    ledger; they were never planned, so never published, and are left out (a skipped dose, which was
    planned, stays in as CANCELLED).
    """
    protocol = protocol if protocol is not None else get_protocol(view.protocol_id)
    return subject_events(
        protocol,
        subject_code=view.subject_code,
        site=view.site,
        timezone=view.timezone,
        doses=[
            dose_facts(dose, view.timezone)
            for dose in view.doses
            if dose.status.state is not DoseState.NOT_APPLICABLE
        ],
        assessments=[assessment_facts(assessment) for assessment in view.assessments],
    )


def site_view_events(
    views: Iterable[SubjectView], start: date | None = None, end: date | None = None
) -> list[CalendarEvent]:
    """A ward's calendar: every subject's events touching the local days ``start``..``end``."""
    events: list[CalendarEvent] = []
    for view in views:
        events += in_range(subject_view_events(view), start, end)
    return sort_events(events)
