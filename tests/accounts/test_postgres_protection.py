"""On PostgreSQL the application connects as a role that can only read and insert ledger rows, and
TRUNCATE is refused; the audit chain holds under concurrent writers."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from dosing.store import Store, open_store
from dosing.store.chain import verify
from dosing.store.grants import grant_application_role
from dosing.store.ledger import audit_trail
from tests.store.conftest import PG_URL, enrollment

pytestmark = pytest.mark.postgres


@pytest.fixture
def owner_store(pg_schema_url: str) -> Iterator[Store]:
    store = open_store(pg_schema_url)
    yield store
    store.dispose()


@pytest.fixture
def app_role(owner_store: Store, pg_schema_url: str) -> Iterator[str]:
    role = f"dosing_app_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_URL)
    with admin.begin() as connection:
        connection.execute(text(f"CREATE ROLE {role} LOGIN"))
    grant_application_role(owner_store, role)
    schema = pg_schema_url.split("search_path%3D", 1)[1]
    url = PG_URL.replace("postgres@", f"{role}@", 1) + "?options=" + quote(f"-csearch_path={schema}")
    try:
        yield url
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'REVOKE ALL ON ALL TABLES IN SCHEMA "{schema}" FROM {role}'))
            connection.execute(text(f'REVOKE ALL ON ALL SEQUENCES IN SCHEMA "{schema}" FROM {role}'))
            connection.execute(text(f'REVOKE ALL ON SCHEMA "{schema}" FROM {role}'))
            connection.execute(text(f"DROP ROLE {role}"))
        admin.dispose()


def test_the_application_role_reads_and_inserts_but_cannot_rewrite(app_role: str) -> None:
    from dosing.store import ledger

    store = open_store(app_role)
    ledger.enroll(store, enrollment())
    assert [entry.action for entry in audit_trail(store, subject_code="S-001")] == ["enroll"]
    for statement in (
        "UPDATE administration_events SET notes = 'x'",
        "UPDATE enrollments SET weight_kg = '620'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
        "TRUNCATE planned_administrations CASCADE",
        "ALTER TABLE audit_log DISABLE TRIGGER ALL",
        "DROP TRIGGER audit_log_append_only ON audit_log",
    ):
        refused = pytest.raises(DBAPIError, match=r"permission denied|must be")
        with store.engine.begin() as connection, refused:
            connection.execute(text(statement))
    store.dispose()


def test_truncate_is_refused_even_to_the_owner(owner_store: Store) -> None:
    from dosing.store import ledger

    ledger.enroll(owner_store, enrollment())
    for table in ("audit_log", "administration_events", "subjects", "signatures"):
        with owner_store.engine.begin() as connection, pytest.raises(DBAPIError, match="append-only"):
            connection.execute(text(f"TRUNCATE {table} CASCADE"))


def test_an_outdated_schema_is_not_migrated_by_the_application_role(
    app_role: str, owner_store: Store
) -> None:
    from dosing.errors import DosingError

    with owner_store.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0002'"))
    with pytest.raises(DosingError, match="upgraded by its owner"):
        open_store(app_role)


def test_the_chain_verifies_after_a_sweep_of_many_doses_on_postgresql(owner_store: Store) -> None:
    from dosing.store import ledger

    for number in range(1, 4):
        ledger.enroll(owner_store, enrollment(subject=f"S-00{number}"))
    swept = ledger.sweep_overdue(owner_store, datetime(2027, 3, 1, tzinfo=UTC), "coordinator")
    assert len(swept.missed) == 12
    with owner_store.session() as session:
        report = verify(session)
    assert report.ok, report.problems
