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
