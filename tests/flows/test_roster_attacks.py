"""Rosters as sites really send them: a row that cannot be enrolled, a column named twice, a file that
is not UTF-8 text, a runaway cell, and two roster flows at once on one store.

Through the flow (one Prefect server for the session) on SQLite and PostgreSQL, and through ``dosing
flows run enroll-roster`` where the file is refused before Prefect starts.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from dosing.store import open_store
from dosing.store import tables as t
from tests.flows.acting import coordinator, signed_in_cli
from tests.store.conftest import pg_schema_url, sqlite_url  # noqa: F401 (fixtures)

ENROLLED_ON = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
DOSING = Path(sys.executable).parent / "dosing"
HEADER = (
    "subject_code,protocol,arm,weight,anchor,site,dose_per_kg,"
    "age,creatinine,bilirubin,inr,albumin,ascites,encephalopathy\n"
)
#: The inclusion inputs of an eligible patient (tests/eligible.py), as roster cells.
ELIGIBLE = "50,1.5 mg/dL,10 mg/dL,1.8,3.0 g/dL,mild,none"


def _row(code: str, anchor: str = "2026-12-01", weight: str = "62 kg") -> str:
    return f"{code},NCT05871463,,{weight},{anchor},rigld-tehran,,{ELIGIBLE}\n"


def _randomized_row(code: str) -> str:
    return f"{code},MSC-ACLF-WEEKLY,,70 kg,2026-12-01,site-1,5 x10^5 cells/kg,{ELIGIBLE}\n"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest) -> Iterator[str]:
    from flows.store_access import forget_stores

    yield str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_schema_url"))
    forget_stores()


def _enroll(database: str, path: Path) -> dict[str, Any]:
    from dosing.app.flow_actor import acting_as
    from flows.enroll import enroll_roster

    with acting_as(coordinator(database)):
        return enroll_roster(str(path), database_url=database, batch_size=2)


def _enrolled_codes(database: str) -> list[str]:
    store = open_store(database)
    with store.session() as session:
        codes = sorted(session.scalars(select(t.Subject.code)).all())
    store.dispose()
    return codes


@pytest.mark.usefixtures("prefect_server")
def test_a_row_off_the_calendar_is_reported_by_its_line_and_the_others_are_enrolled(
    database: str, tmp_path: Path
) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text(
        HEADER + _row("T-001") + _row("T-002", anchor="9999-12-31") + _row("T-003") + _row("T-004")
    )
    summary = _enroll(database, roster)
    assert [(item["line"], item["field"]) for item in summary["rejected"]] == [(3, "anchor")]
    assert "outside the years a record can have" in summary["rejected"][0]["reason"]
    assert [item["line"] for item in summary["enrolled"]] == [2, 4, 5]
    assert _enrolled_codes(database) == ["T-001", "T-003", "T-004"]


@pytest.mark.usefixtures("prefect_server")
def test_a_column_named_twice_is_refused_and_nothing_is_enrolled(database: str, tmp_path: Path) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text(
        HEADER.replace("dose_per_kg", "Weight") + "T-001,NCT05871463,,62 kg,2026-12-01,rigld-tehran,90 kg\n"
    )
    summary = _enroll(database, roster)
    assert summary["enrolled"] == []
    assert [(item["line"], item["field"]) for item in summary["rejected"]] == [(1, "header")]
    assert "weight in columns 4, 7" in summary["rejected"][0]["reason"]
    assert _enrolled_codes(database) == []


@pytest.mark.usefixtures("prefect_server")
def test_an_over_long_cell_is_that_rows_refusal(database: str, tmp_path: Path) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text(
        HEADER + _row("T-001") + _row("T-002", weight='"' + "9" * 200_000 + '"') + _row("T-003")
    )
    summary = _enroll(database, roster)
    assert [(item["line"], item["field"]) for item in summary["rejected"]] == [(3, "row")]
    assert "131072" in summary["rejected"][0]["reason"]
    assert _enrolled_codes(database) == ["T-001", "T-003"]


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"subject_code,protocol\n\xff\xfe\x00\x01binary\x00", "binary file"),
        (
            HEADER.encode() + "T-001,NCT05871463,,62 kg,2026-12-01,rigld-tehran,Zürich\n".encode("latin-1"),
            "not UTF-8",
        ),
    ],
)
def test_a_file_that_is_not_utf8_text_is_refused_before_prefect_starts(
    tmp_path: Path, content: bytes, why: str
) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_bytes(content)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")},
        "DOSING_DATABASE_URL": f"sqlite:///{tmp_path / 'ledger.db'}",
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
    }
    result = subprocess.run(
        [str(DOSING), "flows", "run", "enroll-roster", str(roster)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: roster: ") and why in result.stderr
    assert "(rule: a UTF-8 CSV text file)" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "prefect-home").exists()  # refused before Prefect was even imported


@pytest.mark.usefixtures("prefect_server")
def test_two_roster_flows_at_once_each_finish_and_enroll_every_subject_once(
    database: str, tmp_path: Path
) -> None:
    from prefect.settings import PREFECT_API_URL

    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    # 60 subjects each, 30 of them on both rosters, all randomized in one study: every enrollment
    # competes for the next randomization number.
    first.write_text(HEADER + "".join(_randomized_row(f"R-{n:03d}") for n in range(1, 61)))
    second.write_text(HEADER + "".join(_randomized_row(f"R-{n:03d}") for n in range(31, 91)))
    # The session's server: no start-up cost.
    env = signed_in_cli(tmp_path, database, PREFECT_API_URL=str(PREFECT_API_URL.value())).env
    runs = [
        subprocess.Popen(
            [str(DOSING), "flows", "run", "enroll-roster", str(path), "--batch-size", "10", "--json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for path in (first, second)
    ]
    import json

    summaries = []
    for run in runs:
        stdout, stderr = run.communicate(timeout=600)
        assert run.returncode == 0, stderr[-3000:]
        assert "Traceback" not in stderr
        summaries.append(json.loads(stdout))
    enrolled = [item["subject_code"] for s in summaries for item in s["enrolled"]]
    skipped = [item["subject_code"] for s in summaries for item in s["skipped"]]
    assert [s["rejected"] for s in summaries] == [[], []]
    assert sorted(enrolled) == [f"R-{n:03d}" for n in range(1, 91)]  # each once, by one of the flows
    assert sorted(skipped) == [f"R-{n:03d}" for n in range(31, 61)]  # the other saw it enrolled
    store = open_store(database)
    with store.session() as session:
        numbers = sorted(session.scalars(select(t.Enrollment.randomization_number)).all())
    store.dispose()
    assert numbers == list(range(1, 91))
