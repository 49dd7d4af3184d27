"""Issue 9: weights no adult has, and weights measured in the future or too long ago."""

from __future__ import annotations

import pytest

from tests.eligible import ELIGIBLE_OPTIONS
from tests.safety.conftest import Run, audit_count, enroll_low, refused, register_lot

TYPOS = ["620kg", "0.5kg", "6.2kg", "3000kg", "1e9kg"]
SQLITE_ONLY = pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)


@SQLITE_ONLY
@pytest.mark.parametrize("weight", TYPOS)
def test_plan_refuses_a_weight_no_adult_has(dosing: Run, weight: str) -> None:
    result = dosing(
        "plan", "NCT04822922", "--arm", "high", "--weight", weight, "--anchor", "2026-12-01",
        "--concentration", "2e7/mL", ok=False,
    )  # fmt: skip
    refused(result, "weight", "not a plausible adult weight", "DOSING_WEIGHT_MAX_KG")


@pytest.mark.parametrize("weight", TYPOS)
def test_enroll_refuses_a_weight_no_adult_has_and_writes_nothing(dosing: Run, weight: str) -> None:
    result = dosing(
        "enroll", "NCT04822922", *ELIGIBLE_OPTIONS, "--subject", "S-001", "--arm", "low", "--weight", weight,
        "--anchor", "2026-12-01",
        ok=False, clock="2026-12-01T08:00+08:00",
    )  # fmt: skip
    refused(result, "weight", "not a plausible adult weight")
    assert audit_count(dosing) == 0
    refused(dosing("status", "S-001", ok=False), "subject")


def test_the_site_can_move_the_adult_range(dosing: Run) -> None:
    result = dosing(
        "plan", "NCT04822922", "--arm", "low", "--weight", "250kg", "--anchor", "2026-12-01",
        "--concentration", "2e7/mL", ok=False, extra_env={"DOSING_WEIGHT_MAX_KG": "200"},
    )  # fmt: skip
    refused(result, "weight", "30-200 kg")


def test_enroll_refuses_a_weight_measured_in_the_future(dosing: Run) -> None:
    result = dosing(
        "enroll", "NCT04822922", *ELIGIBLE_OPTIONS, "--subject", "S-001", "--arm", "low", "--weight", "62kg",
        "--weight-measured-on", "2026-12-05", "--anchor", "2026-12-01",
        ok=False, clock="2026-12-01T08:00+08:00",
    )  # fmt: skip
    refused(result, "weight measured on", "in the future")
    assert audit_count(dosing) == 0


def test_enroll_refuses_a_weight_measured_in_9999(dosing: Run) -> None:
    result = dosing(
        "enroll", "NCT04822922", *ELIGIBLE_OPTIONS, "--subject", "S-001", "--arm", "low", "--weight", "62kg",
        "--weight-measured-on", "9999-01-01", "--anchor", "2026-12-01",
        ok=False, clock="2026-12-01T08:00+08:00",
    )  # fmt: skip
    refused(result, "weight measured on", "1990-2100")


def test_enroll_refuses_a_weight_older_than_the_site_allows(dosing: Run) -> None:
    result = dosing(
        "enroll", "NCT04822922", *ELIGIBLE_OPTIONS, "--subject", "S-001", "--arm", "low", "--weight", "62kg",
        "--weight-measured-on", "2026-10-01", "--anchor", "2026-12-01",
        ok=False, clock="2026-12-01T08:00+08:00",
    )  # fmt: skip
    refused(result, "weight measured on", "61 days before enrollment", "DOSING_WEIGHT_MAX_AGE_DAYS")
    assert audit_count(dosing) == 0


def test_prep_refuses_a_dose_computed_from_a_weight_too_old(dosing: Run, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # Weighed 25 days before enrollment: fine then, 34 days old by dose 4 (day 10).
    enroll_low(dosing, "S-001", "--weight-measured-on", "2026-11-06")
    register_lot(dosing)
    out = str(tmp_path / "sheets")
    result = dosing("prep", "S-001", "4", "-o", out, "--as-of", "2026-12-09T00:00:00+00:00", ok=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "weight measured on: measured on 2026-11-06, 34 days before the dose" in result.stderr
    # Weighing the patient on the day (prep --weight) confirms the dosing weight.
    dosing("prep", "S-001", "4", "--weight", "62kg", "-o", out, "--as-of", "2026-12-09T00:00:00+00:00")


def test_prep_refuses_a_current_weight_no_adult_has(dosing: Run, tmp_path) -> None:  # type: ignore[no-untyped-def]
    enroll_low(dosing)
    register_lot(dosing)
    result = dosing(
        "prep", "S-001", "2", "--weight", "620kg", "-o", str(tmp_path),
        "--as-of", "2026-12-03T00:00:00+00:00",
        ok=False,
    )  # fmt: skip
    refused(result, "weight", "not a plausible adult weight")


def test_a_roster_row_with_a_weight_no_adult_has_is_rejected(dosing: Run, store_url: str) -> None:
    from dosing.app.flow_actor import task_context
    from dosing.store import open_store
    from flows.enroll import enroll_rows
    from flows.roster import parse_roster

    header = "subject_code,protocol,arm,weight,anchor,site,age\n"
    roster = parse_roster(header + "R-1,NCT04822922,low,620 kg,2026-12-01,renji-shanghai,50\n"
                          "R-2,NCT04822922,low,62 kg,2026-12-01,renji-shanghai,50\n")  # fmt: skip
    assert roster.rejected == []
    store = open_store(store_url)
    # The roster flow's tasks act as the coordinator who started it (the test account, logged in).
    dosing("whoami", ok=True)
    outcome = enroll_rows(task_context(store, "tester", "enroll-roster"), roster.rows)
    store.dispose()
    assert [row["subject_code"] for row in outcome["enrolled"]] == ["R-2"]
    assert [(row["subject_code"], row["field"]) for row in outcome["rejected"]] == [("R-1", "weight")]
