"""Audit log entries: every change to the ledger is written with who, when, why, before and after."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlmodel import Session

from dosing.store import tables as t
from dosing.store.chain import chain_fields, refs_of, rows_digest
from dosing.store.ledger._common import _utc
from dosing.store.models import SignatureIntent


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
    rows: Sequence[Any] = (),
    refs: list[list[Any]] | None = None,
    signature: SignatureIntent | None = None,
) -> t.AuditEntry:
    """Append one entry to the audit chain for the ledger ``rows`` this change wrote (flushed), signed
    when the change needs a signature (the signature is linked to the same rows by their digest)."""
    fields = audit_fields(
        session, actor=actor, at=at, action=action, entity=entity, entity_id=entity_id,
        protocol_id=protocol_id, subject_code=subject_code, reason=reason, before=before, after=after,
        missed_planned_id=missed_planned_id, refs=[*refs_of(rows), *(refs or [])], signature=signature,
    )  # fmt: skip
    entry = t.AuditEntry(**fields)
    session.add(entry)
    session.flush()
    return entry


def audit_fields(
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
    refs: list[list[Any]] | None = None,
    row_hash: str | None = None,
    signature: SignatureIntent | None = None,
) -> dict[str, Any]:
    """The columns of the next audit entry, linked into the chain (insert it before the next one is
    built). ``row_hash``: the digest of the ``refs`` rows when the writer holds them as stored
    (:func:`dosing.store.chain.stored_rows_digest`); otherwise they are read back."""
    refs = refs or None
    signature_id = None
    if signature is not None:
        # The signature is linked to the rows it signs by their digest; the entry covers both.
        signed_hash = row_hash if row_hash is not None else (rows_digest(session, refs) if refs else None)
        signature_id = _sign(session, signature, refs, signed_hash, at)
        refs = [*(refs or []), ["signatures", signature_id]]
        row_hash = None
    if row_hash is None and refs:
        row_hash = rows_digest(session, refs)
    return chain_fields(
        session,
        {
            "at": _utc(at), "actor": actor, "action": action, "protocol_id": protocol_id,
            "subject_code": subject_code, "entity": entity, "entity_id": entity_id, "reason": reason,
            "before": _jsonable(before) if before is not None else None,
            "after": _jsonable(after) if after is not None else None,
            "missed_planned_id": missed_planned_id, "late_planned_id": None, "row_refs": refs,
            "row_hash": row_hash, "signature_id": signature_id,
        },
    )  # fmt: skip


def _sign(
    session: Session,
    signature: SignatureIntent,
    refs: list[list[Any]] | None,
    row_hash: str | None,
    at: datetime,
) -> int:
    if not refs or row_hash is None:
        raise AssertionError("a signature is linked to the rows it signs")
    row = t.Signature(
        account_id=signature.account_id,
        username=signature.username,
        printed_name=signature.printed_name,
        meaning=signature.meaning,
        signed_at=_utc(at),
        record_refs=refs,
        record_hash=row_hash,
    )
    session.add(row)
    session.flush()
    assert row.id is not None
    return row.id
