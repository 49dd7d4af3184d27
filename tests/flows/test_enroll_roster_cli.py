"""``dosing enroll --roster FILE``: the roster flow's bulk enrollment without Prefect, through the real
entry point (a process, a logged-in coordinator, the system clock set with libfaketime)."""

from __future__ import annotations

from pathlib import Path

from tests.dosing_cli import DosingCLI

ROSTERS = Path(__file__).parent / "rosters"
CLOCK = "2026-12-03T09:00:00+08:00"


def test_enroll_roster_reports_bad_rows_by_line_and_a_rerun_changes_nothing(tmp_path: Path) -> None:
    dosing = DosingCLI(tmp_path, eligible_by_default=False)
    roster = ROSTERS / "with-bad-rows.csv"
    first = dosing("enroll", "--roster", str(roster), ok=False, clock=CLOCK)
    # Some rows are enrolled, the bad ones are not: exit 1, as the roster flow.
    assert first.returncode == 1, first.stderr
    summary, *lines = first.stdout.splitlines()
    assert summary.startswith("enrolled ") and "(of " in summary and "rows in with-bad-rows.csv)" in summary
    enrolled = int(summary.split()[1].rstrip(","))
    assert enrolled > 0
    rejected_lines = [line for line in lines if line.startswith("  line ")]
    assert rejected_lines[0].startswith("  line 3 ") and ": error: weight: " in rejected_lines[0]
    assert any(line.startswith("  line 6 ") and "first on line 2" in line for line in rejected_lines)

    again = dosing("enroll", "--roster", str(roster), ok=False, clock=CLOCK)
    assert again.returncode == 1
    assert again.stdout.splitlines()[0].startswith(f"enrolled 0, already enrolled {enrolled}, ")
    verified = dosing("audit", "verify", clock=CLOCK)
    assert verified.returncode == 0


def test_enroll_roster_exits_0_when_every_row_is_enrolled(tmp_path: Path) -> None:
    dosing = DosingCLI(tmp_path, eligible_by_default=False)
    result = dosing("enroll", "--roster", str(ROSTERS / "good.csv"), clock=CLOCK)
    assert (
        result.stdout.splitlines()[0] == "enrolled 7, already enrolled 0, rejected 0 (of 7 rows in good.csv)"
    )
    shown = dosing("status", "ACLF-001", clock=CLOCK)
    assert "ACLF-001" in shown.stdout


def test_enroll_roster_takes_no_single_subject_options(tmp_path: Path) -> None:
    dosing = DosingCLI(tmp_path, eligible_by_default=False)
    refused = dosing("enroll", "NCT04822922", "--roster", str(ROSTERS / "good.csv"), ok=False, clock=CLOCK)
    assert refused.returncode == 2
    assert "--roster" in refused.stderr


def test_a_roster_with_an_unknown_column_is_refused_before_any_row(tmp_path: Path) -> None:
    """A misspelled ``dose_per_kilo`` column would have enrolled every row without its per-patient
    dose (the cells ignored): the whole file is refused, naming the column, and nothing is enrolled."""
    good = (ROSTERS / "good.csv").read_text(encoding="utf-8")
    misspelled = tmp_path / "misspelled.csv"
    misspelled.write_text(good.replace(",dose_per_kg,", ",dose_per_kilo,", 1), encoding="utf-8")
    dosing = DosingCLI(tmp_path, eligible_by_default=False)
    refused = dosing("enroll", "--roster", str(misspelled), ok=False, clock=CLOCK)
    # As every refused header: the file is one rejected row (line 1), exit 1, as the roster flow.
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert refused.stdout.startswith("enrolled 0, already enrolled 0, rejected 1")
    assert "line 1: error: header: unknown column(s): dose_per_kilo" in refused.stdout
    assert "Traceback" not in refused.stdout + refused.stderr
    assert dosing("status", "RJ-001", ok=False, clock=CLOCK).returncode == 2, "nothing enrolled"
