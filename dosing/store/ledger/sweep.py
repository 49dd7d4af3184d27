"""The missed-dose sweep: each newly missed dose written once to the audit log."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from dosing.store import tables as t
from dosing.store.db import Store
from dosing.store.ledger._common import _id_of, _utc
from dosing.store.ledger.audit_entry import _audit
from dosing.store.ledger.overdue_queries import _checkpoint, _planned
from dosing.store.ledger.overdue_rows import _overdue
from dosing.store.models import MissedDose


def sweep_missed(store: Store, as_of: datetime, actor: str) -> list[MissedDose]:
    """Write each newly missed dose once to the audit log; returns only those (idempotent)."""
    for attempt in range(3):
        try:
            return _sweep_once(store, as_of, actor)
        except IntegrityError:
            # Another sweep reported some of the same doses first (unique missed_planned_id): look again.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _sweep_once(store: Store, as_of: datetime, actor: str) -> list[MissedDose]:
    with store.transaction() as session:
        connection = session.connection()
        if not store.is_sqlite:
            # Wait for enrollments in flight and hold new ones until this sweep commits, so that every
            # planned dose up to max_planned_id is visible to it (SQLite writers are serialised anyway).
            connection.execute(text("LOCK TABLE planned_administrations IN SHARE MODE"))
        max_planned_id = connection.execute(select(func.max(_planned.c.id))).scalar() or 0
        previous = _checkpoint(session)
        missed = _overdue(session, as_of, missed_only=True)
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
                       "newly_missed": len(new)},
            )  # fmt: skip
        if not new:
            return []
        entries = [
            {
                "at": at_utc,
                "actor": actor,
                "action": "missed",
                "protocol_id": row.protocol_id,
                "subject_code": row.subject_code,
                "entity": "planned_administrations",
                "entity_id": planned_id,
                "reason": f"window closed on {row.latest.isoformat()} with nothing recorded",
                "before": None,
                "after": {"dose": row.sequence, "label": row.label, "latest": row.latest.isoformat(),
                          "days_late": row.days_late},
                "missed_planned_id": planned_id,
            }
            for row, planned_id in new
        ]  # fmt: skip
        # One multi-row INSERT ... RETURNING, in the order given, instead of one round trip per dose.
        ids = session.scalars(
            insert(t.AuditEntry).returning(col(t.AuditEntry.id), sort_by_parameter_order=True), entries
        ).all()
        return [
            MissedDose.model_construct(
                subject_code=row.subject_code,
                protocol_id=row.protocol_id,
                site=row.site,
                sequence=row.sequence,
                label=row.label,
                latest=row.latest,
                days_late=row.days_late,
                audit_id=_id_of(audit_id),
            )
            for (row, _), audit_id in zip(new, ids, strict=True)
        ]
