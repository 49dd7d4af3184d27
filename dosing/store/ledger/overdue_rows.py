"""Every missed or late dose across subjects, as of a moment."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import func, select
from sqlmodel import Session, col

from dosing.status import DoseState, DoseWindow, dose_status
from dosing.store import tables as t
from dosing.store.db import Store
from dosing.store.ledger._common import _chunks, _id, _local_date, _utc
from dosing.store.ledger.dose_state import _dose_record, _DoseEvents
from dosing.store.ledger.overdue_queries import (
    _checkpoint,
    changed_doses,
    late_candidates,
    missed_candidates,
    missed_candidates_since,
    unreported_late_candidates,
)
from dosing.store.models import OverdueRow

_OVERDUE_FIELDS = set(OverdueRow.model_fields)


def _overdue_row(values: dict[str, Any]) -> OverdueRow:
    """An OverdueRow from values read from validated rows, without validating again (tens of thousands
    of rows per sweep: ``model_construct`` alone took half the sweep's time)."""
    row = OverdueRow.__new__(OverdueRow)
    object.__setattr__(row, "__dict__", values)
    object.__setattr__(row, "__pydantic_fields_set__", _OVERDUE_FIELDS)
    object.__setattr__(row, "__pydantic_extra__", None)
    object.__setattr__(row, "__pydantic_private__", None)
    return row


#: Which late doses a search returns: all of them, only those no sweep has reported yet, or none.
LateDoses = Literal["all", "unreported", "none"]


def _overdue(
    session: Session, as_of: datetime, *, full: bool = False, late: LateDoses = "all"
) -> list[tuple[OverdueRow, int]]:
    # Every zone's local date is at most one day past the UTC date: a superset, narrowed exactly below.
    utc = _utc(as_of)
    cutoff = date(utc.year, utc.month, utc.day) + timedelta(days=1)
    connection = session.connection()
    changed = set(connection.execute(changed_doses()).scalars())
    local_today: dict[str, date] = {}

    def today(timezone: str) -> date:
        if timezone not in local_today:
            local_today[timezone] = _local_date(as_of, timezone)
        return local_today[timezone]

    checkpoint = None if full else _checkpoint(session)
    queries = (
        [missed_candidates(cutoff)] if checkpoint is None else missed_candidates_since(checkpoint, cutoff)
    )
    seen: set[int] = set()
    found: list[tuple[date, str, int, int, dict[str, Any]]] = []
    # Doses never corrected or rescheduled: the planned window and the one outcome decide, exactly as
    # dose_status would.
    missed = DoseState.MISSED.value
    for query in queries:
        for (
            planned_id,
            sequence,
            label,
            target,
            latest,
            code,
            timezone,
            protocol_id,
            site,
        ) in connection.execute(query):
            if planned_id in changed or planned_id in seen or latest >= today(timezone):
                continue
            seen.add(planned_id)
            values = {
                "subject_code": code, "protocol_id": protocol_id, "site": site, "sequence": sequence,
                "label": label, "target_date": target, "latest": latest, "state": missed,
                "days_late": (today(timezone) - latest).days, "given_on": None, "course": None,
            }  # fmt: skip
            found.append((latest, code, sequence, planned_id, values))
    given_late = DoseState.GIVEN_LATE.value
    if late != "none":
        candidates = (
            connection.execute(late_candidates()) if late == "all" else unreported_late_candidates(connection)
        )
        for (
            planned_id,
            sequence,
            label,
            target,
            latest,
            code,
            _,
            protocol_id,
            site,
            given_on,
        ) in candidates:
            if planned_id in changed:
                continue
            values = {
                "subject_code": code, "protocol_id": protocol_id, "site": site, "sequence": sequence,
                "label": label, "target_date": target, "latest": latest, "state": given_late,
                "days_late": (given_on - latest).days, "given_on": given_on, "course": None,
            }  # fmt: skip
            found.append((latest, code, sequence, planned_id, values))
    found.sort(key=lambda item: item[:3])
    rows = [(_overdue_row(item[4]), item[3]) for item in found]
    rows.extend(
        (row, planned_id)
        for row, planned_id in _changed_overdue(session, sorted(changed), today)
        if late != "none" or row.state == missed
    )
    rows.sort(key=lambda item: (item[0].latest, item[0].subject_code, item[0].sequence))
    return rows


def _changed_overdue(
    session: Session, ids: list[int], today: Callable[[str], date]
) -> list[tuple[OverdueRow, int]]:
    rows: list[tuple[OverdueRow, int]] = []
    for chunk in _chunks(ids):
        found = session.execute(
            select(
                t.PlannedAdministration,
                col(t.Enrollment.timezone),
                col(t.Enrollment.protocol_id),
                col(t.Enrollment.site),
                col(t.Subject.code),
            )
            .join(t.Enrollment, col(t.Enrollment.id) == col(t.PlannedAdministration.enrollment_id))
            .join(t.Subject, col(t.Subject.id) == col(t.PlannedAdministration.subject_id))
            .where(col(t.PlannedAdministration.id).in_(chunk))
        ).all()
        events: dict[int, _DoseEvents] = defaultdict(_DoseEvents)
        for event in session.scalars(
            select(t.AdministrationEvent).where(col(t.AdministrationEvent.planned_id).in_(chunk))
        ):
            events[event.planned_id].add(event)
        for planned, timezone, protocol_id, site, code in found:
            dose_events = events[planned.id] if planned.id in events else _DoseEvents()
            target, earliest, latest = dose_events.window(planned)
            effective, kind = dose_events.effective()
            status = dose_status(
                DoseWindow(target_date=target, earliest=earliest, latest=latest),
                _dose_record(effective, kind),
                today(timezone),
            )
            if not status.state.needs_attention:
                continue
            given_on = effective.local_date if kind == "given" and effective is not None else None
            row = OverdueRow(
                subject_code=code, protocol_id=protocol_id, site=site, sequence=planned.sequence,
                label=planned.label, target_date=target, latest=latest, state=status.state.value,
                days_late=status.days_late or 0, given_on=given_on,
            )  # fmt: skip
            rows.append((row, _id(planned)))
    return rows


def overdue(store: Store, as_of: datetime) -> list[OverdueRow]:
    """Every missed or late dose across subjects, oldest window first, with days late."""
    with store.session() as session:
        rows = [row for row, _ in _overdue(session, as_of)]
    return _with_course(store, rows, as_of)


def _with_course(store: Store, rows: list[OverdueRow], as_of: datetime) -> list[OverdueRow]:
    """Rows of a total-over-period regimen say what the subject received of the total (few subjects:
    only protocols dosed as a total are read again)."""
    from dosing.catalog import get_protocol
    from dosing.protocol import TotalSplit
    from dosing.store.ledger.views import _views

    totals = {
        row.protocol_id
        for row in rows
        if any(isinstance(arm.dose, TotalSplit) for arm in get_protocol(row.protocol_id).arms)
    }
    if not totals:
        return rows
    # One batched read of every such subject (as the site view reads them), not one read per subject.
    codes = sorted({row.subject_code.lower() for row in rows if row.protocol_id in totals})
    courses: dict[str, str | None] = {}
    with store.session() as session:
        pairs: list[tuple[t.Subject, t.Enrollment]] = []
        for start in range(0, len(codes), 500):
            pairs += [
                (found[0], found[1])
                for found in session.execute(
                    select(t.Subject, t.Enrollment)
                    .join(t.Enrollment, col(t.Enrollment.subject_id) == col(t.Subject.id))
                    .where(func.lower(col(t.Subject.code)).in_(codes[start : start + 500]))
                ).all()
            ]
        for view in _views(session, pairs, as_of):
            courses[view.subject_code] = view.course.describe() if view.course is not None else None
    return [
        _overdue_row({**row.__dict__, "course": courses.get(row.subject_code)})
        if row.protocol_id in totals
        else row
        for row in rows
    ]
