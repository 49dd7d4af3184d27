"""The enrollment rows a store holds, without what differs between two equal enrollments (row ids,
times, hashes), so that the bulk path can be compared with the single one (tests, bench_enroll)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlmodel import SQLModel

from dosing.store import Store

TABLES = (
    "subjects", "enrollments", "enrollment_eligibility", "planned_administrations", "planned_assessments",
)  # fmt: skip
#: Columns that are ids, times or digests of them: the same enrollment made twice differs in these.
_VARYING = {"id", "subject_id", "enrollment_id", "created_at", "enrolled_at", "at", "entity_id",
            "row_refs", "row_hash", "prev_hash", "entry_hash", "signature_id"}  # fmt: skip


def _plain(row: dict[str, Any], codes: dict[int, str], subject_key: str | None) -> dict[str, Any]:
    kept = {name: value for name, value in row.items() if name not in _VARYING}
    if subject_key is not None:
        kept["subject"] = codes[row[subject_key]]
    return kept


def enrolled_rows(store: Store) -> dict[str, list[dict[str, Any]]]:
    """Per table, the rows of every enrollment (and the enroll audit entries), ids replaced by the
    subject's code, sorted: equal for two stores that enrolled the same subjects the same way."""
    tables = SQLModel.metadata.tables
    found: dict[str, list[dict[str, Any]]] = {}
    with store.session() as session:
        connection = session.connection()
        subjects = connection.execute(select(tables["subjects"])).mappings().all()
        codes = {row["id"]: row["code"] for row in subjects}
        enrollments = connection.execute(select(tables["enrollments"])).mappings().all()
        by_enrollment = {row["id"]: codes[row["subject_id"]] for row in enrollments}
        for name in TABLES:
            rows = connection.execute(select(tables[name])).mappings().all()
            plain = []
            for row in rows:
                kept = _plain(dict(row), codes, "subject_id" if "subject_id" in row else None)
                if "enrollment_id" in row:
                    kept["enrollment_of"] = by_enrollment[row["enrollment_id"]]
                plain.append(kept)
            found[name] = sorted(plain, key=repr)
        audit = connection.execute(
            select(tables["audit_log"]).where(tables["audit_log"].c.action == "enroll")
        ).mappings()
        found["audit_log"] = sorted((_plain(dict(row), codes, None) for row in audit), key=repr)
    return found
