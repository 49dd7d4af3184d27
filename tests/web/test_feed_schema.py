"""The calendar_feeds table: the migration creates exactly what the model describes."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

from dosing.store import open_store
from dosing.store.feeds import CalendarFeed


def test_the_migration_matches_the_feed_model(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'ledger.db'}")

    def ours(obj, name, type_, reflected, compare_to):  # type: ignore[no-untyped-def]
        table = obj if type_ == "table" else getattr(obj, "table", None)
        return getattr(table, "name", name) == CalendarFeed.__tablename__

    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_object": ours, "compare_type": False})
        assert compare_metadata(context, SQLModel.metadata) == []
    store.dispose()
