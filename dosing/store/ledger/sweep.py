"""The daily sweep: each newly missed dose, and each dose newly found given late, written once to the
audit log."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from dosing.status import DoseState
from dosing.store import tables as t
from dosing.store.db import Store
from dosing.store.ledger._common import _chunks, _one_writer_at_a_time, _utc
from dosing.store.ledger.audit_entry import _audit
from dosing.store.ledger.overdue_queries import _checkpoint, _planned
from dosing.store.ledger.overdue_rows import _overdue
from dosing.store.ledger.sweep_entries import _write_late, _write_missed
from dosing.store.models import MissedDose, OverdueRow, SweepResult


def sweep_missed(store: Store, as_of: datetime, actor: str) -> list[MissedDose]:
    """Write each newly missed dose once to the audit log; returns only those (idempotent).

    The same sweep as :func:`sweep_overdue` (doses given late are written too); returns the missed."""
    return sweep_overdue(store, as_of, actor).missed


def sweep_overdue(store: Store, as_of: datetime, actor: str) -> SweepResult:
    """Write each newly missed dose, and each dose newly found given after its window closed, once to
    the audit log; returns only those (idempotent: a second sweep returns nothing)."""
    for attempt in range(3):
        try:
            return _sweep_once(store, as_of, actor)
        except IntegrityError:
            # Another sweep reported some of the same doses first (unique missed_planned_id or
            # late_planned_id): look again.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _reported_late(connection: Any, planned_ids: list[int]) -> set[int]:
    reported: set[int] = set()
    for chunk in _chunks(sorted(planned_ids)):
        reported.update(
            connection.execute(
                select(col(t.AuditEntry.late_planned_id)).where(col(t.AuditEntry.late_planned_id).in_(chunk))
            ).scalars()
        )
    return reported


def _sweep_once(store: Store, as_of: datetime, actor: str) -> SweepResult:
    with store.transaction() as session:
        connection = session.connection()
        # Two sweeps at once would both read the same checkpoint and both write one: take turns.
        _one_writer_at_a_time(session, "dosing.sweep")
        if not store.is_sqlite:
            # Wait for enrollments in flight and hold new ones until this sweep commits, so that every
            # planned dose up to max_planned_id is visible to it (SQLite writers are serialised anyway).
            connection.execute(text("LOCK TABLE planned_administrations IN SHARE MODE"))
        max_planned_id = connection.execute(select(func.max(_planned.c.id))).scalar() or 0
        previous = _checkpoint(session)
        missed: list[tuple[OverdueRow, int]] = []
        late: list[tuple[OverdueRow, int]] = []
        given_late = DoseState.GIVEN_LATE.value
        for found in _overdue(session, as_of, late="unreported"):
            (late if found[0].state == given_late else missed).append(found)
        reported = set(
            session.connection()
            .execute(
                select(col(t.AuditEntry.missed_planned_id)).where(
                    col(t.AuditEntry.missed_planned_id).is_not(None)
                )
            )
            .scalars()
        )
        new = [(row, planned_id) for row, planned_id in missed if planned_id not in reported]
        # Unchanged doses come back unreported already; corrected or rescheduled ones are checked here,
        # so a dose voided and given late again is still reported once.
        reported_late = _reported_late(connection, [planned_id for _, planned_id in late])
        new_late = [(row, planned_id) for row, planned_id in late if planned_id not in reported_late]
        at_utc = _utc(as_of)
        # Every zone's local day is at least the UTC day minus one: windows that ended before it are
        # closed everywhere, so this sweep vouches for them.
        checked_before = date(at_utc.year, at_utc.month, at_utc.day) - timedelta(days=1)
        if (
            previous is None
            or checked_before > previous.checked_before
            or max_planned_id > previous.max_planned_id
        ):
            _audit(
                session, actor=actor, at=as_of, action="sweep", entity="planned_administrations",
                entity_id=None, reason="missed-dose sweep",
                after={"checked_before": checked_before.isoformat(), "max_planned_id": max_planned_id,
                       "newly_missed": len(new), "newly_late": len(new_late)},
            )  # fmt: skip
        return SweepResult.model_construct(
            missed=_write_missed(session, new, at_utc, actor),
            late=_write_late(session, new_late, at_utc, actor),
        )
