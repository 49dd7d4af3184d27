"""Stores for the ledger tests: a real SQLite file, and the PostgreSQL server on 127.0.0.1:5432.

Every PostgreSQL test gets its own schema in database ``test`` (named after this session), dropped
after the test; no other table of that database is touched. PostgreSQL tests skip when the server is
unreachable, except under CI=true, where they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text

from dosing.store import Store, open_store
from dosing.store.models import EnrollmentRequest
from dosing.units import parse_weight

PG_URL = os.environ.get("DOSING_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SESSION_TAG = uuid.uuid4().hex[:8]


def _pg_reachable() -> str | None:
    try:
        engine = create_engine(PG_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as error:  # any failure to connect means "no server here"
        return str(error).splitlines()[0]


def pg_url_for(schema: str) -> str:
    return f"{PG_URL}?options={quote(f'-csearch_path={schema}')}"


@pytest.fixture
def sqlite_url(tmp_path) -> str:  # type: ignore[no-untyped-def]
    return f"sqlite:///{tmp_path / 'ledger.db'}"


@pytest.fixture
def pg_schema_url() -> Iterator[str]:
    problem = _pg_reachable()
    if problem is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL unreachable under CI: {problem}")
        pytest.skip(f"PostgreSQL unreachable: {problem}")
    schema = f"ledger_test_{SESSION_TAG}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(PG_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield pg_url_for(schema)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request) -> str:  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("pg_schema_url"))


#: Lots the ledger tests record doses with, registered in the pharmacy as the ledger requires.
TEST_LOTS = ("L123", "L124", "L1", "L2")


def register_lots(
    store: Store, *numbers: str, product: str = "UC-MSC", expiry: date = date(2027, 12, 31)
) -> None:
    from dosing.pharmacy.lots import Lot
    from dosing.store.lots import add_lot

    for number in numbers:
        lot = Lot(
            product=product,
            lot_number=number,
            concentration="2e6 cells/mL",
            viability="95%",
            volume="50 mL",
            expiry=expiry,
        )
        add_lot(store, lot, actor="pharmacist", as_of=datetime(2026, 11, 1, tzinfo=UTC))


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = open_store(store_url)
    register_lots(opened, *TEST_LOTS)
    yield opened
    opened.dispose()


def at(text_value: str) -> datetime:
    """An aware instant from ISO text; without an offset it is UTC."""
    moment = datetime.fromisoformat(text_value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def enrollment(
    protocol_id: str = "NCT04822922",
    subject: str = "S-001",
    *,
    arm: str | None = None,
    weight: str = "62 kg",
    anchor: date = date(2026, 12, 1),
    as_of: str = "2026-12-01T00:30:00+00:00",
    **extra: object,
) -> EnrollmentRequest:
    from tests.eligible import eligible

    extra.setdefault("eligibility", eligible(protocol_id))
    return EnrollmentRequest(
        protocol_id=protocol_id,
        subject_code=subject,
        arm=arm,
        weight=parse_weight(weight),
        anchor=anchor,
        actor="coordinator",
        as_of=at(as_of),
        **extra,  # type: ignore[arg-type]
    )
