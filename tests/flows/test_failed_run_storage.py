"""A flow run that fails on the database leaves no ledger data behind: not on the terminal, not in
Prefect's result storage (``$PREFECT_HOME/storage``, where Prefect writes a failed run's exception
whatever ``persist_result`` says).

Replayed through ``dosing flows run sweep`` on its temporary server, against a SQLite store whose audit
log refuses every insert (a trigger), so the sweep's first write fails with SQLAlchemy's message, which
carries the SQL parameters (the subject codes of the missed doses).
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

from sqlalchemy import create_engine, text

from tests.flows.acting import signed_in_cli


def test_a_failed_flow_run_stores_and_prints_no_ledger_data(tmp_path: Path) -> None:
    from dosing.store import ledger, open_store
    from tests.store.conftest import enrollment

    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    store = open_store(url)
    codes = [f"SECRET-{n}" for n in range(1, 4)]
    for code in codes:
        ledger.enroll(store, enrollment(subject=code))
    store.dispose()
    march = "2027-03-01T00:00+00:00"  # every window of those subjects has closed: the sweep writes
    cli = signed_in_cli(tmp_path, url, clock=march)
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "CREATE TRIGGER audit_refuses BEFORE INSERT ON audit_log "
                "WHEN NEW.action = 'missed' BEGIN SELECT RAISE(ABORT, 'audit log is read-only today'); END"
            )
        )
    engine.dispose()

    home = tmp_path / "prefect-home"
    run = cli.raw("flows", "run", "sweep", clock=march, timeout=300)
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
