"""The store fixtures of the ledger tests (SQLite file and PostgreSQL schema) serve here too."""

from tests.store.conftest import pg_schema_url, sqlite_url, store, store_url

__all__ = ["pg_schema_url", "sqlite_url", "store", "store_url"]
