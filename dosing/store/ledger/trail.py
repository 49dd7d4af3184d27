"""The audit trail, read back."""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import col

from dosing.store import tables as t
from dosing.store.accounts import signature_texts
from dosing.store.db import Store
from dosing.store.models import AuditView


def audit_trail(
    store: Store, subject_code: str | None = None, protocol_id: str | None = None, limit: int | None = None
) -> list[AuditView]:
    """Audit entries, oldest first (the last ``limit`` when given)."""
    with store.session() as session:
        query = select(t.AuditEntry)
        if subject_code is not None:
            query = query.where(col(t.AuditEntry.subject_code) == subject_code)
        if protocol_id is not None:
            query = query.where(col(t.AuditEntry.protocol_id) == protocol_id)
        query = query.order_by(col(t.AuditEntry.id).desc())
        if limit is not None:
            query = query.limit(limit)
        entries = list(session.scalars(query))
        signed = signature_texts(session, [e.signature_id for e in entries if e.signature_id is not None])
    return [
        AuditView(
            id=entry.id,
            at=entry.at,
            actor=entry.actor,
            action=entry.action,
            protocol_id=entry.protocol_id,
            subject_code=entry.subject_code,
            entity=entry.entity,
            entity_id=entry.entity_id,
            reason=entry.reason,
            before=entry.before,
            after=entry.after,
            signature=signed.get(entry.signature_id) if entry.signature_id is not None else None,
            entry_hash=entry.entry_hash,
        )
        for entry in reversed(entries)
    ]
