"""One planned dose read for recording, and the refusal of a second record of it."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlmodel import Session, col

from dosing.errors import DosingError
from dosing.store import tables as t
from dosing.store.ledger._common import _local
from dosing.store.ledger.dose_state import _DoseEvents


def _planned_dose(
    session: Session, subject: t.Subject, enrollment: t.Enrollment, sequence: int
) -> tuple[t.PlannedAdministration, _DoseEvents]:
    planned = session.scalars(
        select(t.PlannedAdministration).where(
            col(t.PlannedAdministration.subject_id) == subject.id,
            col(t.PlannedAdministration.sequence) == sequence,
        )
    ).first()
    if planned is None:
        count = session.scalars(
            select(func.count()).where(col(t.PlannedAdministration.subject_id) == subject.id)
        ).one()
        rule = f"one of doses 1-{count}" if count else "a planned administration (control arm has none)"
        raise DosingError("dose", rule, f"{subject.code} has no planned dose {sequence}")
    events = _DoseEvents()
    rows = session.scalars(
        select(t.AdministrationEvent)
        .where(col(t.AdministrationEvent.planned_id) == planned.id)
        .order_by(col(t.AdministrationEvent.id))
    ).all()
    for row in rows:
        events.add(row)
    return planned, events


def _describe(event: t.AdministrationEvent, kind: str, timezone: str) -> str:
    if kind == "given" and event.started_at is not None:
        when = _local(event.started_at, timezone).strftime("%Y-%m-%d %H:%M %Z")
        return f"given at {when} by {event.given_by or event.recorded_by} (record {event.id})"
    return f"skipped ({event.reason}) by {event.recorded_by} (record {event.id})"


def _refuse_if_recorded(
    subject: t.Subject, enrollment: t.Enrollment, sequence: int, events: _DoseEvents
) -> None:
    effective, kind = events.effective()
    if effective is not None and kind is not None:
        raise DosingError(
            "dose",
            "one record per planned dose; a change is a correction (dosing correct)",
            f"dose {sequence} of {subject.code} is already recorded: "
            f"{_describe(effective, kind, enrollment.timezone)}",
        )
