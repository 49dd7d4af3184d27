"""Issue 9: overdoses, impossible volumes and impossible dates recorded as given."""

from __future__ import annotations

import csv
import io
import json

from tests.safety.conftest import Run, audit_count, enroll_low, refused, register_lot


def _enrolled(dosing: Run) -> int:
    enroll_low(dosing)
    register_lot(dosing)
    return audit_count(dosing)


def _record(dosing: Run, *args: str, dose: str = "1", at: str = "2026-12-01T09:30", ok: bool = False):  # type: ignore[no-untyped-def]
    return dosing("record", "S-001", "--dose", dose, "--at", at, "--lot", "L123",
                  *args, ok=ok, clock="2026-12-01T11:00+08:00")  # fmt: skip


def test_ten_times_the_order_is_an_overdose_and_refused(dosing: Run) -> None:
    before = _enrolled(dosing)
    refused(_record(dosing, "--amount", "2.48 x10^8 cells"), "amount", "an overdose", "dose_tolerance")
    assert audit_count(dosing) == before


def test_a_dose_in_another_unit_is_refused(dosing: Run) -> None:
    before = _enrolled(dosing)
    refused(_record(dosing, "--amount", "400 mg"), "amount")
    assert audit_count(dosing) == before


def test_more_volume_than_the_bag_holds_is_refused(dosing: Run) -> None:
    before = _enrolled(dosing)
    refused(_record(dosing, "--volume", "1e12mL"), "volume", "more than the bag holds")
    refused(_record(dosing, "--volume", "101mL"), "volume", "final volume 100 mL")
    assert audit_count(dosing) == before


def test_a_volume_in_litres_is_refused(dosing: Run) -> None:
    before = _enrolled(dosing)
    refused(_record(dosing, "--volume", "1 L"), "volume")
    assert audit_count(dosing) == before


def test_a_partial_flag_without_what_was_given_is_refused(dosing: Run) -> None:
    before = _enrolled(dosing)
    refused(_record(dosing, "--partial"), "amount", "--amount or --volume")
    assert audit_count(dosing) == before


def test_a_smaller_volume_is_a_partial_dose_exported_as_delivered(dosing: Run, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _enrolled(dosing)
    recorded = json.loads(_record(dosing, "--volume", "60mL", "--partial", "--json", ok=True).stdout)
    given = recorded["dose"]["given"]
    assert recorded["dose"]["status"]["state"] == "partial"
    assert given["partial"] is True
    # 60 of 100 mL of a bag holding 2.48 x10^7 cells (4 x10^5 cells/kg x 62 kg).
    assert float(given["amount"]["value"]) == 2.48e7 * 60 / 100
    out = tmp_path / "ex.csv"
    dosing("export", "ex", "-o", str(out))
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [float(row["EXDOSE"]) for row in rows] == [2.48e7 * 60 / 100]
    assert rows[0]["EXADJ"].upper().startswith("PARTIAL DOSE")


def test_a_tenfold_typo_downwards_is_not_recorded_as_a_partial_dose(dosing: Run) -> None:
    # 2.48 x10^6 for 2.48 x10^7 cells: kept, it would stand as a 10% dose (and a redistributing
    # course would enlarge every dose still to come). Only the nurse's --partial makes it one.
    before = _enrolled(dosing)
    refused(_record(dosing, "--amount", "2.48 x10^6 cells"), "amount", "90% below the order", "--partial")
    refused(_record(dosing, "--volume", "6mL"), "volume", "6 mL delivers", "--partial")
    refused(_record(dosing, "--amount", "0 cells", "--partial"), "amount", "no dose", "dosing skip")
    assert audit_count(dosing) == before
    # Just under the order (the bag's rounding, a few mL left in the line) needs nothing more.
    recorded = json.loads(_record(dosing, "--volume", "95mL", "--json", ok=True).stdout)
    assert recorded["dose"]["given"]["partial"] is True


def test_a_correction_to_a_much_smaller_amount_says_partial_itself(dosing: Run) -> None:
    _enrolled(dosing)
    _record(dosing, "--volume", "95mL", ok=True)  # partial, just under the order
    before = audit_count(dosing)
    correct = ("correct", "S-001", "--dose", "1", "--reason", "amount typed")
    # The flag of the record it replaces does not confirm a new amount.
    refused(dosing(*correct, "--amount", "2.48 x10^6 cells", ok=False, clock="2026-12-01T12:00+08:00"),
            "amount", "--partial")  # fmt: skip
    assert audit_count(dosing) == before
    dosing(*correct, "--amount", "1.2 x10^7 cells", "--partial", ok=True, clock="2026-12-01T12:00+08:00")
    assert audit_count(dosing) == before + 1


def test_a_correction_cannot_make_an_overdose(dosing: Run) -> None:
    _enrolled(dosing)
    _record(dosing, ok=True)
    before = audit_count(dosing)
    result = dosing("correct", "S-001", "--dose", "1", "--reason", "typo", "--amount", "2.48 x10^8 cells",
                    ok=False, clock="2026-12-01T12:00+08:00")  # fmt: skip
    refused(result, "amount", "an overdose")
    assert audit_count(dosing) == before


def test_a_dose_on_1900_01_01_is_refused(dosing: Run) -> None:
    before = _enrolled(dosing)
    refused(_record(dosing, at="1900-01-01T10:00"), "at", "1990-2100", "DOSING_EARLIEST_YEAR")
    assert audit_count(dosing) == before


def test_a_dose_on_9999_12_31_is_refused(dosing: Run) -> None:
    before = _enrolled(dosing)
    result = dosing("record", "S-001", "--dose", "1", "--at", "9999-12-31T10:00", ok=False)
    refused(result, "at", "outside the years a record can have")
    assert audit_count(dosing) == before


def test_as_of_in_1900_is_refused(dosing: Run) -> None:
    _enrolled(dosing)
    refused(dosing("status", "S-001", "--as-of", "1900-01-01", ok=False), "as of", "1990-2100")


def test_a_dose_before_enrollment_is_refused(dosing: Run) -> None:
    before = _enrolled(dosing)
    # Entered as a late entry (with its reason), it is still refused: no dose precedes the enrollment.
    late = ("--late-reason", "paper chart")
    refused(_record(dosing, *late, at="2026-11-10T10:00"), "at", "before enrollment on 2026-12-01")
    assert audit_count(dosing) == before


def test_a_dose_long_before_its_window_is_refused(dosing: Run) -> None:
    before = _enrolled(dosing)
    # Dose 4's window opens on day 10 (2026-12-10); 2026-12-01 is 9 days before it.
    result = _record(dosing, dose="4", at="2026-12-01T10:00")
    refused(result, "at", "9 days before the window opens", "days_early_allowed")
    assert audit_count(dosing) == before


def test_one_day_early_is_within_the_protocols_allowance(dosing: Run) -> None:
    _enrolled(dosing)
    result = dosing("record", "S-001", "--dose", "2", "--at", "2026-12-03T10:00", "--lot", "L123",
                    clock="2026-12-03T11:00+08:00")  # fmt: skip
    assert "given early (1 d early)" in result.stdout
