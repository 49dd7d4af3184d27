"""The SQLite ledger file: durable commits and private to its owner."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from sqlalchemy import text

from dosing.store import open_store
from tests.store.conftest import enrollment


def test_every_sqlite_connection_syncs_commits_to_disk(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'ledger.db'}")
    for engine in (store.engine, store._write_engine):
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            # 2 = FULL: the WAL is synced at every commit, so a recorded dose survives a power loss.
            assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2
    store.dispose()


def test_a_new_sqlite_store_is_private_to_its_owner(tmp_path: Path) -> None:
    old_umask = os.umask(0o022)  # a common, permissive umask: the store must not rely on it
    try:
        path = tmp_path / "new" / "folder" / "ledger.db"
        store = open_store(f"sqlite:///{path}")
        from dosing.store import ledger

        ledger.enroll(store, enrollment())
        with store.session() as session:
            session.execute(text("SELECT 1"))
        for file in [path, *path.parent.glob("ledger.db-*")]:
            assert stat.S_IMODE(file.stat().st_mode) == 0o600, file
        for folder in (path.parent, path.parent.parent):
            assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
        store.dispose()
    finally:
        os.umask(old_umask)


def test_an_existing_sqlite_file_keeps_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    path.touch(mode=0o640)
    path.chmod(0o640)  # a site that chose group access for a backup account keeps it
    open_store(f"sqlite:///{path}").dispose()
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
