"""A flow run that fails on the database leaves no ledger data behind: not on the terminal, not in
Prefect's result storage (``$PREFECT_HOME/storage``, where Prefect writes a failed run's exception
whatever ``persist_result`` says).

Replayed through ``dosing flows run sweep`` on its temporary server, against a SQLite store whose audit
log refuses every insert (a trigger), so the sweep's first write fails with SQLAlchemy's message, which
carries the SQL parameters (the subject codes of the missed doses).
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, text

DOSING = Path(sys.executable).parent / "dosing"
ROSTERS = Path(__file__).parent / "rosters"


def test_a_failed_flow_run_stores_and_prints_no_ledger_data(tmp_path: Path) -> None:
    from dosing.store import open_store
    from flows.enroll import enroll_rows
    from flows.roster import parse_roster

    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    store = open_store(url)
    roster = parse_roster((ROSTERS / "good.csv").read_text())
    enroll_rows(store, roster.rows, actor="test", as_of=datetime(2026, 11, 20, 9, tzinfo=UTC))
    store.dispose()
    codes = [row.subject_code for row in roster.rows]
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "CREATE TRIGGER audit_refuses BEFORE INSERT ON audit_log "
                "BEGIN SELECT RAISE(ABORT, 'audit log is read-only today'); END"
            )
        )
    engine.dispose()

    home = tmp_path / "prefect-home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(home), DOSING_DATABASE_URL=url)
    run = subprocess.run(
        [str(DOSING), "flows", "run", "sweep", "--as-of", "2027-03-01T00:00+00:00"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 2, run.stderr
    assert run.stderr.startswith("error: database: IntegrityError: audit log is read-only today (rule: ")
    assert "Traceback" not in run.stderr
    assert not any(code in run.stdout + run.stderr for code in codes)

    storage = home / "storage"
    assert storage.is_dir()
    assert stat.S_IMODE(storage.stat().st_mode) == 0o700
    stored = [path for path in storage.rglob("*") if path.is_file()]
    assert stored, "Prefect wrote no failure record: the test no longer sees what it checks"
    for path in stored:
        content = path.read_bytes()
        assert not any(code.encode() in content for code in codes), path
        assert b"INSERT INTO" not in content
        record = json.loads(content)  # JSON, not a pickle
        assert "audit log is read-only today" in json.dumps(record)
