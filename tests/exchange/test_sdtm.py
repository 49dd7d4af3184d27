"""Worked examples: one NCT04822922 low-arm subject (62 kg, 4 x10^5 cells/kg, so 2.48 x10^7 cells a
dose) anchored on 1 December 2026 in Shanghai: dose 1 given from lot L123 at 09:30 local, dose 2 skipped
for an adverse event, dose 3 missed (window closed 8 December), seen on 12 December.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from dosing.catalog import get_protocol
from dosing.exchange.sdtm import EC_COLUMNS, EX_COLUMNS, ECRow, EXRow, ec_rows, ex_rows, study_day
from dosing.store import Store, ledger, open_store
from dosing.store.models import GivenRequest, SkipRequest, SubjectView
from dosing.units import Amount, AmountUnit
from tests.dosing_cli import invoke_signed_in
from tests.store.conftest import at, enrollment, register_lots

AS_OF = "2026-12-12T12:00:00+08:00"
PLANNED = {"STUDYID": "NCT04822922", "DOMAIN": "EC", "USUBJID": "NCT04822922-S-001", "ECTRT": "UC-MSC"}


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.db'}"


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    opened = open_store(db_url)
    register_lots(opened, "L123")
    ledger.enroll(opened, enrollment(arm="low"))
    ledger.record_given(
        opened,
        GivenRequest(
            subject_code="S-001",
            sequence=1,
            started_at=at("2026-12-01T09:30+08:00"),
            ended_at=at("2026-12-01T10:00+08:00"),
            lot="L123",
            actor="nurse-a",
            as_of=at("2026-12-01T11:00+08:00"),
        ),
    )
    ledger.record_skipped(
        opened,
        SkipRequest(
            subject_code="S-001",
            sequence=2,
            reason="adverse event",
            actor="nurse-a",
            as_of=at("2026-12-04T08:00+08:00"),
        ),
    )
    yield opened
    opened.dispose()


@pytest.fixture
def view(store: Store) -> SubjectView:
    return ledger.subject_view(store, "S-001", at(AS_OF))


def _row(seq: int, mood: str, visit: int, **values: object) -> dict[str, object]:
    base: dict[str, object] = {
        **PLANNED,
        "ECSEQ": seq,
        "ECMOOD": mood,
        "ECOCCUR": None,
        "ECREASOC": None,
        "ECDOSE": "24800000",
        "ECDOSU": "{cells}",
        "ECDOSFRM": "SUSPENSION",
        "ECROUTE": "INTRAVENOUS",
        "ECLOT": None,
        "ECENDTC": None,
        "ECENDY": None,
        "ECADJ": None,
        "VISITNUM": visit,
    }
    return {**base, **values}


def test_ec_has_a_scheduled_row_per_dose_and_a_performed_row_per_outcome(view: SubjectView) -> None:
    rows = [row.model_dump() for row in ec_rows(view, get_protocol("NCT04822922"))]
    assert rows == [
        _row(1, "SCHEDULED", 1, ECSTDTC="2026-12-01T09:00:00+08:00", ECSTDY=1),
        _row(
            2,
            "PERFORMED",
            1,
            ECOCCUR="Y",
            ECLOT="L123",
            ECSTDTC="2026-12-01T09:30:00+08:00",
            ECENDTC="2026-12-01T10:00:00+08:00",
            ECSTDY=1,
            ECENDY=1,
        ),
        _row(3, "SCHEDULED", 2, ECSTDTC="2026-12-04T09:00:00+08:00", ECSTDY=4),
        _row(
            4,
            "PERFORMED",
            2,
            ECOCCUR="N",
            ECREASOC="adverse event",
            ECDOSE=None,
            ECDOSU=None,
            ECSTDTC="2026-12-04T09:00:00+08:00",
            ECSTDY=4,
        ),
        _row(5, "SCHEDULED", 3, ECSTDTC="2026-12-07T09:00:00+08:00", ECSTDY=7),
        _row(
            6,
            "PERFORMED",
            3,
            ECOCCUR="N",
            ECREASOC="MISSED: window closed 2026-12-08",
            ECDOSE=None,
            ECDOSU=None,
            ECSTDTC="2026-12-07T09:00:00+08:00",
            ECSTDY=7,
        ),
        _row(7, "SCHEDULED", 4, ECSTDTC="2026-12-10T09:00:00+08:00", ECSTDY=10),
        _row(
            8,
            "PERFORMED",
            4,
            ECOCCUR="N",
            ECREASOC="MISSED: window closed 2026-12-11",
            ECDOSE=None,
            ECDOSU=None,
            ECSTDTC="2026-12-10T09:00:00+08:00",
            ECSTDY=10,
        ),
    ]


def test_ec_before_a_window_closes_has_only_the_schedule(store: Store) -> None:
    view = ledger.subject_view(store, "S-001", at("2026-12-05T12:00:00+08:00"))
    rows = ec_rows(view, get_protocol("NCT04822922"))
    assert [(row.VISITNUM, row.ECMOOD, row.ECOCCUR) for row in rows] == [
        (1, "SCHEDULED", None),
        (1, "PERFORMED", "Y"),
        (2, "SCHEDULED", None),
        (2, "PERFORMED", "N"),
        (3, "SCHEDULED", None),
        (4, "SCHEDULED", None),
    ]


def test_ex_has_only_the_doses_given(view: SubjectView) -> None:
    assert ex_rows(view, get_protocol("NCT04822922")) == [
        EXRow(
            STUDYID="NCT04822922",
            USUBJID="NCT04822922-S-001",
            EXSEQ=1,
            EXTRT="UC-MSC",
            EXDOSE="24800000",
            EXDOSU="{cells}",
            EXDOSFRM="SUSPENSION",
            EXROUTE="INTRAVENOUS",
            EXLOT="L123",
            EXSTDTC="2026-12-01T09:30:00+08:00",
            EXENDTC="2026-12-01T10:00:00+08:00",
            EXSTDY=1,
            EXENDY=1,
            EXADJ=None,
            VISITNUM=1,
        )
    ]


def test_a_partial_dose_keeps_its_exact_amount_and_is_numbered_after_the_first(
    store: Store,
) -> None:
    register_lots(store, "L124")
    ledger.record_given(
        store,
        GivenRequest(
            subject_code="S-001",
            sequence=3,
            started_at=at("2026-12-08T09:10+08:00"),
            amount=Amount(value=Decimal("12400000.5"), unit=AmountUnit.CELLS),
            partial=True,
            lot="L124",
            route="iv",
            actor="nurse-a",
            as_of=at("2026-12-08T11:00+08:00"),
        ),
    )
    view = ledger.subject_view(store, "S-001", at(AS_OF))
    rows = ex_rows(view, get_protocol("NCT04822922"))
    assert [(r.EXSEQ, r.VISITNUM, r.EXDOSE, r.EXADJ, r.EXLOT, r.EXSTDY) for r in rows] == [
        (1, 1, "24800000", None, "L123", 1),
        (2, 3, "12400000.5", "PARTIAL DOSE", "L124", 8),
    ]
    performed = [r for r in ec_rows(view, get_protocol("NCT04822922")) if r.VISITNUM == 3][1]
    assert (performed.ECOCCUR, performed.ECDOSE, performed.ECADJ) == ("Y", "12400000.5", "PARTIAL DOSE")


def test_a_control_arm_without_administrations_yields_no_rows(db_url: str) -> None:
    opened = open_store(db_url)
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
        view = ledger.subject_view(opened, "C-001", at(AS_OF))
    finally:
        opened.dispose()
    protocol = get_protocol("SYSU3-MSCEV-LT")
    assert view.doses  # the schedule is shown, every dose not applicable
    assert ec_rows(view, protocol) == []
    assert ex_rows(view, protocol) == []


def test_study_day_has_no_day_zero() -> None:
    anchor = date(2026, 12, 1)
    assert [study_day(date(2026, 11, d), anchor) for d in (29, 30)] == [-2, -1]
    assert [study_day(date(2026, 12, d), anchor) for d in (1, 2)] == [1, 2]


def _cli(db_url: str, *args: str) -> str:
    result = invoke_signed_in(db_url, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_cli_writes_ec_and_ex_csv_in_sdtm_column_order(store: Store, db_url: str, tmp_path: Path) -> None:
    ec_text = _cli(db_url, "export", "ec", "--protocol", "NCT04822922", "--as-of", AS_OF)
    ec = list(csv.reader(io.StringIO(ec_text)))
    assert ec[0] == EC_COLUMNS == list(ECRow.model_fields)
    assert EC_COLUMNS[:6] == ["STUDYID", "DOMAIN", "USUBJID", "ECSEQ", "ECTRT", "ECMOOD"]
    assert len(ec) == 1 + 8
    assert ec[2] == [
        "NCT04822922", "EC", "NCT04822922-S-001", "2", "UC-MSC", "PERFORMED", "Y", "", "24800000",
        "{cells}", "SUSPENSION", "INTRAVENOUS", "L123", "2026-12-01T09:30:00+08:00",
        "2026-12-01T10:00:00+08:00", "1", "1", "", "1",
    ]  # fmt: skip

    target = tmp_path / "ex.csv"
    _cli(db_url, "export", "ex", "--site", "renji-shanghai", "--as-of", AS_OF, "-o", str(target))
    ex = list(csv.reader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert ex[0] == EX_COLUMNS == [
        "STUDYID", "DOMAIN", "USUBJID", "EXSEQ", "EXTRT", "EXDOSE", "EXDOSU", "EXDOSFRM", "EXROUTE",
        "EXLOT", "EXSTDTC", "EXENDTC", "EXSTDY", "EXENDY", "EXADJ", "VISITNUM",
    ]  # fmt: skip
    assert [row[3] for row in ex[1:]] == ["1"]


def test_cli_json_and_filters(store: Store, db_url: str) -> None:
    import json

    rows = json.loads(_cli(db_url, "export", "ex", "--json", "--as-of", AS_OF))
    assert [(r["USUBJID"], r["EXDOSE"], r["EXLOT"]) for r in rows] == [
        ("NCT04822922-S-001", "24800000", "L123")
    ]
    assert json.loads(_cli(db_url, "export", "ec", "--json", "--protocol", "SYSU3-MSCEV-LT")) == []
    assert _cli(db_url, "export", "ex", "--site", "elsewhere") == ",".join(EX_COLUMNS) + "\n"
