"""Issue 9: a 40 mg regimen that delivered 13.4 mg says so; prep refuses a dose whose window closed."""

from __future__ import annotations

import json

from tests.eligible import ELIGIBLE_OPTIONS
from tests.safety.conftest import Run, enroll_low, refused, register_lot


def test_status_overdue_and_prep_show_delivered_versus_total(dosing: Run, tmp_path) -> None:  # type: ignore[no-untyped-def]
    dosing("enroll", "NCT05871463", *ELIGIBLE_OPTIONS, "--subject", "EXO-1", "--weight", "60kg",
           "--anchor", "2026-12-01", clock="2026-12-01T06:00+03:30")  # fmt: skip
    dosing("record", "EXO-1", "--dose", "1", "--at", "2026-12-01T09:30", clock="2026-12-01T11:00+03:30")
    dosing("skip", "EXO-1", "--dose", "2", "--reason", "held", clock="2026-12-08T08:00+03:30")
    # Dose 3 (day 15) is upcoming: the prep list shows what the subject received so far.
    register_lot(dosing, "EXO-L1", product="UC-MSC exosomes", concentration="1 mg/mL", volume="100mL")
    prep = dosing("prep", "EXO-1", "3", "-o", str(tmp_path), "--as-of", "2026-12-14T00:00:00+00:00")
    assert "COURSE EXO-1: 13.4 mg of 40 mg delivered (13.3 mg forfeited)" in prep.stdout
    # Then dose 3 is missed too.
    status = dosing("status", "EXO-1", "--as-of", "2026-12-20")
    assert "course: 13.4 mg of 40 mg delivered (26.6 mg forfeited) (forfeit policy" in status.stdout
    overdue = dosing("overdue", "--as-of", "2026-12-20T00:00:00+00:00", "--json")
    assert {row["course"] for row in json.loads(overdue.stdout)} == {
        "13.4 mg of 40 mg delivered (26.6 mg forfeited)"
    }


def test_prep_refuses_a_dose_whose_window_has_closed(dosing: Run, tmp_path) -> None:  # type: ignore[no-untyped-def]
    enroll_low(dosing)
    register_lot(dosing)
    result = dosing(
        "prep", "S-001", "2", "-o", str(tmp_path), "--as-of", "2026-12-20T00:00:00+00:00", ok=False
    )
    refused(result, "dose", "dose 2 is missed", "window is open or ahead")
    assert not list(tmp_path.glob("*.pdf"))


def test_prep_refuses_a_skipped_dose(dosing: Run, tmp_path) -> None:  # type: ignore[no-untyped-def]
    enroll_low(dosing)
    register_lot(dosing)
    dosing("skip", "S-001", "--dose", "2", "--reason", "held", clock="2026-12-02T08:00+08:00")
    result = dosing(
        "prep", "S-001", "2", "-o", str(tmp_path), "--as-of", "2026-12-03T00:00:00+00:00", ok=False
    )
    refused(result, "dose", "dose 2 is skipped")
