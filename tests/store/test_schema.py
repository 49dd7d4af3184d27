"""The schema: Alembic migrations create exactly the tables the models describe; settings choose the file."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

from dosing.settings import get_settings
from dosing.store import Store, open_store
from dosing.store import tables as t


def test_open_store_upgrades_to_head(store: Store) -> None:
    assert store.current_revision() == store.head_revision()
    # Opening again is a no-op (already at head).
    again = open_store(store.url)
    assert again.current_revision() == store.head_revision()
    again.dispose()


def test_migrations_match_the_models(store: Store) -> None:
    from dosing.store.lots import LotRecord

    ledger_tables = {table.__tablename__ for table in [*t.TABLES, LotRecord]}  # type: ignore[attr-defined]

    def ours(obj, name, type_, reflected, compare_to):  # type: ignore[no-untyped-def]
        table = getattr(obj, "table", obj) if type_ != "table" else obj
        table_name = name if type_ == "table" else getattr(table, "name", None)
        return table_name in ledger_tables

    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_object": ours, "compare_type": False})
        differences = compare_metadata(context, SQLModel.metadata)
    assert differences == []


def test_default_database_is_a_file_under_xdg_data_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DOSING_DATABASE_URL", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    settings = get_settings()
    assert settings.database_url == f"sqlite:///{tmp_path / 'data' / 'dosing' / 'dosing.db'}"
    store = open_store()
    assert (tmp_path / "data" / "dosing" / "dosing.db").exists()
    store.dispose()


def test_database_url_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOSING_DATABASE_URL", "postgresql+psycopg://someone@db.example/trials")
    assert get_settings().database_url == "postgresql+psycopg://someone@db.example/trials"


def test_the_head_read_without_alembic_is_alembics_head(store: Store) -> None:
    from alembic.script import ScriptDirectory

    from dosing.store.db import alembic_config, head_revision

    assert head_revision() == ScriptDirectory.from_config(alembic_config(store.url)).get_current_head()
    with store.engine.connect() as connection:
        assert store.current_revision() == MigrationContext.configure(connection).get_current_revision()


def test_a_sqlite_command_does_not_load_sqlalchemys_postgresql_dialect() -> None:
    """Declaring ``postgresql_where`` on an index loads the dialect (35-50 ms of every SQLite command):
    a PostgreSQL store declares it when it opens instead (issue 15)."""
    import subprocess
    import sys

    probe = (
        "import sys, dosing.app.reads, dosing.store.tables, dosing.cli; "
        "print('sqlalchemy.dialects.postgresql' in sys.modules)"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "False"


def test_partial_indexes_have_the_same_where_on_both_databases(store: Store) -> None:
    from sqlalchemy.dialects import postgresql, sqlite
    from sqlalchemy.schema import CreateIndex

    t.declare_postgresql_options()
    t.declare_postgresql_options()  # again: nothing changes
    partial = [
        index
        for index in SQLModel.metadata.tables["administration_events"].indexes
        if index.name in t.PARTIAL_INDEXES["administration_events"]
    ]
    assert len(partial) == 2
    for index in partial:
        where = t.PARTIAL_INDEXES["administration_events"][str(index.name)]
        on_sqlite = str(CreateIndex(index).compile(dialect=sqlite.dialect()))
        on_postgresql = str(CreateIndex(index).compile(dialect=postgresql.dialect()))
        assert on_sqlite == on_postgresql
        assert on_postgresql.endswith(f"(planned_id) WHERE {where}")
    # What the database holds (created by the migrations) is a partial index too.
    from sqlalchemy import text

    query = (
        "SELECT sql FROM sqlite_master WHERE name = :name"
        if store.is_sqlite
        else "SELECT indexdef FROM pg_indexes WHERE indexname = :name"
    )
    with store.engine.connect() as connection:
        for index in partial:
            definition = connection.execute(text(query), {"name": index.name}).scalar_one()
            assert " WHERE " in definition.upper(), definition
