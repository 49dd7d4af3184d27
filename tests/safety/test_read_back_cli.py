"""Issue 9: a value that can be stored can always be read back; MSC-ACLF-WEEKLY's week-0 window."""

from __future__ import annotations

import json

import pytest

from tests.safety.conftest import Run, enroll_low


def _store_a_dose_dated_9999(store_url: str) -> None:
    import os
    from datetime import UTC, datetime

    from dosing.store import ledger, open_store
    from dosing.store.models import GivenRequest

    os.environ["DOSING_LATEST_YEAR"] = "9999"
    try:
        store = open_store(store_url)
        moment = datetime(9999, 12, 31, 15, tzinfo=UTC)
        ledger.record_given(
            store,
            GivenRequest(subject_code="S-001", sequence=1, started_at=moment, actor="tester", as_of=moment),
        )
        store.dispose()
    finally:
        del os.environ["DOSING_LATEST_YEAR"]


def test_a_stored_dose_dated_9999_12_31_reads_back_everywhere(dosing: Run, tmp_path, store_url: str) -> None:  # type: ignore[no-untyped-def]
    enroll_low(dosing)
    # A site that once allowed any year stored this row (the default years refuse it now): written
    # through the ledger, as the application layer would, with the years widened for that call.
    _store_a_dose_dated_9999(store_url)
    status = json.loads(dosing("status", "S-001", "--as-of", "2026-12-02", "--json").stdout)
    assert status["doses"][0]["given"]["started_at"].startswith("9999-12-31")
    dosing("export", "ex", "-o", str(tmp_path / "ex.csv"))
    dosing("export", "ec", "-o", str(tmp_path / "ec.csv"))
    dosing("calendar", "S-001", "-o", str(tmp_path / "S-001.ics"))
    dosing("overdue", "--as-of", "2027-01-01T00:00:00+00:00")
    # And it can be corrected with a plausible date.
    dosing("correct", "S-001", "--dose", "1", "--reason", "year typed wrong", "--at", "2026-12-01T09:30",
           clock="2026-12-01T12:00+08:00")  # fmt: skip


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_msc_aclf_weekly_week_0_window_opens_on_enrollment_day(dosing: Run) -> None:
    planned = dosing("plan", "MSC-ACLF-WEEKLY", "--arm", "msc", "--weight", "70kg", "--anchor", "2026-12-01",
                     "--dose-per-kg", "5 x10^5 cells/kg", "--json")  # fmt: skip
    plan = json.loads(planned.stdout)
    first = plan["administrations"][0]
    assert (first["earliest"], first["target_date"]) == ("2026-12-01", "2026-12-01")
