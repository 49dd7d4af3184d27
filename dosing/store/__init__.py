"""The dose ledger's store (SQLModel on SQLite or PostgreSQL, migrated by Alembic).

>>> from dosing.store import open_store, ledger   # doctest: +SKIP
>>> store = open_store()                           # doctest: +SKIP
"""

from dosing.store.db import Store, open_store

__all__ = ["Store", "open_store"]
