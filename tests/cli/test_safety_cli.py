"""Issue 9 scenarios replayed through the command line, on a SQLite file and on PostgreSQL:
the stopping rule of NCT04822922 and a reschedule applied more than once."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.dosing_cli import DosingCLI
from tests.store.conftest import pg_schema_url, sqlite_url  # noqa: F401  (fixtures)

SHANGHAI = "+08:00"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def dosing(request, tmp_path: Path) -> DosingCLI:  # type: ignore[no-untyped-def]
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_schema_url")
    return DosingCLI(tmp_path, database_url=url)


def refused(result: subprocess.CompletedProcess[str], start: str) -> None:
    """Exit 2, one `error: <field>: <why> (rule: ...)` line, no traceback."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stderr.startswith(start), result.stderr
    assert "(rule: " in result.stderr and "Traceback" not in result.stderr


def cohort(dosing, first: int, anchor: str) -> None:  # type: ignore[no-untyped-def]
    for n in range(first, first + 4):
        dosing("enroll", "NCT04822922", "--subject", f"S-{n:03d}", "--weight", "62kg", "--anchor", anchor,
               clock=f"{anchor}T08:00{SHANGHAI}")  # fmt: skip
    for n in range(first, first + 4):
        dosing("record", f"S-{n:03d}", "--dose", "1", "--at", f"{anchor}T09:30",
               clock=f"{anchor}T11:00{SHANGHAI}")  # fmt: skip


def test_issue_9_no_escalation_past_an_unsafe_cohort_and_no_dose_while_held(dosing, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cohort(dosing, 1, "2026-12-01")
    early = dosing("cohorts", "NCT04822922", "--review", "1", "--safe",
                   clock=f"2026-12-20T10:00{SHANGHAI}", ok=False)  # fmt: skip
    refused(early, "error: reviewed on: cohort 1 (low): its safety window ends on 2026-12-31")
    # The default review day is the site's: 07:00 in Shanghai on the 31st is still the 30th in UTC.
    safe = dosing("cohorts", "NCT04822922", "--review", "1", "--safe", clock=f"2026-12-31T07:00{SHANGHAI}")
    assert "cohort 1 reviewed safe on 2026-12-31" in safe.stdout
    cohort(dosing, 5, "2027-01-02")
    again = dosing("cohorts", "NCT04822922", "--review", "1", "--unsafe",
                   clock=f"2027-01-05T10:00{SHANGHAI}", ok=False)  # fmt: skip
    refused(again, "error: review: cohort 1 (low) was already reviewed safe on 2026-12-31")
    unsafe = dosing("cohorts", "NCT04822922", "--review", "1", "--unsafe", "--reason", "SAE in S-002",
                    clock=f"2027-01-05T10:00{SHANGHAI}")  # fmt: skip
    assert "cohort 1 reviewed unsafe on 2027-01-05" in unsafe.stdout
    assert "NCT04822922 held: safety stop: cohort 1 (low) reviewed unsafe" in unsafe.stderr

    dose = dosing("record", "S-005", "--dose", "2", "--at", "2027-01-05T09:30",
                  clock=f"2027-01-05T10:00{SHANGHAI}", ok=False)  # fmt: skip
    refused(dose, "error: dose: NCT04822922 is held (safety stop: cohort 1 (low) reviewed unsafe")
    assert "(rule: stopping rule sae-stops-study: If serious adverse reactions" in dose.stderr
    prep = dosing("prep", "S-006", "2", "-o", str(tmp_path / "out"), "--as-of", "2027-01-05T08:00+08:00",
                  clock=f"2027-01-05T10:00{SHANGHAI}", ok=False)  # fmt: skip
    assert prep.returncode == 2 and "REFUSED S-006 dose 2: dose: NCT04822922 is held" in prep.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    status = dosing("status", "S-007", "--as-of", "2027-01-05T08:00", clock=f"2027-01-05T10:00{SHANGHAI}")
    assert "held: safety stop: cohort 1 (low)" in status.stdout
    assert status.stdout.count("held: safety stop") == 4  # the line above the table and doses 2-4

    dosing("cohorts", "NCT04822922", "--review", "2", "--safe", clock=f"2027-02-01T10:00{SHANGHAI}")
    ninth = dosing("enroll", "NCT04822922", "--subject", "S-009", "--weight", "62kg",
                   "--anchor", "2027-02-01", clock=f"2027-02-01T10:00{SHANGHAI}", ok=False)  # fmt: skip
    refused(ninth, "error: arm: NCT04822922 is held (safety stop")
    states = json.loads(
        dosing("cohorts", "NCT04822922", "--json", clock=f"2027-02-01T10:00{SHANGHAI}").stdout
    )
    assert [(s["cohort"], s["enrolled"], s["open"]) for s in states] == [
        (1, 4, False), (2, 4, False), (3, 0, False), (4, 0, False),
    ]  # fmt: skip

    no_reason = dosing("cohorts", "NCT04822922", "--decide", "resume", "--level", "low",
                       clock=f"2027-02-03T10:00{SHANGHAI}", ok=False)  # fmt: skip
    refused(no_reason, "error: reason: give --reason")
    resumed = dosing("cohorts", "NCT04822922", "--decide", "resume", "--level", "low", "--reason",
                     "DSMB: SAE unrelated (sepsis)", clock=f"2027-02-03T10:00{SHANGHAI}")  # fmt: skip
    assert "investigator's decision: resume at level low (DSMB: SAE unrelated (sepsis))" in resumed.stdout
    dosing("record", "S-005", "--dose", "3", "--at", "2027-02-03T09:30", clock=f"2027-02-03T10:00{SHANGHAI}")
    high = dosing("enroll", "NCT04822922", "--subject", "S-009", "--weight", "62kg", "--arm", "high",
                  "--anchor", "2027-02-03", clock=f"2027-02-03T10:00{SHANGHAI}", ok=False)  # fmt: skip
    refused(high, "error: arm:")
    audit = json.loads(dosing("audit", "--json", clock=f"2027-02-03T10:00{SHANGHAI}").stdout)
    decision = next(e for e in audit if e["action"] == "safety_resume")
    assert decision["reason"] == "DSMB: SAE unrelated (sepsis)" and decision["after"]["level"] == "low"
    reviews = [e for e in audit if e["action"] == "cohort_review"]
    assert [(e["after"]["cohort"], e["after"]["safe"], e["reason"]) for e in reviews] == [
        (1, True, None), (1, False, "SAE in S-002"), (2, True, None),
    ]  # fmt: skip


def test_issue_9_a_reschedule_applied_twice_changes_nothing_the_second_time(dosing) -> None:  # type: ignore[no-untyped-def]
    dosing("enroll", "NCT04822922", "--subject", "S-001", "--weight", "62kg", "--anchor", "2026-12-01",
           clock=f"2026-12-01T08:00{SHANGHAI}")  # fmt: skip
    now = f"2026-12-03T12:00{SHANGHAI}"
    dosing("record", "S-001", "--dose", "1", "--at", "2026-12-03T09:30", clock=now)
    preview = json.loads(dosing("reschedule", "S-001", "--dose", "1", "--json", clock=now).stdout)
    first = json.loads(dosing("reschedule", "S-001", "--dose", "1", "--apply", "--reason", "late bed",
                              "--json", clock=now).stdout)  # fmt: skip
    assert first["changes"] == preview["changes"] and first["applied"]
    for _ in range(2):
        again = dosing("reschedule", "S-001", "--dose", "1", "--apply", "--reason", "late bed", clock=now)
        assert again.stdout.splitlines()[-1].startswith("nothing to change: the doses after dose 1")
    status = json.loads(dosing("status", "S-001", "--json", clock=now).stdout)
    assert [d["target_date"] for d in status["doses"]] == [
        "2026-12-01",
        "2026-12-06",
        "2026-12-09",
        "2026-12-12",
    ]
    assert [d["revision"] for d in status["doses"]] == [0, 1, 1, 1]
    other = dosing("reschedule", "S-001", "--dose", "1", "--given-on", "2026-12-04", "--apply",
                   "--reason", "typo", clock=now, ok=False)  # fmt: skip
    refused(other, "error: given on: dose 1 of S-001 is recorded as given on 2026-12-03, not 2026-12-04")
    assert (
        sum(e["action"] == "reschedule" for e in json.loads(dosing("audit", "--json", clock=now).stdout)) == 1
    )
