"""Accounts, sessions, authority and signatures, attacked through the real ``dosing`` command."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from pathlib import Path

import pytest

from tests.dosing_cli import ADMIN, PASSWORD, TESTER, DosingCLI

SHANGHAI_MORNING = "2026-12-01T08:00+08:00"


@pytest.fixture
def dosing(tmp_path: Path) -> DosingCLI:
    return DosingCLI(tmp_path)


def enroll_s001(dosing: DosingCLI) -> None:
    dosing(
        "enroll",
        "NCT04822922",
        "--subject",
        "S-001",
        "--weight",
        "62kg",
        "--anchor",
        "2026-12-01",
        clock=SHANGHAI_MORNING,
    )


def test_the_first_account_is_an_admin_and_only_an_admin_adds_accounts(dosing: DosingCLI) -> None:
    first = dosing.raw(
        "users",
        "add",
        "Boss",
        "--name",
        "Bo Ss",
        "--role",
        "coordinator",
        "--password-stdin",
        input=PASSWORD + "\n",
    )
    assert first.returncode == 0 and "admin,coordinator (first account)" in first.stdout
    # Now the store has an account: adding one needs an admin's session.
    second = dosing.raw(
        "users", "add", "eve", "--name", "Eve", "--role", "admin", "--password-stdin", input=PASSWORD + "\n"
    )
    assert second.returncode == 2 and "error: session: not logged in" in second.stderr
    assert dosing.raw("login", "boss", "--password-stdin", input=PASSWORD + "\n").returncode == 0
    nurse = dosing.raw(
        "users", "add", "li", "--name", "Li Na", "--role", "nurse", "--password-stdin", input=PASSWORD + "\n"
    )
    assert nurse.returncode == 0
    assert dosing.raw("login", "li", "--password-stdin", input=PASSWORD + "\n").returncode == 0
    refused = dosing.raw(
        "users", "add", "mallory", "--name", "M", "--role", "admin", "--password-stdin", input=PASSWORD + "\n"
    )
    assert refused.returncode == 2
    assert refused.stderr.startswith("error: authority: li (nurse) may not manage accounts (rule: ")


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("short", "at least 12 characters"),
        ("aaaaaaaaaaaaaaaa", "too easy to guess"),
        ("my-name-is-li-na-ok", "contains the username"),
    ],
)
def test_the_password_policy(dosing: DosingCLI, password: str, why: str) -> None:
    dosing.setup_accounts()
    dosing.login(ADMIN)
    result = dosing.raw(
        "users",
        "add",
        "li-na",
        "--name",
        "Li Na",
        "--role",
        "nurse",
        "--password-stdin",
        input=password + "\n",
    )
    assert result.returncode == 2 and result.stderr.startswith("error: password: ")
    assert why in result.stderr or why in result.stderr.replace("username", "username")


def test_by_and_as_of_are_not_options_of_a_change(dosing: DosingCLI) -> None:
    enroll_s001(dosing)
    by = dosing(
        "record",
        "S-001",
        "--dose",
        "1",
        "--at",
        "2026-12-01T09:30",
        "--by",
        "somebody-else",
        clock="2026-12-01T11:00+08:00",
        ok=False,
    )
    assert by.returncode == 2 and "No such option '--by'" in by.stderr
    backdated = dosing(
        "record",
        "S-001",
        "--dose",
        "1",
        "--at",
        "2026-12-01T09:30",
        "--as-of",
        "1999-01-01T00:00+00:00",
        clock="2026-12-01T11:00+08:00",
        ok=False,
    )
    assert backdated.returncode == 2 and "No such option '--as-of'" in backdated.stderr
    enroll_as_of = dosing(
        "enroll",
        "NCT04822922",
        "--subject",
        "S-002",
        "--weight",
        "62kg",
        "--as-of",
        "2030-01-01T00:00+00:00",
        ok=False,
    )
    assert enroll_as_of.returncode == 2 and "No such option '--as-of'" in enroll_as_of.stderr
    sweep = dosing("overdue", "--sweep", "--as-of", "2030-01-01T00:00+00:00", ok=False)
    assert sweep.returncode == 2
    assert sweep.stderr.startswith("error: as of: the sweep writes to the audit log")
    review = dosing("cohorts", "NCT04822922", "--review", "1", "--safe", "--as-of", "2030-01-01", ok=False)
    assert review.returncode == 2 and "--as-of is for reads and previews" in review.stderr
    # Nothing of it was written: the only subject entry is the enrollment.
    audit = json.loads(dosing("audit", "S-001", "--json").stdout)
    assert [entry["action"] for entry in audit] == ["enroll"]


def test_records_are_stamped_by_the_clock_and_signed(dosing: DosingCLI) -> None:
    enroll_s001(dosing)
    dosing("record", "S-001", "--dose", "1", "--at", "2026-12-01T09:30", clock="2026-12-01T11:00+08:00")
    status = json.loads(dosing("status", "S-001", "--as-of", "2026-12-02", "--json").stdout)
    given = status["doses"][0]["given"]
    assert given["recorded_by"] == TESTER
    assert given["recorded_at"].startswith("2026-12-01T03:00")  # the process clock, 11:00 in Shanghai
    assert given["signed"].startswith("Tess Tester (tester), administered by, 2026-12-01T03:00")
    assert "dose 1: Tess Tester (tester), administered by" in dosing("status", "S-001").stdout
    audit = json.loads(dosing("audit", "S-001", "--json").stdout)
    assert audit[-1]["signature"].startswith("Tess Tester (tester), administered by, 2026-12-01T03:00")
    assert "Tess Tester (tester), administered by" in dosing("audit", "S-001").stdout


def test_a_future_start_and_an_unexplained_late_entry_are_refused(dosing: DosingCLI) -> None:
    enroll_s001(dosing)
    future = dosing(
        "record", "S-001", "--dose", "1", "--at", "2026-12-01T12:00", clock="2026-12-01T11:00+08:00", ok=False
    )
    assert (
        future.returncode == 2 and future.stderr.startswith("error: at: ") and "is after now" in future.stderr
    )
    late = dosing(
        "record", "S-001", "--dose", "1", "--at", "2026-12-01T09:30", clock="2026-12-03T11:00+08:00", ok=False
    )
    assert late.returncode == 2 and "late entry: give --late-reason" in late.stderr
    dosing(
        "record",
        "S-001",
        "--dose",
        "1",
        "--at",
        "2026-12-01T09:30",
        "--late-reason",
        "paper chart",
        clock="2026-12-03T11:00+08:00",
    )
    entry = json.loads(dosing("audit", "S-001", "--json").stdout)[-1]
    assert entry["action"] == "record_given" and entry["reason"] == "late entry: paper chart"


def test_a_wrong_password_is_refused_and_five_lock_the_account(dosing: DosingCLI) -> None:
    enroll_s001(dosing)
    for attempt in range(1, 6):
        wrong = dosing(
            "record",
            "S-001",
            "--dose",
            "1",
            "--at",
            "2026-12-01T09:30",
            password="not my password",
            clock="2026-12-01T11:00+08:00",
            ok=False,
        )
        assert wrong.returncode == 2, attempt
    assert "is now locked" in wrong.stderr
    login = dosing.raw("login", TESTER, "--password-stdin", input=PASSWORD + "\n")
    assert login.returncode == 2 and "tester is locked" in login.stderr
    dosing.login(ADMIN)
    reset = dosing.raw("users", "reset-password", TESTER, "--password-stdin", input="another long password\n")
    assert reset.returncode == 0 and "unlocked" in reset.stdout
    dosing.login(TESTER, password="another long password")
    entries = json.loads(dosing.raw("audit", "--json").stdout)
    actions = [entry["action"] for entry in entries]
    assert actions.count("signature_failed") == 5 and "account_locked" in actions
    assert "login_refused" in actions and "password_reset" in actions
    assert all(entry["action"] != "record_given" for entry in entries)


def test_an_idle_session_expires(dosing: DosingCLI) -> None:
    dosing.login(TESTER, clock="2026-12-01T08:00+08:00")
    fresh = dosing.raw("whoami", clock="2026-12-01T08:10+08:00")
    assert fresh.returncode == 0 and "Tess Tester (tester)" in fresh.stdout
    idle = dosing.raw("whoami", clock="2026-12-01T08:30+08:00")
    assert idle.returncode == 2 and "the session expired; log in again" in idle.stderr


def test_the_session_file_is_its_owners_only(dosing: DosingCLI, tmp_path: Path) -> None:
    dosing.login(TESTER)
    [session_file] = (tmp_path / "state" / "dosing").glob("session-*.json")
    assert stat.S_IMODE(session_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(session_file.parent.stat().st_mode) == 0o700
    os.chmod(session_file, 0o644)
    exposed = dosing.raw("whoami")
    assert exposed.returncode == 2 and "can be read by others" in exposed.stderr
    logged_out = dosing.raw("logout")
    assert logged_out.returncode == 2  # the exposed token is not trusted for logout either


def test_a_nurse_cannot_register_a_lot_and_the_refusal_is_audited(dosing: DosingCLI) -> None:
    dosing.add_user("li", "Li Na", "nurse")
    dosing._session = None
    lot = dosing(
        "lots",
        "add",
        "--lot-number",
        "L1",
        "--product",
        "UC-MSC",
        "--concentration",
        "2e6/mL",
        "--viability",
        "95%",
        "--volume",
        "50mL",
        "--expiry",
        "2027-12-31",
        user="li",
        ok=False,
    )
    assert lot.returncode == 2
    assert lot.stderr.startswith(
        "error: authority: li (nurse) may not register lot (rule: register_lot needs"
    )
    entries = json.loads(dosing("audit", "--json").stdout)
    refused = [entry for entry in entries if entry["action"] == "refused"]
    assert refused and refused[-1]["actor"] == "li" and refused[-1]["after"] == {"action": "register_lot"}


def test_subject_codes_are_unique_without_regard_to_case(dosing: DosingCLI) -> None:
    dosing("enroll", "NCT05871463", "--subject", "E-003", "--weight", "58kg", clock=SHANGHAI_MORNING)
    twin = dosing(
        "enroll", "NCT05871463", "--subject", "e-003", "--weight", "58kg", clock=SHANGHAI_MORNING, ok=False
    )
    assert twin.returncode == 2 and "e-003 is already enrolled as E-003" in twin.stderr
    # The same subject is found whichever case is typed.
    assert json.loads(dosing("status", "e-003", "--json").stdout)["subject_code"] == "E-003"


def test_audit_verify_finds_an_insert_or_replace_and_a_dropped_trigger_edit(
    dosing: DosingCLI, tmp_path: Path
) -> None:
    enroll_s001(dosing)
    dosing("record", "S-001", "--dose", "1", "--at", "2026-12-01T09:30", clock="2026-12-01T11:00+08:00")
    intact = dosing("audit", "verify")
    assert intact.stdout.startswith("audit chain intact:")
    database = sqlite3.connect(tmp_path / "ledger.db")
    with pytest.raises(sqlite3.IntegrityError, match="append-only: REPLACE refused"):
        database.execute(
            "INSERT OR REPLACE INTO audit_log (id, at, actor, action, entity) "
            "VALUES (1, '2026-01-01', 'x', 'y', 'z')"
        )
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        database.execute(
            "INSERT OR REPLACE INTO administration_events (id, planned_id, subject_id, kind, "
            "recorded_at, recorded_by, partial) VALUES (1, 1, 1, 'given', '2026-01-01', 'x', 0)"
        )
    # Dropping the trigger, editing the given amount and recreating the trigger leaves no trace in
    # SQLite: the chain still finds it.
    trigger = database.execute(
        "SELECT sql FROM sqlite_master WHERE name = 'administration_events_no_update'"
    ).fetchone()[0]
    database.execute("DROP TRIGGER administration_events_no_update")
    database.execute("UPDATE administration_events SET amount_value = '2.48E+8' WHERE id = 1")
    database.execute(trigger)
    database.commit()
    database.close()
    broken = dosing("audit", "verify", ok=False)
    assert broken.returncode == 1
    record_entry = json.loads(dosing("audit", "S-001", "--json").stdout)[-1]
    assert f"audit entry {record_entry['id']}: a row it recorded was changed since" in broken.stderr


def test_audit_verify_finds_a_deleted_entry(dosing: DosingCLI, tmp_path: Path) -> None:
    enroll_s001(dosing)
    entries = json.loads(dosing("audit", "S-001", "--json").stdout)
    database = sqlite3.connect(tmp_path / "ledger.db")
    database.execute("DROP TRIGGER audit_log_no_delete")
    database.execute("DELETE FROM audit_log WHERE id = ?", (entries[0]["id"],))
    database.commit()
    database.close()
    broken = dosing("audit", "verify", ok=False)
    assert broken.returncode == 1 and "broken link" in broken.stderr
