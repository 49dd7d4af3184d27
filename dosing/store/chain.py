"""The audit log as a hash chain, and the digests that tie each entry to the ledger rows it records.

Every audit entry carries ``prev_hash`` (the ``entry_hash`` of the entry before it, or
:data:`GENESIS` for the first), ``row_refs`` (the ledger rows the change wrote) with ``row_hash`` (a
digest of those rows as the database holds them) and its own ``entry_hash`` over all of that. Anyone
can recompute the chain from the database alone (:func:`verify`): an edited entry no longer matches
its hash, a deleted or inserted entry breaks the ``prev_hash`` link, an edited or replaced ledger row
no longer matches the digest of the entry that wrote it, and a ledger row that no entry wrote is found.

Writers are serialised (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: a transaction-scoped advisory lock
taken by :meth:`dosing.store.db.Store.transaction`), and ``prev_hash`` is unique, so the chain cannot
fork even if two writers raced.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Table, select, text
from sqlmodel import Session, SQLModel

#: The ``prev_hash`` of the first entry of a chain.
GENESIS = "0" * 64

#: Audit entry fields covered by ``entry_hash`` (everything but the id and the hash itself).
ENTRY_FIELDS = (
    "at", "actor", "action", "protocol_id", "subject_code", "entity", "entity_id", "reason", "before",
    "after", "missed_planned_id", "late_planned_id", "row_refs", "row_hash", "signature_id", "prev_hash",
)  # fmt: skip

#: Tables whose every row must have been written by an audited change (checked by :func:`verify`).
COVERED_TABLES = (
    "subjects", "enrollments", "planned_administrations", "planned_assessments", "administration_events",
    "cohort_reviews", "lots", "signatures", "safety_decisions",
    # pharmacy custody (issue 11)
    "stock_movements", "lot_status_changes", "container_thaws", "preparations", "preparation_events",
)  # fmt: skip

_HEAD = "dosing.chain.head"


#: Types :func:`_plain` returns as they are (checked by exact type first: most values are these).
_AS_IS = frozenset({str, int, bool, type(None)})


def _instant(value: datetime) -> str:
    """A UTC instant with microseconds: ``2026-12-01T09:00:00.000000Z`` (a naive time is UTC)."""
    moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    # The year unpadded, as strftime's %Y writes it (every digest so far has it so).
    return (
        f"{moment.year}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:{moment.minute:02d}:"
        f"{moment.second:02d}.{moment.microsecond:06d}Z"
    )


def _mapping(value: dict[Any, Any]) -> dict[str, Any]:
    plain: dict[str, Any] = {}
    for key, item in value.items():
        kind = type(item)
        if kind not in _AS_IS:  # the dispatch of _plain, inlined: most rows are flat
            item = (_CONVERTERS.get(kind) or _learn(kind))(item)
        plain[key if type(key) is str else str(key)] = item
    return plain


def _sequence(value: list[Any] | tuple[Any, ...]) -> list[Any]:
    return [item if type(item) in _AS_IS else _plain(item) for item in value]


def _as_is(value: Any) -> Any:
    return value


def _converter(kind: type) -> Any:
    """How :func:`_plain` converts a value of type ``kind`` (decided by ``isinstance``, once a type)."""
    if issubclass(kind, datetime):
        return _instant
    if issubclass(kind, date):
        return kind.isoformat
    if issubclass(kind, Decimal):
        return str
    if issubclass(kind, dict):
        return _mapping
    if issubclass(kind, list | tuple):
        return _sequence
    if issubclass(kind, bool | int | str) or kind is type(None):
        return _as_is
    if issubclass(kind, float):
        return repr
    return str


#: The converter of each type met so far (a type's converter depends on the type alone).
_CONVERTERS: dict[type, Any] = {}


def _learn(kind: type) -> Any:
    convert = _CONVERTERS[kind] = _converter(kind)
    return convert


def _plain(value: Any) -> Any:
    """A JSON-able value that is the same whether it comes from a Python object or from the database."""
    kind = type(value)
    return (_CONVERTERS.get(kind) or _learn(kind))(value)


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical(value: Any) -> bytes:
    """Canonical JSON: sorted keys, no spaces, UTF-8, UTC instants with microseconds, exact decimals."""
    return _ENCODER.encode(_plain(value)).encode()


def sha256(value: Any) -> str:
    return hashlib.sha256(canonical(value)).hexdigest()


def entry_hash(fields: dict[str, Any]) -> str:
    """The hash of an audit entry's content (its ``ENTRY_FIELDS``)."""
    return sha256({name: fields.get(name) for name in ENTRY_FIELDS})


def _table(name: str) -> Table:
    table = SQLModel.metadata.tables.get(name)
    if table is None:
        raise KeyError(f"no ledger table {name!r}")
    return table


def rows_digest(session: Session, refs: Sequence[Sequence[Any]]) -> str | None:
    """The digest of the rows ``refs`` (``[table, id]`` pairs) as the database holds them now.

    None when a row is missing. Rows are read with plain SQL, so the digest written with an entry and
    the digest recomputed later see the same values.
    """
    by_table: dict[str, list[int]] = {}
    for table_name, row_id in refs:
        by_table.setdefault(str(table_name), []).append(int(row_id))
    found: dict[tuple[str, int], dict[str, Any]] = {}
    for table_name, ids in by_table.items():
        table = _table(table_name)
        for start in range(0, len(ids), 2000):
            chunk = ids[start : start + 2000]
            for row in session.connection().execute(select(table).where(table.c.id.in_(chunk))).mappings():
                found[(table_name, int(row["id"]))] = _row(row)
    rows = []
    for table_name, row_id in refs:
        values = found.get((str(table_name), int(row_id)))
        if values is None:
            return None
        rows.append((str(table_name), values))
    return stored_rows_digest(rows)


def stored_rows_digest(rows: Sequence[tuple[str, Any]]) -> str:
    """The digest of ``(table, row)`` pairs, each row a mapping of its columns as the database returns
    them (a SELECT, or an INSERT's RETURNING of every column): what :func:`rows_digest` computes, for
    a writer that already holds the rows it inserted."""
    return sha256([[table_name, _row(values)] for table_name, values in rows])


def _row(row: Any) -> dict[str, Any]:
    """A row's columns without its NULLs, so that a column added later (NULL in old rows) leaves old
    digests as they were; setting a value to NULL still changes the digest."""
    return {key: value for key, value in dict(row).items() if value is not None}


def refs_of(rows: Iterable[Any]) -> list[list[Any]]:
    """``[table, id]`` pairs of flushed table-model rows."""
    refs = []
    for row in rows:
        assert row.id is not None, "rows are flushed before they are audited"
        refs.append([row.__tablename__, int(row.id)])
    return refs


def _head(session: Session) -> str:
    cached: str | None = session.info.get(_HEAD)
    if cached is not None:
        return cached
    last = (
        session.connection()
        .execute(text("SELECT entry_hash FROM audit_log ORDER BY id DESC LIMIT 1"))
        .scalar()
    )
    return str(last) if last else GENESIS


def chain_fields(session: Session, fields: dict[str, Any]) -> dict[str, Any]:
    """``fields`` of a new audit entry completed with its links: row digest, previous hash, own hash.

    Call in the writing transaction, once per entry, in the order the entries are inserted.
    """
    refs = fields.get("row_refs")
    if refs and fields.get("row_hash") is None:
        fields["row_hash"] = rows_digest(session, refs)
    fields["prev_hash"] = _head(session)
    fields["entry_hash"] = entry_hash(fields)
    session.info[_HEAD] = fields["entry_hash"]
    return fields


#: The action of the entry that starts the chain on a store that had records before it (migration
#: 0003): its ``after.legacy`` seals every older row of each covered table with one digest.
CHAIN_STARTED = "chain_started"


def legacy_digest(session: Session, table_name: str, max_id: int) -> str:
    """One digest over every row of a table up to ``max_id``, in id order."""
    table = _table(table_name)
    digest = hashlib.sha256()
    rows = session.connection().execute(select(table).where(table.c.id <= max_id).order_by(table.c.id))
    for row in rows.mappings():
        digest.update(canonical(_row(row)))
        digest.update(b"\n")
    return digest.hexdigest()


def forget_head(session: Session) -> None:
    """Drop the cached chain head (after a rollback, the next transaction reads it again)."""
    session.info.pop(_HEAD, None)


# --- verification -------------------------------------------------------------------------------


class ChainProblem(BaseModel):
    model_config = ConfigDict(frozen=True)

    entry_id: int | None
    kind: str
    message: str

    def __str__(self) -> str:
        where = f"audit entry {self.entry_id}" if self.entry_id is not None else "ledger"
        return f"{where}: {self.message} ({self.kind})"


class ChainReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    entries: int
    head: str
    problems: list[ChainProblem]

    @property
    def ok(self) -> bool:
        return not self.problems


def _entries(session: Session) -> Iterator[dict[str, Any]]:
    table = _table("audit_log")
    last_id = 0
    while True:
        batch = list(
            session.connection()
            .execute(select(table).where(table.c.id > last_id).order_by(table.c.id).limit(5000))
            .mappings()
        )
        if not batch:
            return
        for row in batch:
            yield dict(row)
        last_id = int(batch[-1]["id"])


def verify(session: Session, *, limit_problems: int = 20) -> ChainReport:
    """Recompute the whole chain and every recorded row digest; report the problems, first first."""
    problems: list[ChainProblem] = []
    expected_prev = GENESIS
    covered: dict[str, set[int]] = {name: set() for name in COVERED_TABLES}
    legacy_max: dict[str, int] = {}
    count = 0

    def add(entry_id: int | None, kind: str, message: str) -> None:
        if len(problems) < limit_problems:
            problems.append(ChainProblem(entry_id=entry_id, kind=kind, message=message))

    for entry in _entries(session):
        count += 1
        entry_id = int(entry["id"])
        if entry["prev_hash"] != expected_prev:
            add(entry_id, "broken link",
                "its previous-entry hash does not match the entry before it: an entry was deleted, "
                "inserted or replaced here")  # fmt: skip
        if entry_hash(entry) != entry["entry_hash"]:
            add(entry_id, "edited entry", "its content does not match its hash: the entry was edited")
        refs = entry.get("row_refs") or []
        if refs:
            for table_name, row_id in refs:
                if table_name in covered:
                    covered[table_name].add(int(row_id))
            digest = rows_digest(session, refs)
            if digest is None:
                add(entry_id, "missing row", f"a row it recorded is gone: {_describe(refs)}")
            elif digest != entry["row_hash"]:
                add(entry_id, "edited row", f"a row it recorded was changed since: {_describe(refs)}")
        expected_prev = str(entry["entry_hash"])
        legacy = (entry.get("after") or {}).get("legacy") if entry["action"] == CHAIN_STARTED else None
        for table_name, sealed in (legacy or {}).items():
            legacy_max[table_name] = int(sealed["max_id"])
            if legacy_digest(session, table_name, int(sealed["max_id"])) != sealed["digest"]:
                add(
                    entry_id,
                    "edited row",
                    f"a {table_name} row written before the chain started was changed, added or removed",
                )
    for table_name in COVERED_TABLES:
        if table_name not in SQLModel.metadata.tables:
            continue
        table = _table(table_name)
        ids = (
            session.connection()
            .execute(
                select(table.c.id).where(table.c.id > legacy_max.get(table_name, 0)).order_by(table.c.id)
            )
            .scalars()
        )
        for row_id in ids:
            if int(row_id) not in covered[table_name]:
                add(None, "unaudited row", f"{table_name} row {row_id} was written without an audit entry")
    return ChainReport(entries=count, head=expected_prev, problems=problems)


def _describe(refs: Sequence[Sequence[Any]]) -> str:
    shown = ", ".join(f"{table} {row_id}" for table, row_id in refs[:4])
    return shown + (f" and {len(refs) - 4} more" if len(refs) > 4 else "")
