"""The dose ledger's store (SQLModel on SQLite or PostgreSQL, migrated by Alembic).

Use it as ``store = open_store()`` (``DOSING_DATABASE_URL``, else the per-user SQLite file), then the
use cases in ``dosing.store.ledger``, e.g. ``ledger.subject_view(store, "S-001", as_of)``.
"""

from dosing.store.db import Store, open_store

__all__ = ["Store", "open_store"]
