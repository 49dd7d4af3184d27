"""The audit entries a sweep writes: one per newly missed dose, one per dose newly found given late.

Each is one multi-row INSERT ... RETURNING, in the order given, instead of one round trip per dose;
the unique ``missed_planned_id`` and ``late_planned_id`` make a second report of a dose fail.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import insert
from sqlmodel import Session, col

from dosing.store import tables as t
from dosing.store.chain import chain_fields
from dosing.store.ledger._common import _id_of
from dosing.store.models import LateDose, MissedDose, OverdueRow


def _insert_entries(session: Session, entries: list[dict[str, Any]]) -> list[int]:
    if not entries:
        return []
    # Each entry links to the one before it, in the order they are inserted (RETURNING keeps it).
    for entry in entries:
        entry.setdefault("missed_planned_id", None)
        entry.setdefault("late_planned_id", None)
        entry.update(row_refs=None, row_hash=None, signature_id=None)
        chain_fields(session, entry)
    ids = session.scalars(
        insert(t.AuditEntry).returning(col(t.AuditEntry.id), sort_by_parameter_order=True), entries
    ).all()
    return [_id_of(audit_id) for audit_id in ids]


def _entry(
    row: OverdueRow,
    planned_id: int,
    at_utc: datetime,
    actor: str,
    action: str,
    reason: str,
    after: dict[str, Any],
    reported_as: str,
) -> dict[str, Any]:
    return {
        "at": at_utc, "actor": actor, "action": action, "protocol_id": row.protocol_id,
        "subject_code": row.subject_code, "entity": "planned_administrations", "entity_id": planned_id,
        "reason": reason, "before": None, "after": after, reported_as: planned_id,
    }  # fmt: skip


def _dose(row: OverdueRow) -> dict[str, Any]:
    return {
        "subject_code": row.subject_code, "protocol_id": row.protocol_id, "site": row.site,
        "sequence": row.sequence, "label": row.label, "latest": row.latest, "days_late": row.days_late,
    }  # fmt: skip


def _write_missed(
    session: Session, new: list[tuple[OverdueRow, int]], at_utc: datetime, actor: str
) -> list[MissedDose]:
    entries = [
        _entry(row, planned_id, at_utc, actor, "missed",
               f"window closed on {row.latest.isoformat()} with nothing recorded",
               {"dose": row.sequence, "label": row.label, "latest": row.latest.isoformat(),
                "days_late": row.days_late},
               "missed_planned_id")
        for row, planned_id in new
    ]  # fmt: skip
    return [
        MissedDose.model_construct(**_dose(row), audit_id=audit_id)
        for (row, _), audit_id in zip(new, _insert_entries(session, entries), strict=True)
    ]


def _write_late(
    session: Session, new: list[tuple[OverdueRow, int]], at_utc: datetime, actor: str
) -> list[LateDose]:
    entries = [
        _entry(row, planned_id, at_utc, actor, "dose_late",
               f"given on {_given_on(row).isoformat()}, after its window closed on {row.latest.isoformat()}",
               {"dose": row.sequence, "label": row.label, "latest": row.latest.isoformat(),
                "given_on": _given_on(row).isoformat(), "days_late": row.days_late},
               "late_planned_id")
        for row, planned_id in new
    ]  # fmt: skip
    return [
        LateDose.model_construct(**_dose(row), given_on=_given_on(row), audit_id=audit_id)
        for (row, _), audit_id in zip(new, _insert_entries(session, entries), strict=True)
    ]


def _given_on(row: OverdueRow) -> date:
    """The local day a late dose was given (a late row always has one)."""
    assert row.given_on is not None
    return row.given_on
