"""Bulk enrollment (a roster in one transaction, a SAVEPOINT per subject) against the single path:
the same rows, each subject all or nothing, a rerun changes nothing, the audit chain holds."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlmodel import col

from dosing.app.roster import parse_roster
from dosing.store import Store, open_store
from dosing.store import tables as t
from tests.enrolled_rows import enrolled_rows
from tests.store.conftest import PG_URL, SESSION_TAG, _pg_reachable, pg_url_for

ROSTERS = Path(__file__).parents[1] / "flows" / "rosters"
PASSWORD = "a long test password 2026"
HEADER = (
    "subject_code,protocol,arm,weight,anchor,site,"
    "age,creatinine,bilirubin,inr,albumin,ascites,encephalopathy\n"
)
LABS = "50,1.5 mg/dL,10 mg/dL,1.8,3.0 g/dL,mild,none"


def _row(code: str, weight: str = "62 kg", arm: str = "") -> str:
    return f"{code},NCT04822922,{arm},{weight},2026-12-01,renji-shanghai,{LABS}\n"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def two_store_urls(request: Any, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Two empty stores of the same kind: one for the single path, one for the bulk path."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'single.db'}", f"sqlite:///{tmp_path / 'bulk.db'}"
        return
    problem = _pg_reachable()
    if problem is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL unreachable under CI: {problem}")
        pytest.skip(f"PostgreSQL unreachable: {problem}")
    schemas = [f"bulk_test_{SESSION_TAG}_{uuid.uuid4().hex[:6]}" for _ in range(2)]
    admin = create_engine(PG_URL)
    with admin.begin() as connection:
        for schema in schemas:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield pg_url_for(schemas[0]), pg_url_for(schemas[1])
    finally:
        with admin.begin() as connection:
            for schema in schemas:
                connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _coordinator(store: Store) -> Any:
    from dosing.app import accounts
    from dosing.app.context import Context

    admin = accounts.bootstrap_admin(store, "admin", "Ada Admin", "admin", PASSWORD)
    actor = accounts.add_user(
        Context(store=store, actor=admin), "coord", "Co Ordinator", "coordinator", PASSWORD
    )
    return Context(store=store, actor=actor)


def _chain_ok(store: Store) -> bool:
    from dosing.store.chain import verify

    with store.session() as session:
        report = verify(session)
    assert report.problems == []
    return report.ok


def _count(store: Store, table: Any) -> int:
    with store.session() as session:
        return int(session.scalar(select(func.count()).select_from(table)) or 0)


def test_bulk_stores_the_same_rows_as_one_enrollment_at_a_time(two_store_urls: tuple[str, str]) -> None:
    from dosing.app.bulk_enrollment import enroll_rows
    from dosing.app.enrollment import enroll

    roster = parse_roster((ROSTERS / "good.csv").read_text())
    # Each row keeps the form it was checked against when read: the same as one built again now.
    assert [row.to_form() for row in roster.rows] == [row._build_form() for row in roster.rows]
    single_store, bulk_store = (open_store(url) for url in two_store_urls)
    try:
        single = _coordinator(single_store)
        for row in roster.rows:
            enroll(single, row.to_form())
        outcome = enroll_rows(_coordinator(bulk_store), roster.rows)
        assert [item["subject_code"] for item in outcome["enrolled"]] == [r.subject_code for r in roster.rows]
        assert outcome["rejected"] == [] and outcome["skipped"] == []
        single_rows, bulk_rows = enrolled_rows(single_store), enrolled_rows(bulk_store)
        # Randomized, cohort and fixed-arm subjects, with their planned doses and assessments.
        assert len(bulk_rows["planned_administrations"]) > len(roster.rows)
        assert len(bulk_rows["audit_log"]) == len(roster.rows)
        assert bulk_rows == single_rows
        assert _chain_ok(bulk_store)
    finally:
        single_store.dispose()
        bulk_store.dispose()


def test_a_bad_row_in_the_middle_is_rejected_alone_and_a_rerun_changes_nothing(store_url: str) -> None:
    from dosing.app.bulk_enrollment import enroll_roster

    text_ = HEADER + _row("B-1") + _row("B-2", weight="620 kg") + _row("B-3") + _row("B-4")
    roster = parse_roster(text_)
    store = open_store(store_url)
    try:
        ctx = _coordinator(store)
        first = enroll_roster(ctx, roster, batch_size=3)
        assert [item["subject_code"] for item in first["enrolled"]] == ["B-1", "B-3", "B-4"]
        assert [(item["line"], item["field"]) for item in first["rejected"]] == [(3, "weight")]
        assert "(rule: " in first["rejected"][0]["reason"]
        with store.session() as session:
            assert session.scalar(select(t.Subject.id).where(col(t.Subject.code) == "B-2")) is None
        audit_before = _count(store, t.AuditEntry)
        rows_before = enrolled_rows(store)

        again = enroll_roster(ctx, roster)
        assert again["enrolled"] == []
        assert [item["subject_code"] for item in again["skipped"]] == ["B-1", "B-3", "B-4"]
        assert [item["line"] for item in again["rejected"]] == [3]
        assert _count(store, t.AuditEntry) == audit_before
        assert enrolled_rows(store) == rows_before

        changed = enroll_roster(ctx, parse_roster(HEADER + _row("B-1", weight="63 kg")))
        assert changed["enrolled"] == [] and changed["skipped"] == []
        assert "already enrolled with other inputs: weight" in changed["rejected"][0]["reason"]
        assert enrolled_rows(store) == rows_before
        assert _chain_ok(store)
    finally:
        store.dispose()


def test_a_subject_whose_insert_fails_midway_leaves_nothing_and_the_others_are_enrolled(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dosing.app.bulk_enrollment import enroll_rows
    from dosing.store.ledger import enrollment as module

    real_audit = module._audit

    def failing_audit(session: Any, **fields: Any) -> Any:
        entry = real_audit(session, **fields)  # rows and audit entry written, chain head moved on
        if fields["subject_code"] == "F-2":
            # A real refusal by the database after everything of F-2 was flushed: a second subject
            # with the same code (the unique index on lower(code)).
            session.execute(
                t.Subject.__table__.insert().values(  # type: ignore[attr-defined]
                    code="f-2", protocol_id="NCT04822922", created_at=fields["at"]
                )
            )
        return entry

    monkeypatch.setattr(module, "_audit", failing_audit)
    store = open_store(store_url)
    try:
        roster = parse_roster(HEADER + _row("F-1") + _row("F-2") + _row("F-3"))
        outcome = enroll_rows(_coordinator(store), roster.rows)
        assert [item["subject_code"] for item in outcome["enrolled"]] == ["F-1", "F-3"]
        assert [(item["line"], item["subject_code"]) for item in outcome["rejected"]] == [(3, "F-2")]
        assert "nothing was stored for it" in outcome["rejected"][0]["reason"]
        rows = enrolled_rows(store)
        assert {row["code"] for row in rows["subjects"]} == {"F-1", "F-3"}
        assert {row["enrollment_of"] for row in rows["planned_administrations"]} == {"F-1", "F-3"}
        assert {row["subject_code"] for row in rows["audit_log"]} == {"F-1", "F-3"}
        # F-3's entry links to F-1's, not to the entry F-2 wrote and lost with its SAVEPOINT.
        assert _chain_ok(store)
    finally:
        store.dispose()


def test_authority_is_checked_before_anything_is_written(store_url: str) -> None:
    from dosing.app import accounts
    from dosing.app.bulk_enrollment import enroll_rows
    from dosing.app.context import Context
    from dosing.errors import DosingError

    store = open_store(store_url)
    try:
        admin = accounts.bootstrap_admin(store, "admin", "Ada Admin", "admin", PASSWORD)
        nurse = accounts.add_user(Context(store=store, actor=admin), "nurse", "Nu Rse", "nurse", PASSWORD)
        with pytest.raises(DosingError):
            enroll_rows(Context(store=store, actor=nurse), parse_roster(HEADER + _row("N-1")).rows)
        assert _count(store, t.Subject) == 0
    finally:
        store.dispose()


# --- the batch written per table (issue 15) -----------------------------------------------------------

ENROLLMENT_TABLES = (
    "subjects", "enrollments", "enrollment_eligibility", "planned_administrations", "planned_assessments",
)  # fmt: skip


def _stored(store: Store) -> dict[str, list[dict[str, Any]]]:
    """Every column of every row an enrollment writes, and the enroll audit entries, in id order."""
    from sqlmodel import SQLModel

    tables = SQLModel.metadata.tables
    found: dict[str, list[dict[str, Any]]] = {}
    with store.session() as session:
        connection = session.connection()
        for name in ENROLLMENT_TABLES:
            table = tables[name]
            order = table.c.id if "id" in table.c else table.c.enrollment_id
            found[name] = [dict(row) for row in connection.execute(select(table).order_by(order)).mappings()]
        audit = tables["audit_log"]
        found["audit_log"] = [
            dict(row)
            for row in connection.execute(
                select(audit).where(audit.c.action == "enroll").order_by(audit.c.id)
            ).mappings()
        ]
    return found


def _frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import UTC, datetime

    from dosing.app import clock

    monkeypatch.setattr(clock, "now", lambda: datetime(2026, 11, 20, 9, 0, tzinfo=UTC))


def test_the_batch_stores_exactly_what_one_subject_at_a_time_stores(
    two_store_urls: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows, ids, allocations, audit content and digests: the same, column for column, whether the
    batch is written per table or subject by subject (the path it falls back to)."""
    from dosing.app.bulk_enrollment import enroll_rows
    from dosing.store.ledger import enrollment_batch

    _frozen_clock(monkeypatch)
    text_ = (ROSTERS / "good.csv").read_text().rstrip("\n") + "\n"
    # Refusals among them: a weight out of range, the same subject twice (case aside), a full cohort.
    for code, weight in [("B-9", "620 kg"), ("rj-001", "62 kg"), *((f"C-{n}", "60 kg") for n in range(6))]:
        text_ += f"{code},NCT04822922,,{weight},2026-12-01,renji-shanghai,,{LABS}\n"
    text_ += f"EXO-002,NCT05871463,,61 kg,2026-12-01,,,{LABS}\n"
    roster = parse_roster(text_)
    plain_store, batch_store = (open_store(url) for url in two_store_urls)
    try:
        with monkeypatch.context() as patched:
            patched.setattr(enrollment_batch, "write", lambda *_args, **_kwargs: None)
            plain = enroll_rows(_coordinator(plain_store), roster.rows)
        batch = enroll_rows(_coordinator(batch_store), roster.rows)
        assert batch == plain
        assert len(batch["enrolled"]) > 5 and len(batch["rejected"]) >= 2
        assert _stored(batch_store) == _stored(plain_store)
        assert _chain_ok(batch_store) and _chain_ok(plain_store)
    finally:
        plain_store.dispose()
        batch_store.dispose()


@pytest.mark.parametrize(
    "two_store_urls", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_rows_read_back_by_id_are_the_rows_returning_gives(
    two_store_urls: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL reads a batch's many rows back by id instead of ``INSERT ... RETURNING``: the same
    rows, ids, audit content and digests either way (here every insert is forced down each path)."""
    from dosing.app.bulk_enrollment import enroll_rows
    from dosing.store.ledger import plan_rows

    _frozen_clock(monkeypatch)
    roster = parse_roster((ROSTERS / "good.csv").read_text())
    returning_store, read_back_store = (open_store(url) for url in two_store_urls)
    try:
        with monkeypatch.context() as patched:
            patched.setattr(plan_rows, "READ_BACK_FROM", 10**9)
            returning = enroll_rows(_coordinator(returning_store), roster.rows)
        with monkeypatch.context() as patched:
            patched.setattr(plan_rows, "READ_BACK_FROM", 1)
            read_back = enroll_rows(_coordinator(read_back_store), roster.rows)
        assert read_back == returning and len(read_back["enrolled"]) == len(roster.rows)
        assert _stored(read_back_store) == _stored(returning_store)
        assert _chain_ok(read_back_store) and _chain_ok(returning_store)
    finally:
        returning_store.dispose()
        read_back_store.dispose()


@pytest.mark.parametrize("store_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_a_subject_enrolled_meanwhile_refuses_the_copied_batch_which_goes_subject_by_subject(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another enrollment took a code after the batch looked (here: the batch's look is blinded): the
    unique index refuses the batch's COPY, reported as SQLAlchemy reports a refused row, and the batch
    is enrolled again subject by subject: that subject alone is refused, nothing of the first try stays."""
    from dosing.app.bulk_enrollment import enroll_rows
    from dosing.store.ledger import enrollment_batch, plan_rows

    monkeypatch.setattr(plan_rows, "READ_BACK_FROM", 1)
    store = open_store(store_url)
    try:
        ctx = _coordinator(store)
        first = enroll_rows(ctx, parse_roster(HEADER + _row("R-2")).rows)
        assert [item["subject_code"] for item in first["enrolled"]] == ["R-2"]
        audit_before = _count(store, t.AuditEntry)
        monkeypatch.setattr(enrollment_batch, "enrolled_codes", lambda *_args: {})
        batch = enroll_rows(ctx, parse_roster(HEADER + _row("R-1") + _row("r-2") + _row("R-3")).rows)
        assert [item["subject_code"] for item in batch["enrolled"]] == ["R-1", "R-3"]
        assert [item["subject_code"] for item in batch["skipped"] + batch["rejected"]] == ["r-2"]
        assert _count(store, t.AuditEntry) == audit_before + 2
        assert sorted(row["code"] for row in enrolled_rows(store)["subjects"]) == ["R-1", "R-2", "R-3"]
        assert _chain_ok(store)
    finally:
        store.dispose()


def test_a_failure_in_the_middle_of_a_batch_leaves_nothing_of_that_batch(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dosing.app.bulk_enrollment import enroll_roster
    from dosing.store.ledger import enrollment as module

    real_audit = module._audit

    def failing_audit(session: Any, **fields: Any) -> Any:
        if fields["subject_code"] == "M-4":
            raise RuntimeError("power cut while the batch is written")
        return real_audit(session, **fields)

    monkeypatch.setattr(module, "_audit", failing_audit)
    store = open_store(store_url)
    try:
        ctx = _coordinator(store)
        audit_before = _count(store, t.AuditEntry)
        roster = parse_roster(HEADER + "".join(_row(f"M-{n}") for n in range(1, 6)))
        with pytest.raises(RuntimeError, match="power cut"):
            enroll_roster(ctx, roster, batch_size=2)
        # The first batch (M-1, M-2) is committed; nothing of the second (M-3, M-4) stays.
        rows = enrolled_rows(store)
        assert [row["code"] for row in rows["subjects"]] == ["M-1", "M-2"]
        assert {row["enrollment_of"] for row in rows["planned_administrations"]} == {"M-1", "M-2"}
        assert _count(store, t.AuditEntry) == audit_before + 2
        assert _chain_ok(store)
        monkeypatch.setattr(module, "_audit", real_audit)
        again = enroll_roster(ctx, roster, batch_size=2)
        assert [item["subject_code"] for item in again["enrolled"]] == ["M-3", "M-4"]
        # Cohort places were not taken by the lost batch: M-3 and M-4 fill the first cohort's four.
        assert [item["subject_code"] for item in again["rejected"]] == ["M-5"]
        assert _chain_ok(store)
    finally:
        store.dispose()
