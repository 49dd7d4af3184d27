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
