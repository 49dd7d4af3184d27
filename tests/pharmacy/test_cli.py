"""``dosing lots`` and ``dosing prep`` through the command line, on a real SQLite store."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from dosing.cli import main
from dosing.store import open_store
from dosing.store.models import EnrollmentRequest
from dosing.units import parse_weight
from tests.dosing_cli import sign_in_here
from tests.eligible import ELIGIBLE

ADD_DIN = [
    "lots", "add", "--din", "G123498654321", "--check", "H", "--product", "UC-MSC",
    "--concentration", "2e6/mL", "--viability", "95%", "--volume", "50mL", "--expiry", "2027-12-31",
]  # fmt: skip


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'dosing.db'}"
    monkeypatch.setenv("DOSING_DATABASE_URL", url)
    monkeypatch.delenv("DOSING_DO_NOT_DISPENSE_DAYS", raising=False)
    monkeypatch.delenv("DOSING_LABEL_PATIENT_NAME", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    sign_in_here(url, tmp_path / "state")
    return url


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def enroll(url: str, code: str, anchor: date) -> None:
    from dosing.store import ledger

    ledger.enroll(
        open_store(url),
        EnrollmentRequest(
            actor="coordinator",
            as_of=datetime(2026, 11, 25, 8, tzinfo=UTC),
            protocol_id="NCT04822922",
            eligibility=ELIGIBLE,
            subject_code=code,
            arm="low",
            weight=parse_weight("62 kg"),
            anchor=anchor,
        ),
    )


def test_lots_add_and_list(db):
    code, out, _ = run(*ADD_DIN)
    assert code == 0, out
    assert "registered DIN G123498654321 (check H)" in out
    code, out, _ = run("lots", "list", "--on", "2027-12-01", "--json")
    (lot,) = json.loads(out)
    assert (lot["identifier"], lot["check_character"], lot["days_to_expiry"]) == ("G123498654321", "H", 30)
    assert lot["concentration"] == {"value": 2000000, "amount_unit": "{cells}", "unit": "{cells}/mL"}
    assert lot["registered_by"] == "tester"
    assert (lot["status"], lot["received_ml"], lot["remaining_ml"]) == ("available", "50", "50")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (("--check", "G"), "check character"),
        (("--concentration", "0/mL"), "concentration"),
        (("--viability", "101%"), "viability"),
        (("--product", "UC-MSX"), "product"),
        (("--expiry", "31/12/2027"), "expiry"),
    ],
)
def test_lots_add_refusals_exit_2_and_name_the_field(db, change, field):
    args = list(ADD_DIN)
    index = args.index(change[0])
    args[index + 1] = change[1]
    code, _, err = run(*args)
    assert code == 2
    assert err.startswith(f"error: {field}:")
    assert run("lots", "list", "--json")[1].strip() == "[]"


def test_lot_number_instead_of_din(db):
    code, out, _ = run(
        "lots", "add", "--lot-number", "EXO-7", "--product", "UC-MSC exosomes", "--concentration", "1/mL",
        "--volume", "20mL", "--expiry", "2027-01-31", "--json",
    )  # fmt: skip
    assert code == 0
    assert json.loads(out)["concentration"]["unit"] == "mg/mL"


def test_prep_one_dose_writes_worksheet_and_label(db, tmp_path):
    enroll(db, "S-001", date(2026, 12, 1))
    run(*ADD_DIN)
    folder = tmp_path / "worksheets"
    code, out, err = run(
        "prep", "S-001", "1", "--lot", "=G12349865432100", "-o", str(folder),
        "--as-of", "2026-11-30T08:00:00+00:00", "--json",
    )  # fmt: skip
    assert code == 0, err
    (result,) = json.loads(out)
    assert result["volume_to_draw"] == {"value": 13.1, "unit": "mL"}
    assert result["diluent"] == {"value": 86.9, "unit": "mL"}
    assert result["latest_thaw"] == "2026-12-01T06:00:00+08:00"
    assert sorted(p.name for p in folder.iterdir()) == [
        "NCT04822922_S-001_dose1_label.pdf",
        "NCT04822922_S-001_dose1_worksheet.csv",
        "NCT04822922_S-001_dose1_worksheet.json",
        "NCT04822922_S-001_dose1_worksheet.pdf",
    ]
    if subprocess.run(["which", "pdftotext"], capture_output=True).returncode == 0:
        text = subprocess.run(
            ["pdftotext", "-layout", str(folder / "NCT04822922_S-001_dose1_worksheet.pdf"), "-"],
            capture_output=True,
            check=True,
        ).stdout.decode()
        assert "13.1 mL" in text and "86.9 mL 0.9% sodium chloride" in text


def test_prep_queue_takes_the_first_expiring_lot_and_reports_refusals(db, tmp_path):
    enroll(db, "S-001", date(2026, 12, 1))
    enroll(db, "S-002", date(2026, 12, 3))
    run(*ADD_DIN)
    # A small lot expiring first: S-001 dose 1 (13.1 mL) fits in 15 mL.
    run(
        "lots", "add", "--lot-number", "SMALL-1", "--product", "UC-MSC", "--concentration", "2e6/mL",
        "--viability", "95%", "--volume", "15mL", "--expiry", "2026-12-02",
    )  # fmt: skip
    folder = tmp_path / "queue"
    code, out, err = run(
        "prep", "--from", "2026-12-01", "--to", "2026-12-03", "--site", "renji-shanghai", "-o", str(folder),
        "--do-not-dispense-days", "1", "--as-of", "2026-11-30T08:00:00+00:00", "--json",
    )  # fmt: skip
    assert code == 0, err
    queue = json.loads(out)
    assert [(r["subject_code"], r["dose"], r["lot"]) for r in queue] == [
        ("S-001", 1, "SMALL-1"),  # 1 day before expiry: allowed with a 1-day margin
        ("S-002", 1, "G123498654321"),  # on 3 Dec SMALL-1 is expired
    ]
    assert len(list(folder.iterdir())) == 8

    code, out, err = run(
        "prep", "--from", "2026-12-01", "--to", "2026-12-01", "--site", "renji-shanghai", "-o", str(folder),
        "--lot", "SMALL-1", "--do-not-dispense-days", "2", "--as-of", "2026-11-30T08:00:00+00:00",
    )  # fmt: skip
    assert code == 2
    assert "REFUSED S-001 dose 1: expiry:" in err
    assert "do-not-dispense" in err


def test_prep_needs_a_dose_or_a_range(db, tmp_path):
    code, _, err = run("prep", "-o", str(tmp_path))
    assert code == 2 and "from/to" in err
    code, _, err = run("prep", "S-404", "1", "-o", str(tmp_path))
    assert code == 2


def test_prep_flags_a_weight_change_since_enrollment_on_the_worksheet(db, tmp_path):
    # Enrolled at 62 kg; 69 kg today is +11.3%, past the protocol's 10% alert. The dose stays the
    # enrollment weight's (2.48 x10^7 cells): the pharmacist sees the change and confirms it.
    enroll(db, "S-001", date(2026, 12, 1))
    run(*ADD_DIN)
    folder = tmp_path / "worksheets"
    code, out, err = run(
        "prep", "S-001", "1", "--weight", "69kg", "--lot", "G123498654321", "-o", str(folder),
        "--as-of", "2026-11-30T08:00:00+00:00", "--json",
    )  # fmt: skip
    assert code == 0, err
    (result,) = json.loads(out)
    assert result["ordered_dose"] == {"value": 24800000, "unit": "{cells}"}
    (warning,) = result["warnings"]
    assert warning["field"] == "weight" and warning["rule"] == "weight change since enrollment <= 10%"
    assert "11.3%" in warning["message"]
    text = subprocess.run(
        ["pdftotext", "-layout", str(folder / "NCT04822922_S-001_dose1_worksheet.pdf"), "-"],
        capture_output=True,
        check=True,
    ).stdout.decode()
    assert "weight change since enrollment <= 10%" in " ".join(text.split())

    within = run("prep", "S-001", "1", "--weight", "65kg", "--lot", "G123498654321", "-o", str(folder),
                 "--as-of", "2026-11-30T08:00:00+00:00", "--json")  # fmt: skip
    assert json.loads(within[1])[0]["warnings"] == []

    queue = run("prep", "--from", "2026-12-01", "--to", "2026-12-02", "--weight", "69kg", "-o", str(folder))
    assert queue[0] == 2 and "weight" in queue[2]
