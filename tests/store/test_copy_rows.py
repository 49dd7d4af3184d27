"""PostgreSQL: a batch's rows written with ``COPY`` are the rows an ``INSERT`` writes, value for value:
free text with tabs, line breaks, backslashes, ``\\N`` and other scripts, empty text beside NULL, JSON,
exact decimals kept as text, aware times in any zone, the columns' scalar defaults and the database's
own (a serial id). A default only SQLAlchemy can compute leaves the rows to the ``INSERT``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    Date,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    insert,
    select,
)
from sqlalchemy.exc import DataError, IntegrityError
from sqlmodel.sql.sqltypes import UTCDateTime

from dosing.store.database_errors import database_refusal
from dosing.store.ledger.plan_rows import _copied
from dosing.store.tables import DecimalText

pytestmark = pytest.mark.postgres

TRICKY = "tab\there, line\nbreak\r, back\\slash \\N, quote \" ', 细胞 ünïcødé ✓"
SHANGHAI = timezone(timedelta(hours=8))

probe = Table(
    "copy_probe",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("label", String(200), nullable=False),
    Column("code", String(40), nullable=True, unique=True),
    Column("note", String(500), nullable=True),
    Column("amount", DecimalText, nullable=True),
    Column("content", JSON, nullable=True),
    Column("moment", UTCDateTime, nullable=False),
    Column("plain_moment", DateTime(timezone=True), nullable=True),
    Column("day", Date, nullable=False),
    Column("flag", Boolean, nullable=False, default=False),
    Column("count", Integer, nullable=False, default=0),
)


def _rows() -> list[dict[str, Any]]:
    return [
        {
            "label": TRICKY if n % 2 else f"row {n}",
            "note": [None, "", TRICKY][n % 3],
            "amount": [Decimal("2.48E+7"), Decimal("62.40"), None][n % 3],
            "content": [{"text": TRICKY, "list": [1, "a\tb", None], "nested": {"k": "\\N"}}, ["x"], None][
                n % 3
            ],
            "moment": datetime(2026, 3, 29, 1, 30, n % 60, tzinfo=[UTC, SHANGHAI][n % 2]),
            "plain_moment": None if n % 4 else datetime(2028, 2, 29, 23, 59, 59, 999999, tzinfo=SHANGHAI),
            "day": date(2028, 2, 29),
            **({"flag": True} if n % 5 == 0 else {}),
        }
        for n in range(150)
    ]


@pytest.fixture
def connection(pg_schema_url: str) -> Iterator[Connection]:
    engine = create_engine(pg_schema_url)
    with engine.connect() as opened:
        probe.create(opened)
        opened.commit()
        yield opened
    engine.dispose()


def _written(connection: Connection, write: Any) -> list[dict[str, Any]]:
    """The rows as the database holds them after ``write`` (then rolled back), without their ids."""
    with connection.begin() as transaction:
        write()
        # A JSON null and an SQL NULL both read back as None: which one is stored is asked apart.
        query = select(probe, probe.c.content.is_(None).label("content_is_sql_null")).order_by(probe.c.id)
        stored = [dict(row) for row in connection.execute(query).mappings()]
        transaction.rollback()
    return [{key: value for key, value in row.items() if key != "id"} for row in stored]


def test_copy_writes_exactly_what_insert_writes(connection: Connection) -> None:
    # Rows of one batch share their keys: the flag is given to all or none.
    for rows in ([{**row, "flag": bool(n % 5 == 0)} for n, row in enumerate(_rows())], [
        {key: value for key, value in row.items() if key != "flag"} for row in _rows()
    ]):  # fmt: skip
        inserted = _written(connection, lambda rows=rows: connection.execute(insert(probe), rows))
        copied = _written(
            connection, lambda rows=rows: _copied(connection, probe, rows) or pytest.fail("not copied")
        )
        assert copied == inserted
    assert inserted[1]["label"] == TRICKY and inserted[1]["note"] == "" and inserted[0]["note"] is None
    assert inserted[0]["amount"] == Decimal("2.48E+7") and inserted[0]["content"]["nested"] == {"k": "\\N"}
    assert inserted[1]["moment"] == datetime(2026, 3, 28, 17, 30, 1, tzinfo=UTC)
    assert {row["flag"] for row in inserted} == {False} and {row["count"] for row in inserted} == {0}
    assert inserted[2]["content"] is None and inserted[2]["content_is_sql_null"] is False, "JSON null"


def test_rows_of_different_columns_are_left_to_insert(connection: Connection) -> None:
    with connection.begin() as transaction:
        assert _copied(connection, probe, _rows()) is False, "the flag is given in some rows only"
        assert connection.execute(select(probe)).all() == [], "nothing was written"
        transaction.rollback()


def test_a_default_only_sqlalchemy_computes_leaves_the_rows_to_insert(connection: Connection) -> None:
    computed = Table(
        "copy_probe_computed",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("stamped", String(40), nullable=False, default=lambda: "computed"),
        Column("label", String(40), nullable=False),
    )
    computed.create(connection)
    connection.commit()
    with connection.begin() as transaction:
        assert _copied(connection, computed, [{"label": "x"}]) is False
        assert connection.execute(select(computed)).all() == [], "nothing was written"
        transaction.rollback()


@pytest.mark.parametrize(
    ("bad", "refusal", "constraint"),
    [
        ({"code": "S-001"}, IntegrityError, "copy_probe_code_key"),  # the same code twice in the stream
        ({"label": "x" * 201}, DataError, "character varying(200)"),  # longer than the column
    ],
)
def test_a_row_the_database_refuses_is_reported_as_sqlalchemy_reports_it(
    connection: Connection, bad: dict[str, Any], refusal: type[Exception], constraint: str
) -> None:
    """The batch's callers catch SQLAlchemy's IntegrityError and DataError (a refused row: the batch is
    written again subject by subject); a bare driver error would end the command with a traceback."""
    rows = [{**row, "flag": False, "code": f"S-{n:03d}"} for n, row in enumerate(_rows())]
    rows[-1] = {**rows[-1], **bad}
    with connection.begin() as transaction:
        with pytest.raises(refusal) as raised:
            _copied(connection, probe, rows)
        transaction.rollback()
    refused = database_refusal(raised.value)
    assert refused is not None and refused.field == "database" and constraint in str(refused)
    assert TRICKY not in str(refused), "never the rows' values in a report"
