"""Rows written at enrollment (subject, enrollment, planned administrations and assessments), built
as plain column values and inserted with Core ``INSERT ... RETURNING``: the returned rows are the rows
as the database holds them, which the audit entry's digest covers. On PostgreSQL a batch's many rows
are written with ``COPY`` and read back by id in the same transaction instead (the same rows, see
:func:`inserted`).

One subject or a batch of them write the same rows: :mod:`dosing.store.ledger.enrollment_batch`
inserts the rows of many subjects per table with the builders of this module.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from functools import cache
from operator import itemgetter
from typing import Any

from sqlalchemy import (
    ARRAY,
    Connection,
    Insert,
    Integer,
    Result,
    Row,
    Select,
    Table,
    any_,
    bindparam,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, SQLModel

from dosing.errors import DosingError
from dosing.plan import PatientPlan
from dosing.protocol import Protocol
from dosing.store.ledger._common import _chunks, _utc
from dosing.store.models import EnrollmentRequest

#: The rule of the refusal when a subject code is enrolled a second time (the roster flow knows it).
ALREADY_ENROLLED = "a subject code is enrolled once, without regard to case"

#: (arm, source, randomization number, cohort, cohort position): how the subject's arm was chosen.
Choice = tuple[str, str, int | None, int | None, int | None]

#: PostgreSQL: from this many rows an insert draws their ids and reads them back (fewer: RETURNING, in
#: one round trip; more: a statement psycopg would parse again, parameter by parameter, every time).
READ_BACK_FROM = 100

#: Unique columns of each table an enrollment writes (see :func:`inserted`).
SUBJECT_KEY = ("code",)
ENROLLMENT_KEY = ("subject_id",)
ADMINISTRATION_KEY = ("enrollment_id", "sequence")
ASSESSMENT_KEY = ("enrollment_id", "key")


def table_of(name: str) -> Table:
    return SQLModel.metadata.tables[name]


def inserted(
    session: Session, table_name: str, rows: Sequence[dict[str, Any]], key: tuple[str, ...]
) -> list[Row[Any]]:
    """Insert ``rows`` (one statement, executemany) and return them as stored, in the same order
    (``INSERT ... RETURNING``; on PostgreSQL, from :data:`READ_BACK_FROM` rows, read back by id).

    ``key``: columns unique in the table that tell the returned rows apart. ``RETURNING`` gives them in
    no promised order, and asking SQLAlchemy to keep the order makes SQLite insert row by row.
    """
    if not rows:
        return []
    table = table_of(table_name)
    connection = session.connection()
    if _in_bulk(connection, rows):
        returned = _inserted_postgresql(connection, table, rows)
    else:
        returned = connection.execute(_insert_returning(table_name), list(rows))
    columns = list(returned.keys())
    # Each row's key, from the returned row and from the inserted values alike (a value, or a tuple).
    stored_key = itemgetter(*(columns.index(name) for name in key))
    inserted_key = itemgetter(*key)
    by_key = {stored_key(row): row for row in returned}
    return [by_key[inserted_key(values)] for values in rows]


@cache
def _insert_returning(table_name: str) -> Insert:
    """``INSERT ... RETURNING`` every column, built once a table (its SQL is compiled once anyway; an
    enrollment spent a tenth of its time building the statement and its cache key again)."""
    table = table_of(table_name)
    return insert(table).returning(*table.c)


@cache
def _codes_query() -> Select[Any]:
    subjects = table_of("subjects")
    return select(subjects.c.code).where(func.lower(subjects.c.code).in_(bindparam("codes", expanding=True)))


def _inserted_postgresql(connection: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> Result[Any]:
    """PostgreSQL: the rows inserted with ids drawn from the table's sequence first, then read back
    in the same transaction, as stored.

    ``INSERT ... RETURNING`` of many rows is one statement of thousands of parameters, which psycopg
    parses again each time in Python (half of a roster's enrollment); a ``COPY`` (:func:`_copied`)
    and two small queries with array parameters are parsed once.
    """
    ids = list(
        connection.execute(
            text(
                "SELECT nextval(pg_get_serial_sequence(:table_name, 'id')) "
                "FROM generate_series(1, :count) ORDER BY 1"
            ),
            {"table_name": table.name, "count": len(rows)},
        ).scalars()
    )
    insert_rows(
        connection, table.name, [{**values, "id": row_id} for values, row_id in zip(rows, ids, strict=True)]
    )
    wanted = bindparam("ids", ids, type_=ARRAY(Integer))
    return connection.execute(select(table).where(table.c.id == any_(wanted)))


def insert_rows(connection: Connection, table_name: str, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` that the caller need not read back (executemany; on PostgreSQL, from
    :data:`READ_BACK_FROM` rows, one ``COPY``)."""
    if not rows:
        return
    table = table_of(table_name)
    if not (_in_bulk(connection, rows) and _copied(connection, table, rows)):
        connection.execute(insert(table), list(rows))


def _in_bulk(connection: Connection, rows: Sequence[Any]) -> bool:
    """PostgreSQL and at least :data:`READ_BACK_FROM` rows: ``COPY`` them (and read them back by id)."""
    return connection.dialect.name == "postgresql" and len(rows) >= READ_BACK_FROM


def _copied(connection: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> bool:
    """Write ``rows`` with PostgreSQL's ``COPY``, each value bound as SQLAlchemy binds it (the column
    types' own conversions, the columns' scalar defaults, the database's defaults for columns not
    given); False, nothing written, when a missing value has a default SQLAlchemy computes or the rows
    do not all have the same columns (then the caller inserts them).

    ``COPY`` takes the rows in one stream; an ``INSERT`` a row, even pipelined, cost the server a
    statement each (a fifth of a roster's enrollment, waiting).
    """
    import psycopg  # PostgreSQL only: SQLite commands never import it
    from psycopg import sql as psycopg_sql

    dialect = connection.dialect
    given = set(rows[0])
    if any(values.keys() != given for values in rows):
        return False  # rows of different columns: SQLAlchemy's INSERT refuses them, or fills them in
    columns = []
    for column in table.c:
        default = column.default
        if column.name in given:
            fill = None
        elif default is None:
            continue  # left to the database (a serial id, NULL), as an INSERT without it does
        elif default.is_scalar:
            fill = default.arg  # type: ignore[attr-defined]
        else:
            return False
        process = column.type.dialect_impl(dialect).bind_processor(dialect)
        columns.append((column.name, column.name in given, fill, process))
    statement = psycopg_sql.SQL("COPY {} ({}) FROM STDIN").format(
        psycopg_sql.Identifier(table.name),
        psycopg_sql.SQL(", ").join(psycopg_sql.Identifier(name) for name, *_ in columns),
    )
    driver = connection.connection.driver_connection
    assert driver is not None
    try:
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            for values in rows:
                row = []
                for name, present, fill, process in columns:
                    value = values[name] if present else fill
                    # None too, as SQLAlchemy does: a JSON column stores a JSON null for it, not NULL.
                    row.append(value if process is None else process(value))
                copy.write_row(row)
    except psycopg.Error as error:
        # As SQLAlchemy reports a driver's error (IntegrityError, DataError, OperationalError ...): a
        # refused row sends the batch subject by subject, and no caller sees a bare driver error.
        raise DBAPIError.instance(
            f"COPY {table.name}", None, error, psycopg.Error, hide_parameters=True, dialect=dialect
        ) from error
    return True


def already_enrolled(code: str, exists: str) -> DosingError:
    return DosingError(
        "subject",
        ALREADY_ENROLLED,
        f"{code} is already enrolled"
        if exists == code
        else f"{code} is already enrolled as {exists} (codes differing only by case are one subject)",
    )


def enrolled_codes(session: Session, codes: Sequence[str]) -> dict[str, str]:
    """The stored subject codes among ``codes``, by lower case (codes differing by case are one)."""
    lowered = sorted({code.lower() for code in codes})
    found: dict[str, str] = {}
    for chunk in _chunks(lowered):
        for code in session.connection().execute(_codes_query(), {"codes": chunk}).scalars():
            found[code.lower()] = code
    return found


def subject_values(request: EnrollmentRequest) -> dict[str, Any]:
    return {"code": request.subject_code, "protocol_id": request.protocol_id, "created_at": request.as_of}


def _insert_subject(session: Session, request: EnrollmentRequest) -> Row[Any]:
    exists = enrolled_codes(session, [request.subject_code]).get(request.subject_code.lower())
    if exists is not None:
        raise already_enrolled(request.subject_code, exists)
    return inserted(session, "subjects", [subject_values(request)], SUBJECT_KEY)[0]


def enrollment_values(
    subject_id: int, request: EnrollmentRequest, plan: PatientPlan, choice: Choice, measured_on: date
) -> dict[str, Any]:
    arm, source, number, cohort, position = choice
    dose_level = next((str(a.dose_per_kg) for a in plan.administrations if a.dose_per_kg is not None), None)
    return {
        "subject_id": subject_id,
        "protocol_id": plan.protocol_id,
        "arm": arm,
        "arm_role": plan.arm_role.value,
        "dose_level": dose_level,
        "cohort": cohort,
        "cohort_position": position,
        "randomization_number": number,
        "allocation_overridden": source == "override",
        "weight_kg": plan.weight.value,
        "weight_measured_on": measured_on,
        "anchor_date": plan.anchor_date,
        "site": plan.site,
        "timezone": plan.timezone,
        "enrolled_at": _utc(request.as_of),
        "enrolled_by": request.actor,
    }


def _insert_enrollment(
    session: Session,
    subject: Row[Any],
    request: EnrollmentRequest,
    plan: PatientPlan,
    choice: Choice,
    measured_on: date,
) -> Row[Any]:
    values = enrollment_values(subject.id, request, plan, choice, measured_on)
    return inserted(session, "enrollments", [values], ENROLLMENT_KEY)[0]


def _slug(text_value: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text_value.lower()).strip("-")


def administration_values(
    protocol: Protocol, subject_id: int, enrollment_id: int, plan: PatientPlan
) -> list[dict[str, Any]]:
    return [
        {
            "enrollment_id": enrollment_id,
            "subject_id": subject_id,
            "sequence": planned.sequence,
            "label": planned.label,
            "study_day": planned.study_day,
            "target_date": planned.target_date,
            "earliest": planned.earliest,
            "latest": planned.latest,
            "planned_start": _utc(planned.planned_start),
            "intervention": planned.intervention,
            "dose_per_kg": str(planned.dose_per_kg) if planned.dose_per_kg is not None else None,
            "ordered_dose_value": ordered.value if (ordered := planned.ordered_dose) is not None else None,
            "ordered_dose_unit": ordered.unit.value if ordered is not None else None,
            "final_volume_ml": (
                protocol.preparation.final_volume.value
                if planned.intervention == "product"
                else (planned.placebo_volume.value if planned.placebo_volume is not None else None)
            ),
        }
        for planned in plan.administrations
    ]


#: (months, days, hours, key prefix) of each (follow-up name, offset text) of a protocol, by id: the
#: protocol is kept with them, so its id cannot name another protocol while cached.
_ASSESSMENT_OFFSETS: dict[int, tuple[Protocol, dict[tuple[str, str], tuple[int, int, int, str]]]] = {}


def _assessment_offsets(protocol: Protocol) -> dict[tuple[str, str], tuple[int, int, int, str]]:
    cached = _ASSESSMENT_OFFSETS.get(id(protocol))
    if cached is not None and cached[0] is protocol:
        return cached[1]
    offsets = {
        (follow_up.name, offset.describe()): (
            offset.months,
            offset.days,
            offset.hours,
            f"{_slug(follow_up.name)}/{offset.months}m{offset.days}d{offset.hours}h",
        )
        for follow_up in protocol.follow_up
        for offset in follow_up.offsets
    }
    if len(_ASSESSMENT_OFFSETS) >= 64:
        _ASSESSMENT_OFFSETS.clear()
    _ASSESSMENT_OFFSETS[id(protocol)] = (protocol, offsets)
    return offsets


def assessment_values(
    protocol: Protocol, subject_id: int, enrollment_id: int, plan: PatientPlan
) -> list[dict[str, Any]]:
    offsets = _assessment_offsets(protocol)
    assessments = []
    for planned_assessment in plan.assessments:
        found = offsets.get((planned_assessment.name, planned_assessment.offset))
        months, days, hours, key = found or (0, 0, 0, f"{_slug(planned_assessment.name)}/0m0d0h")
        if planned_assessment.administration_sequence is not None:
            key += f"/dose-{planned_assessment.administration_sequence}"
        assessments.append(
            {
                "enrollment_id": enrollment_id,
                "subject_id": subject_id,
                "key": key,
                "name": planned_assessment.name,
                "due": _utc(planned_assessment.due),
                "due_date": planned_assessment.due_date,
                "after": planned_assessment.after,
                "offset_months": months,
                "offset_days": days,
                "offset_hours": hours,
                "offset_text": planned_assessment.offset,
                "measures": list(planned_assessment.measures),
                "source": planned_assessment.source,
                "administration_sequence": planned_assessment.administration_sequence,
            }
        )
    return assessments


def _insert_plan(
    session: Session, protocol: Protocol, subject: Row[Any], enrollment: Row[Any], plan: PatientPlan
) -> tuple[list[Row[Any]], list[Row[Any]]]:
    """Persist the planned administrations and assessments; returns them as stored."""
    doses = inserted(
        session,
        "planned_administrations",
        administration_values(protocol, subject.id, enrollment.id, plan),
        ADMINISTRATION_KEY,
    )
    assessments = inserted(
        session,
        "planned_assessments",
        assessment_values(protocol, subject.id, enrollment.id, plan),
        ASSESSMENT_KEY,
    )
    return doses, assessments
