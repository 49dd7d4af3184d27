"""Audit log entries: every change to the ledger is written with who, when, why, before and after."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlmodel import Session

from dosing.store import tables as t
from dosing.store.ledger._common import _utc


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    return value


def _row_json(row: Any, *, skip: Iterable[str] = ()) -> dict[str, Any]:
    data = row.model_dump()
    for name in skip:
        data.pop(name, None)
    return {key: _jsonable(value) for key, value in data.items() if value is not None}


def _audit(
    session: Session,
    *,
    actor: str,
    at: datetime,
    action: str,
    entity: str,
    entity_id: int | None,
    protocol_id: str | None = None,
    subject_code: str | None = None,
    reason: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    missed_planned_id: int | None = None,
) -> t.AuditEntry:
    entry = t.AuditEntry(
        at=_utc(at),
        actor=actor,
        action=action,
        protocol_id=protocol_id,
        subject_code=subject_code,
        entity=entity,
        entity_id=entity_id,
        reason=reason,
        before=before,
        after=after,
        missed_planned_id=missed_planned_id,
    )
    session.add(entry)
    session.flush()
    return entry
