"""The ledger commands as a coordinator and a nurse type them, against a real SQLite file."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from tests.dosing_cli import DosingCLI
from tests.eligible import ELIGIBLE_OPTIONS


@pytest.fixture
def dosing(tmp_path: Path) -> DosingCLI:
    return DosingCLI(tmp_path)


def register_lots(dosing, *lots: str) -> None:  # type: ignore[no-untyped-def]
    """The pharmacy registers the lots before a nurse records doses from them (chain of identity)."""
    for lot in lots or ("L123", "L124"):
        dosing("lots", "add", "--lot-number", lot, "--product", "UC-MSC", "--concentration", "2e6/mL",
               "--viability", "95%", "--volume", "50mL", "--expiry", "2027-12-31")  # fmt: skip


def test_enroll_record_skip_status_overdue_and_audit(dosing) -> None:  # type: ignore[no-untyped-def]
    enrolled = dosing(
        "enroll", "NCT04822922", *ELIGIBLE_OPTIONS,
           "--subject", "S-001", "--arm", "low", "--weight", "62kg",
        "--anchor", "2026-12-01", clock="2026-12-01T08:00+08:00",
    )  # fmt: skip
    assert "enrolled S-001 in NCT04822922: arm low (escalation), cohort 1, place 1" in enrolled.stdout

    unregistered = dosing("record", "S-001", "--dose", "1", "--at", "2026-12-01T09:30", "--lot", "L123",
                          clock="2026-12-01T11:00+08:00", ok=False)  # fmt: skip
    assert unregistered.returncode == 2
    assert "lot: 'L123' is not registered" in unregistered.stderr
    register_lots(dosing)

    recorded = dosing("record", "S-001", "--dose", "1", "--at", "2026-12-01T09:30", "--lot", "L123",
                      clock="2026-12-01T11:00+08:00")  # fmt: skip
    assert "recorded dose 1 of S-001" in recorded.stdout and "given on time" in recorded.stdout

    twice = dosing("record", "S-001", "--dose", "1", "--at", "2026-12-01T09:40", "--lot", "L123",
                   clock="2026-12-01T11:00+08:00", ok=False)  # fmt: skip
    assert twice.returncode == 2
    assert twice.stderr.startswith("error: dose: dose 1 of S-001 is already recorded")
    assert "dosing correct" in twice.stderr

    dosing("skip", "S-001", "--dose", "3", "--reason", "adverse event", clock="2026-12-06T10:00+08:00")

    status = json.loads(dosing("status", "S-001", "--as-of", "2026-12-09", "--json").stdout)
    states = [(d["sequence"], d["status"]["state"], d["status"]["days_late"]) for d in status["doses"]]
    assert states == [
        (1, "given_on_time", None),
        (2, "missed", 4),
        (3, "skipped", None),
        (4, "upcoming", None),
    ]
    assert status["doses"][0]["given"]["lot"] == "L123"
    assert status["doses"][0]["given"]["started_at"] == "2026-12-01T01:30:00Z"  # 09:30 in Shanghai

    table = dosing("status", "S-001", "--as-of", "2026-12-09").stdout
    assert "missed (4 d late)" in table and "skipped: adverse event" in table

    overdue = list(
        csv.DictReader(io.StringIO(dosing("overdue", "--as-of", "2026-12-09T04:00Z", "--csv").stdout))
    )
    assert [(r["subject"], r["dose"], r["status"], r["days late"]) for r in overdue] == [
        ("S-001", "2", "missed", "4")
    ]

    audit = json.loads(dosing("audit", "S-001", "--json").stdout)
    assert [(e["action"], e["actor"]) for e in audit] == [
        ("enroll", "tester"),
        ("record_given", "tester"),
        ("record_skipped", "tester"),
    ]
    assert audit[2]["reason"] == "adverse event"


def test_reschedule_previews_then_applies(dosing) -> None:  # type: ignore[no-untyped-def]
    dosing("enroll", "NCT04822922", *ELIGIBLE_OPTIONS,
           "--subject", "S-001", "--weight", "62kg", "--anchor", "2026-12-01",
           clock="2026-12-01T08:00+08:00")  # fmt: skip
    dosing("record", "S-001", "--dose", "2", "--at", "2026-12-06T10:00", clock="2026-12-06T12:00+08:00")
    preview = dosing("reschedule", "S-001", "--dose", "2", "--as-of", "2026-12-06T12:00")
    assert "policy shift_later" in preview.stdout and "preview only" in preview.stdout
    assert "2026-12-09" in preview.stdout
    before = json.loads(dosing("status", "S-001", "--json", "--as-of", "2026-12-06T12:00").stdout)
    assert before["doses"][2]["target_date"] == "2026-12-07"
    applied = dosing("reschedule", "S-001", "--dose", "2", "--apply", "--reason", "late bed",
                     clock="2026-12-06T12:00+08:00")  # fmt: skip
    assert "applied (audit entry" in applied.stdout
    after = json.loads(dosing("status", "S-001", "--json", "--as-of", "2026-12-06T12:00").stdout)
    assert [d["target_date"] for d in after["doses"]] == [
        "2026-12-01",
        "2026-12-04",
        "2026-12-09",
        "2026-12-12",
    ]
    assert after["doses"][2]["revision"] == 1


def test_correct_a_record(dosing) -> None:  # type: ignore[no-untyped-def]
    dosing("enroll", "NCT04822922", *ELIGIBLE_OPTIONS,
           "--subject", "S-001", "--weight", "62kg", "--anchor", "2026-12-01",
           clock="2026-12-01T08:00+08:00")  # fmt: skip
    register_lots(dosing)
    dosing(
        "record",
        "S-001",
        "--dose",
        "1",
        "--at",
        "2026-12-01T09:30",
        "--lot",
        "L123",
        clock="2026-12-01T11:00+08:00",
    )
    corrected = dosing("correct", "S-001", "--dose", "1", "--lot", "L124", "--reason", "lot mistyped",
                       "--json", clock="2026-12-01T12:00+08:00")  # fmt: skip
    body = json.loads(corrected.stdout)
    assert body["dose"]["given"]["lot"] == "L124" and body["dose"]["revision"] == 1
    audit = json.loads(dosing("audit", "S-001", "--json").stdout)
    assert audit[-1]["action"] == "correct" and audit[-1]["reason"] == "lot mistyped"
    assert audit[-1]["before"]["lot"] == "L123"


def test_randomized_enrollment_and_refusals(dosing) -> None:  # type: ignore[no-untyped-def]
    randomized = json.loads(
        dosing("enroll", "MSC-ACLF-WEEKLY", *ELIGIBLE_OPTIONS,
           "--subject", "R-001", "--weight", "70kg",
               "--dose-per-kg", "5 x10^5 cells/kg", "--json", clock="2026-12-01T08:00+08:00").stdout
    )  # fmt: skip
    assert randomized["randomization_number"] == 1 and randomized["arm_source"] == "randomization"
    chosen = dosing("enroll", "MSC-ACLF-WEEKLY", *ELIGIBLE_OPTIONS,
           "--subject", "R-002", "--arm", "msc", "--weight", "70kg",
                    "--dose-per-kg", "5 x10^5 cells/kg", ok=False)  # fmt: skip
    assert chosen.returncode == 2 and "--override-allocation" in chosen.stderr
    withdrawn = dosing("enroll", "NCT05940610", *ELIGIBLE_OPTIONS,
           "--subject", "W-001", "--weight", "60kg",
                       "--anchor", "2026-12-01", ok=False)  # fmt: skip
    assert withdrawn.returncode == 2 and "withdrawn" in withdrawn.stderr
    assert [e["subject_code"] for e in json.loads(dosing("audit", "--json").stdout) if e["subject_code"]] == [
        "R-001"
    ]


def test_cohorts_and_database_commands(dosing) -> None:  # type: ignore[no-untyped-def]
    current = json.loads(dosing.raw("db", "current", "--json").stdout)
    assert current["up_to_date"] is False and current["revision"] is None
    upgraded = json.loads(dosing.raw("db", "upgrade", "--json").stdout)
    assert upgraded["revision"] == current["head"]
    dosing("enroll", "NCT04822922", *ELIGIBLE_OPTIONS,
           "--subject", "S-001", "--weight", "62kg", "--anchor", "2026-12-01",
           clock="2026-12-01T08:00+08:00")  # fmt: skip
    cohorts = json.loads(dosing("cohorts", "NCT04822922", "--as-of", "2026-12-02", "--json").stdout)
    assert [(c["cohort"], c["arm"], c["enrolled"], c["open"]) for c in cohorts][:2] == [
        (1, "low", 1, True),
        (2, "middle", 0, False),
    ]
    # Issue 9: nobody in cohort 1 was dosed, so there is nothing to review safe.
    review = dosing("cohorts", "NCT04822922", "--review", "1", "--safe", "--reviewed-on", "2027-01-05",
                    clock="2027-01-05T09:00+08:00", ok=False)  # fmt: skip
    assert review.returncode == 2
    assert review.stderr.startswith("error: safe: cohort 1 (low): no member has a dose recorded as given")
