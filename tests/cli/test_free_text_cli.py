"""Free text is refused the same way on SQLite and PostgreSQL, before the database sees it.

Replayed through the ``dosing`` command as a subprocess: a 10 KB note, a 10 KB reason, an escape
sequence in a note; each ends in exit 2, one ``error: FIELD: ... (rule: ...)`` line, no traceback and
an unchanged store. A database that is unreachable, or that refuses a value, is one clean line that
never carries the SQL parameters.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.dosing_cli import DosingCLI
from tests.store.conftest import pg_schema_url, sqlite_url, store_url  # noqa: F401 (fixtures)


@pytest.fixture
def dosing(tmp_path: Path, store_url: str) -> DosingCLI:  # noqa: F811
    return DosingCLI(tmp_path, store_url)


def _enrolled(dosing: DosingCLI) -> None:
    dosing("enroll", "NCT04822922", "--subject", "S-001", "--weight", "62kg", "--anchor", "2026-12-01",
           clock="2026-12-01T08:00+08:00")  # fmt: skip
    dosing("lots", "add", "--lot-number", "L123", "--product", "UC-MSC", "--concentration", "2e6/mL",
           "--viability", "95%", "--volume", "50mL", "--expiry", "2027-12-31",
           clock="2026-12-01T08:10+08:00")  # fmt: skip


#: Who logged in when is not the ledger: the test logs in again whenever it moves the clock.
_SESSION_ACTIONS = {"login", "logout", "account_created", "account_locked", "refused"}


def _dump(dosing: DosingCLI) -> list[dict[str, object]]:
    trail = json.loads(dosing("audit", "--json").stdout)
    return [entry for entry in trail if entry["action"] not in _SESSION_ACTIONS]


def _refused(result: subprocess.CompletedProcess[str], field: str, rule: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {field}: "), lines[0]
    assert lines[0].endswith(f"(rule: {rule})"), lines[0]


def test_a_10_kb_note_or_reason_is_refused_by_its_rule_on_both_databases(dosing: DosingCLI) -> None:
    _enrolled(dosing)
    before = _dump(dosing)
    record = ("record", "S-001", "--dose", "1", "--at", "2026-12-01T09:30")
    at_11 = "2026-12-01T11:00+08:00"
    note = dosing(*record, "--lot", "L123", "--notes", "n" * 10_000, clock=at_11, ok=False)
    _refused(note, "notes", "at most 2000 characters")
    assert "10000 characters is too long" in note.stderr
    reaction = dosing(*record, "--lot", "L123", "--reaction", "r" * 501, clock=at_11, ok=False)
    _refused(reaction, "infusion_reaction", "at most 500 characters")
    lot = dosing(*record, "--lot", "L" * 65, clock=at_11, ok=False)
    _refused(lot, "lot", "at most 64 characters")
    on_6th = "2026-12-06T10:00+08:00"
    skip = dosing("skip", "S-001", "--dose", "2", "--reason", "x" * 10_000, clock=on_6th, ok=False)
    _refused(skip, "reason", "at most 500 characters")
    assert _dump(dosing) == before

    # At the limit it is stored in full, on both databases alike.
    dosing(*record, "--lot", "L123", "--notes", "n" * 2000, clock=at_11)
    status = json.loads(dosing("status", "S-001", "--as-of", "2026-12-02", "--json").stdout)
    assert status["doses"][0]["given"]["notes"] == "n" * 2000


def test_a_1000_character_review_note_fits_the_audit_log_on_both_databases(dosing: DosingCLI) -> None:
    _enrolled(dosing)
    # A cohort is reviewed safe once its member was dosed and the 30-day safety window has passed.
    dosing("record", "S-001", "--dose", "1", "--at", "2026-12-01T09:30", "--lot", "L123",
           clock="2026-12-01T11:00+08:00")  # fmt: skip
    note = "reviewed by the safety committee; " * 30  # 1,020 characters
    dosing("cohorts", "NCT04822922", "--review", "1", "--safe", "--reviewed-on", "2027-01-05",
           "--notes", note, clock="2027-01-05T10:00+08:00")  # fmt: skip
    reviews = [e for e in _dump(dosing) if e["reason"] == note]
    assert len(reviews) == 1


@pytest.mark.parametrize(
    ("option", "value", "field"),
    [
        ("--notes", "ok \x1b[2J\x1b[31mall clear", "notes"),
        ("--notes", "looks \u202eevil", "notes"),
        ("--given-by", "nurse\x07", "given_by"),
        ("--route", "IV\r", "route"),
    ],
)
def test_control_characters_are_refused_and_never_echoed_raw(
    dosing: DosingCLI, option: str, value: str, field: str
) -> None:
    _enrolled(dosing)
    before = _dump(dosing)
    result = dosing("record", "S-001", "--dose", "1", "--at", "2026-12-01T09:30", "--lot", "L123",
                    option, value, clock="2026-12-01T11:00+08:00", ok=False)  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert f"error: {field}: contains the control character U+" in result.stderr
    assert "(rule: printable text" in result.stderr
    assert not any(c in result.stderr for c in "\x1b\x07\r\u202e")
    assert _dump(dosing) == before


def test_multi_line_notes_are_kept(dosing: DosingCLI) -> None:
    _enrolled(dosing)
    dosing("record", "S-001", "--dose", "1", "--at", "2026-12-01T09:30", "--lot", "L123",
           "--notes", "line one\nline two\tindented", clock="2026-12-01T11:00+08:00")  # fmt: skip
    status = json.loads(dosing("status", "S-001", "--as-of", "2026-12-02", "--json").stdout)
    assert status["doses"][0]["given"]["notes"] == "line one\nline two\tindented"


def test_an_unreachable_database_is_one_clean_line_exit_1(tmp_path: Path) -> None:
    dosing = DosingCLI(tmp_path, "postgresql+psycopg://dosing:s3cret@127.0.0.1:1/nowhere")
    result = dosing.raw("status", "S-001", "--as-of", "2026-12-02")
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and "s3cret" not in result.stderr
    assert result.stderr.startswith("error: database connection: OperationalError: ")
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.postgres
def test_a_value_the_database_refuses_is_reported_without_its_parameters(pg_schema_url: str) -> None:  # noqa: F811
    from sqlalchemy.exc import DataError

    from dosing.store import open_store
    from dosing.store.database_errors import database_refusal

    store = open_store(pg_schema_url)
    secret = "SECRET-SUBJECT-" + "x" * 200
    try:
        with pytest.raises(DataError) as raised, store.transaction() as session:
            session.execute(
                text("INSERT INTO audit_log (at, actor, action, entity) VALUES (now(), :actor, 'x', 'x')"),
                {"actor": secret},
            )
        assert secret in str(raised.value)  # SQLAlchemy's own message carries the parameters
        refusal = database_refusal(raised.value)
        assert refusal is not None and refusal.field == "database"
        assert secret not in str(refusal)
        assert "value too long" in str(refusal)
    finally:
        store.dispose()
