"""The PostgreSQL application role: it reads and inserts ledger rows and nothing more.

Migrations run as the schema's owner (``dosing db upgrade --owner-database-url OWNER_URL``); the
application connects as a role that ``dosing db grant ROLE`` gives SELECT and INSERT on every ledger
table, and UPDATE only on the tables that are not records (accounts, sessions and calendar feeds:
lockout counters, session activity, a feed's revocation). The owner keeps UPDATE, DELETE and
TRUNCATE; the triggers refuse them to the owner too, and the owner alone could disable a trigger,
which ``dosing audit verify`` would then find in the rows.
"""

from __future__ import annotations

import re

from sqlalchemy import text
from sqlmodel import SQLModel

from dosing.errors import DosingError
from dosing.store.db import Store

#: Tables whose rows change in place (not records): the application role may UPDATE them.
MUTABLE_TABLES = frozenset({"accounts", "login_sessions", "calendar_feeds"})
_ROLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def grant_application_role(store: Store, role: str) -> list[str]:
    """Grant ``role`` what the application needs on the store's schema; returns the statements run."""
    if store.is_sqlite:
        raise DosingError(
            "database", "roles exist on PostgreSQL", "SQLite has no roles: protect the file instead"
        )
    if not _ROLE.match(role):
        raise DosingError("role", "a PostgreSQL role name (lower case, digits, _)", f"{role!r} is not one")
    # Every table in the metadata.
    import dosing.store.feeds
    import dosing.store.lots  # noqa: F401

    statements = []
    with store.engine.begin() as connection:
        schema = connection.execute(text("SELECT current_schema()")).scalar_one()
        existing = set(
            connection.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = :schema"), {"schema": schema}
            ).scalars()
        )
        statements.append(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"')
        statements.append(f'GRANT SELECT ON alembic_version TO "{role}"')
        for table in sorted(SQLModel.metadata.tables):
            if table not in existing:
                continue
            statements.append(f'REVOKE ALL ON "{table}" FROM "{role}"')
            rights = "SELECT, INSERT, UPDATE" if table in MUTABLE_TABLES else "SELECT, INSERT"
            statements.append(f'GRANT {rights} ON "{table}" TO "{role}"')
        statements.append(f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA "{schema}" TO "{role}"')
        for statement in statements:
            connection.execute(text(statement))
    return statements
