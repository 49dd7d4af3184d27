"""Roster parsing, without Prefect: every bad row is named by its line and does not touch the others."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

from flows.roster import parse_roster

ROSTERS = Path(__file__).parent / "rosters"


def test_good_roster_parses_every_row_with_units() -> None:
    roster = parse_roster((ROSTERS / "good.csv").read_text())
    assert roster.rejected == []
    codes = [row.subject_code for row in roster.rows]
    assert codes == ["RJ-001", "RJ-002", "RJ-003", "ACLF-001", "ACLF-002", "EXO-001", "LT-001"]
    assert [row.line for row in roster.rows] == [2, 3, 4, 5, 6, 7, 8]
    assert roster.rows[1].weight.value == Decimal("70.5")
    assert roster.rows[1].arm == "low"
    # An empty arm leaves the choice to the store (randomization list, open cohort or only arm).
    assert roster.rows[3].arm is None
    assert roster.rows[3].dose_per_kg is not None
    assert roster.rows[3].dose_per_kg.value == Decimal("5E+5")


def test_bad_rows_are_reported_by_line_and_field() -> None:
    roster = parse_roster((ROSTERS / "with-bad-rows.csv").read_text())
    reasons = {row.line: (row.field, row.reason) for row in roster.rejected}
    assert set(reasons) == {3, 6, 9}
    assert reasons[3][0] == "weight" and "no unit" in reasons[3][1]
    assert reasons[6][0] == "subject_code" and "first on line 2" in reasons[6][1]
    assert reasons[9][0] == "anchor"
    # Rows that parse are kept (plan rules such as a weight limit are checked at enrollment); a quoted
    # cell over two lines numbers its row by the line it starts on, and the rows after it stay right.
    assert [row.line for row in roster.rows] == [2, 4, 5, 7, 8, 11, 13]


def test_missing_column_rejects_the_header() -> None:
    roster = parse_roster("subject_code,protocol,weight\nX-1,NCT04822922,60 kg\n")
    assert roster.rows == []
    assert [(r.line, r.field) for r in roster.rejected] == [(1, "header")]
    assert "arm" in roster.rejected[0].reason and "anchor" in roster.rejected[0].reason


def test_pounds_need_permission() -> None:
    text = "subject_code,protocol,arm,weight,anchor,site\nP-1,NCT04822922,low,150 lb,2026-12-01,\n"
    assert parse_roster(text).rejected[0].field == "weight"
    converted = parse_roster(text, allow_pounds=True).rows[0].weight.value
    assert converted == Decimal("150") * Decimal("0.45359237")


def test_a_rerun_compares_the_row_with_the_enrollment_on_the_sites_calendar_day() -> None:
    from types import SimpleNamespace

    from dosing.units import Weight
    from flows.enroll import differences

    text = (
        "subject_code,protocol,arm,weight,anchor,site\n"
        "RJ-9,NCT04822922,,62 kg,2026-11-30T17:00+00:00,renji-shanghai\n"
    )
    row = parse_roster(text).rows[0]
    enrolled = SimpleNamespace(
        protocol_id="NCT04822922",
        arm="low",
        weight=Weight.kg(62),
        site="renji-shanghai",
        timezone="Asia/Shanghai",
        anchor_date=date(2026, 12, 1),  # 17:00 UTC is 01:00 the next day in Shanghai
    )
    assert differences(row, enrolled) == []  # an empty arm accepts the arm the store chose
    heavier = SimpleNamespace(**{**vars(enrolled), "weight": Weight.kg(64)})
    assert differences(row, heavier) == ["weight 64 kg (roster: 62 kg)"]
    earlier = SimpleNamespace(**{**vars(enrolled), "anchor_date": date(2026, 11, 30)})
    assert differences(row, earlier) == ["anchor 2026-11-30 (roster: 2026-12-01)"]
