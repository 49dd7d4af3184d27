"""The audit log as a hash chain, on SQLite and PostgreSQL: recomputed from the database alone, it
names the first entry that an edit, an insertion or a deletion broke; an existing store upgrades into
it keeping every record."""

from __future__ import annotations

from sqlalchemy import text

from dosing.store import Store, ledger, open_store
from dosing.store.chain import GENESIS, verify
from dosing.store.models import GivenRequest
from tests.store.conftest import at, enrollment


def _report(store: Store):  # type: ignore[no-untyped-def]
    import dosing.store.lots  # noqa: F401

    with store.session() as session:
        return verify(session)


def _record(store: Store) -> int:
    return ledger.record_given(
        store,
        GivenRequest(
            subject_code="S-001",
            sequence=1,
            started_at=at("2026-12-01T01:30:00+00:00"),
            actor="nurse",
            as_of=at("2026-12-01T03:00:00+00:00"),
        ),
    )


def _unprotected(store: Store, table: str, statement: str) -> None:
    """What someone with the database file or the owner's password could do."""
    with store.engine.begin() as connection:
        if store.is_sqlite:
            for verb in ("update", "delete"):
                connection.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_{verb}"))
        else:
            connection.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER {table}_append_only"))
        connection.execute(text(statement))


def test_a_fresh_chain_links_every_entry(store: Store) -> None:
    ledger.enroll(store, enrollment())
    _record(store)
    report = _report(store)
    assert report.ok, report.problems
    with store.session() as session:
        first, *rest = session.execute(text("SELECT prev_hash, entry_hash FROM audit_log ORDER BY id")).all()
    assert first[0] == GENESIS
    previous = first[1]
    for prev_hash, entry_hash in rest:
        assert prev_hash == previous
        previous = entry_hash
    assert report.head == previous


def test_an_edited_entry_is_named(store: Store) -> None:
    ledger.enroll(store, enrollment())
    _record(store)
    entry_id = ledger.audit_trail(store, subject_code="S-001")[-1].id
    _unprotected(store, "audit_log", f"UPDATE audit_log SET actor = 'someone-else' WHERE id = {entry_id}")
    report = _report(store)
    assert [(p.entry_id, p.kind) for p in report.problems] == [(entry_id, "edited entry")]


def test_an_edited_ledger_row_is_named(store: Store) -> None:
    ledger.enroll(store, enrollment())
    record_id = _record(store)
    entry_id = ledger.audit_trail(store, subject_code="S-001")[-1].id
    _unprotected(
        store, "administration_events", f"UPDATE administration_events SET lot = 'X9' WHERE id = {record_id}"
    )
    assert [(p.entry_id, p.kind) for p in _report(store).problems] == [(entry_id, "edited row")]


def test_a_deleted_or_inserted_entry_breaks_the_link(store: Store) -> None:
    ledger.enroll(store, enrollment())
    ledger.enroll(store, enrollment(subject="S-002"))
    _record(store)
    entries = ledger.audit_trail(store)
    _unprotected(store, "audit_log", f"DELETE FROM audit_log WHERE id = {entries[1].id}")
    problems = _report(store).problems
    assert problems[0].entry_id == entries[2].id and problems[0].kind == "broken link"
    # The deleted entry's enrollment rows are now written by no entry at all.
    assert any(problem.kind == "unaudited row" for problem in problems)


def test_a_row_written_without_an_audit_entry_is_found(store: Store) -> None:
    ledger.enroll(store, enrollment())
    with store.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO cohort_reviews (protocol_id, cohort, arm, safe, reviewed_on, recorded_at, "
                "recorded_by) VALUES ('NCT04822922', 1, 'low', TRUE, '2027-01-05', "
                "'2027-01-05 00:00:00', 'x')"
            )
        )
    problems = _report(store).problems
    assert [problem.kind for problem in problems] == ["unaudited row"]
    assert "cohort_reviews row" in problems[0].message


def test_an_existing_store_upgrades_into_the_chain_keeping_every_record(store_url: str) -> None:
    old = open_store(store_url, upgrade=False)
    old.upgrade("0002")
    # Records written by the version before accounts and the chain (revision 0002's columns).
    with old.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO subjects (code, protocol_id, created_at) VALUES ('OLD-1', 'NCT04822922', "
                "'2026-11-01 00:00:00')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO audit_log (at, actor, action, entity, entity_id, subject_code, reason) VALUES "
                "('2026-11-01 00:00:00', 'coordinator', 'enroll', 'subjects', 1, 'OLD-1', 'before accounts')"
            )
        )
    old.dispose()
    store = open_store(store_url)
    entries = ledger.audit_trail(store)
    assert next((e.action, e.subject_code, e.reason) for e in entries) == (
        "enroll",
        "OLD-1",
        "before accounts",
    )
    assert entries[-1].action == "chain_started"
    assert entries[-1].after == {
        "legacy": {"subjects": {"max_id": 1, "digest": entries[-1].after["legacy"]["subjects"]["digest"]}},
        "legacy_entries": 1,
    }
    assert _report(store).ok
    # A sealed row edited later is found.
    _unprotected(store, "subjects", "UPDATE subjects SET code = 'OLD-2' WHERE id = 1")
    assert [p.kind for p in _report(store).problems] == ["edited row"]
    store.dispose()
