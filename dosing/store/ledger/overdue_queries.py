"""SQL of the overdue search: missed and late candidates, and the sweep's checkpoint."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select, text
from sqlmodel import Session

from dosing.store import tables as t
from dosing.store.ledger._common import _chunks

_planned = t.PlannedAdministration.__table__  # type: ignore[attr-defined]
_events = t.AdministrationEvent.__table__  # type: ignore[attr-defined]
_enrollments = t.Enrollment.__table__  # type: ignore[attr-defined]
_subjects = t.Subject.__table__  # type: ignore[attr-defined]
_audit_log = t.AuditEntry.__table__  # type: ignore[attr-defined]

_DOSE_COLUMNS = (
    _planned.c.id,
    _planned.c.sequence,
    _planned.c.label,
    _planned.c.target_date,
    _planned.c.latest,
    _subjects.c.code,
    _enrollments.c.timezone,
    _enrollments.c.protocol_id,
    _enrollments.c.site,
)


def _with_subject(query: Any) -> Any:
    return query.join(_enrollments, _enrollments.c.id == _planned.c.enrollment_id).join(
        _subjects, _subjects.c.id == _planned.c.subject_id
    )


def _unrecorded() -> Any:
    # No outcome (given or skipped) was ever recorded: a probe of the unique (planned dose, slot) index.
    return ~(
        select(_events.c.id)
        .where(_events.c.planned_id == _planned.c.id, _events.c.slot.is_not(None))
        .exists()
    )


def missed_candidates(cutoff: date) -> Any:
    """Every planned dose whose planned window ended before ``cutoff`` with no outcome recorded.

    Walks the index on window end and probes the events: an anti-join, with no column on the planned
    rows that would need an UPDATE when a dose is recorded. Its cost grows with every past dose.
    """
    return _with_subject(select(*_DOSE_COLUMNS).select_from(_planned)).where(
        _planned.c.latest < cutoff, _unrecorded()
    )


def missed_candidates_since(checkpoint: SweepCheckpoint, cutoff: date) -> list[Any]:
    """The same set, from the last sweep's checkpoint: only what the checkpoint does not vouch for.

    A sweep wrote every dose then missed to the audit log and recorded that it had looked at every dose
    up to ``max_planned_id`` whose window ended before ``checked_before``. What may be missed now is
    therefore: (1) doses reported missed then and still unrecorded, (2) windows that ended since the
    checkpoint, (3) doses planned after it (backdated enrollments). Doses that had an outcome then keep
    it, unless corrected, and corrected or rescheduled doses are always worked out from their events.
    """
    base = _with_subject(select(*_DOSE_COLUMNS).select_from(_planned))
    reported = select(_audit_log.c.missed_planned_id).where(_audit_log.c.missed_planned_id.is_not(None))
    return [
        base.where(_planned.c.id.in_(reported), _planned.c.latest < cutoff, _unrecorded()),
        base.where(_planned.c.latest >= checkpoint.checked_before, _planned.c.latest < cutoff, _unrecorded()),
        base.where(
            _planned.c.id > checkpoint.max_planned_id,
            _planned.c.latest < checkpoint.checked_before,
            _planned.c.latest < cutoff,
            _unrecorded(),
        ),
    ]


@dataclass(frozen=True)
class SweepCheckpoint:
    checked_before: date
    max_planned_id: int


def _checkpoint(session: Session) -> SweepCheckpoint | None:
    after = (
        session.connection()
        .execute(
            select(_audit_log.c.after)
            .where(_audit_log.c.action == "sweep")
            .order_by(_audit_log.c.id.desc())
            .limit(1)
        )
        .scalar()
    )
    if not after:
        return None
    return SweepCheckpoint(
        checked_before=date.fromisoformat(after["checked_before"]),
        max_planned_id=int(after["max_planned_id"]),
    )


def late_candidates() -> Any:
    """Doses given after the window in effect when they were recorded (a small partial index)."""
    return _with_subject(
        select(*_DOSE_COLUMNS, _events.c.local_date)
        .select_from(_events)
        .join(_planned, _planned.c.id == _events.c.planned_id)
    ).where(_events.c.local_date > _events.c.window_latest, _events.c.kind == "given")


def unreported_late_candidates(connection: Any) -> list[Any]:
    """The late candidates no sweep has written to the audit log yet, in the columns of
    :func:`late_candidates`.

    Their ids first, from the late-dose index probed against the audit log's unique ``late_planned_id``
    (on most days none: the cost grows with late doses ever, not with all doses), then their details.
    """
    reported = select(_audit_log.c.id).where(_audit_log.c.late_planned_id == _events.c.planned_id).exists()
    ids = list(
        connection.execute(
            select(_events.c.planned_id).where(
                _events.c.local_date > _events.c.window_latest, _events.c.kind == "given", ~reported
            )
        ).scalars()
    )
    rows: list[Any] = []
    for chunk in _chunks(sorted(set(ids))):
        rows.extend(connection.execute(late_candidates().where(_events.c.planned_id.in_(chunk))))
    return rows


def changed_doses() -> Any:
    """Doses with a correction or a reschedule: their status is worked out from all their events."""
    # The predicate is written out literally so that SQLite can match it to the partial index.
    return select(_events.c.planned_id).where(text("kind IN ('correction', 'reschedule')")).distinct()
