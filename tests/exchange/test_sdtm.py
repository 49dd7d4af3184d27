"""``dosing export ec|ex``: EC and EX as the SDTM package holds them, as CSV or JSON, from a SQLite file.

Worked example (tests/exchange/conftest.py): NCT04822922 low arm in Shanghai, 2.48 x10^7 cells a dose,
S-001 given dose 1 (lot L123), skipped dose 2, a partial dose 3 and a missed dose 4; S-002 first dosed
on 4 December. The package tests check the rules; these check the commands' shape.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta
from pathlib import Path

from click.testing import CliRunner
from hypothesis import assume, given
from hypothesis import strategies as st

from dosing.cli import main
from dosing.exchange.datasets import SPECS
from dosing.exchange.exports import Selection, sdtm_packages
from dosing.exchange.sdtm import study_day
from dosing.store import ledger, open_store
from tests.exchange.conftest import AS_OF, accounts, at, enrollment, signed_in

EC_COLUMNS = [variable.name for variable in SPECS["EC"][3]]
EX_COLUMNS = [variable.name for variable in SPECS["EX"][3]]


def _cli(db_url: str, *args: str) -> str:
    result = CliRunner().invoke(main, list(args), env={"DOSING_DATABASE_URL": db_url})
    assert result.exit_code == 0, result.output
    return result.stdout


def test_cli_writes_ec_and_ex_csv_in_sdtm_column_order(dosed_url: str, tmp_path: Path) -> None:
    ec_text = _cli(dosed_url, "export", "ec", "--protocol", "NCT04822922", "--as-of", AS_OF)
    ec = list(csv.reader(io.StringIO(ec_text)))
    assert ec[0] == EC_COLUMNS
    assert EC_COLUMNS[:9] == [
        "STUDYID", "DOMAIN", "USUBJID", "ECSEQ", "ECLNKID", "ECTRT", "ECMOOD", "ECPRESP", "ECOCCUR",
    ]  # fmt: skip
    assert len(ec) == 1 + 16
    assert ec[2] == [
        "NCT04822922", "EC", "NCT04822922-S-001", "2", "1", "UC-MSC", "PERFORMED", "Y", "Y", "",
        "24800000", "CELLS", "SUSPENSION", "INTRAVENOUS", "L123", "", "1", "UC-MSC INFUSION 1", "TREATMENT",
        "2026-12-01T09:30:00+08:00", "2026-12-01T10:00:00+08:00", "1", "1",
    ]  # fmt: skip

    target = tmp_path / "ex.csv"
    _cli(dosed_url, "export", "ex", "--site", "renji-shanghai", "--as-of", AS_OF, "-o", str(target))
    ex = list(csv.reader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert ex[0] == EX_COLUMNS == [
        "STUDYID", "DOMAIN", "USUBJID", "EXSEQ", "EXLNKID", "EXTRT", "EXDOSE", "EXDOSU", "EXDOSFRM",
        "EXROUTE", "EXLOT", "EXADJ", "VISITNUM", "VISIT", "EPOCH", "EXSTDTC", "EXENDTC", "EXSTDY", "EXENDY",
    ]  # fmt: skip
    assert [(row[2][-5:], row[3], row[6]) for row in ex[1:]] == [
        ("S-001", "1", "24800000"),
        ("S-001", "2", "12400000.5"),
        ("S-002", "1", "24800000"),
    ]


def test_cli_json_and_filters(dosed_url: str) -> None:
    rows = json.loads(_cli(dosed_url, "export", "ex", "--json", "--as-of", AS_OF))
    reaction = "Partial dose: infusion reaction (fever 39.1 C, infusion stopped)"
    assert [(r["USUBJID"], r["EXDOSE"], r["EXLOT"], r["EXADJ"]) for r in rows] == [
        ("NCT04822922-S-001", 24800000, "L123", None),
        ("NCT04822922-S-001", 12400000.5, "L124", reaction),
        ("NCT04822922-S-002", 24800000, "L123", None),
    ]
    assert json.loads(_cli(dosed_url, "export", "ec", "--json", "--protocol", "SYSU3-MSCEV-LT")) == []
    # Another protocol's site is known but holds none of these subjects: the header only.
    assert _cli(dosed_url, "export", "ex", "--site", "rigld-tehran") == ",".join(EX_COLUMNS) + "\n"


def test_cli_refuses_an_unknown_site(dosed_url: str) -> None:
    result = CliRunner().invoke(
        main, ["export", "ex", "--site", "elsewhere"], env={"DOSING_DATABASE_URL": dosed_url}
    )
    assert result.exit_code == 2
    assert "error: site: unknown site 'elsewhere'" in result.stderr and "renji-shanghai" in result.stderr


def test_a_control_arm_without_administrations_yields_no_ec_or_ex_rows(sqlite_url: str) -> None:
    opened = open_store(sqlite_url)
    try:
        ledger.enroll(
            opened,
            enrollment(
                "SYSU3-MSCEV-LT",
                "C-001",
                arm="control",
                override_allocation=True,
                reason="worked example of a control subject",
            ),
        )
        assert ledger.subject_view(opened, "C-001", at(AS_OF)).doses  # shown, every dose not applicable
        accounts(opened)
        packages, subjects = sdtm_packages(signed_in(opened), Selection(as_of=at(AS_OF)), [])
    finally:
        opened.dispose()
    ((_, datasets),) = packages
    rows = {data.name: data.rows for data in datasets}
    assert rows["EC"] == [] and rows["EX"] == [] and rows["SV"] == []
    dm = rows["DM"]
    # Nothing to give is the arm's treatment: the subject is treated as assigned, not "not treated".
    assert subjects == 1
    assert [(r["ARMCD"], r["ACTARMCD"], r["ARMNRS"], r["RFXSTDTC"]) for r in dm] == [
        ("CONTROL", "CONTROL", None, None)
    ]


@given(st.dates(), st.dates())
def test_study_day_is_never_zero_and_steps_over_it(day: date, reference: date) -> None:
    assume(date.min < day < date.max)
    number = study_day(day, reference)
    assert number != 0
    assert (number > 0) == (day >= reference)
    following = study_day(day + timedelta(days=1), reference)
    assert following - number == (2 if number == -1 else 1)


def test_study_day_has_no_day_zero() -> None:
    reference = date(2026, 12, 1)
    assert [study_day(date(2026, 11, d), reference) for d in (29, 30)] == [-2, -1]
    assert [study_day(date(2026, 12, d), reference) for d in (1, 2)] == [1, 2]
