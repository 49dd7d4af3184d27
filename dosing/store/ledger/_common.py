"""Small pieces every use case of the ledger shares: UTC instants, row ids, site-local days, chunked
IN lists, and the lookup of an enrolled subject."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from functools import cache
from typing import Any, TypeVar

import pendulum
from sqlalchemy import func, select, text
from sqlmodel import Session, col

from dosing.errors import DosingError
from dosing.protocol import AnchorEvent, Protocol
from dosing.store import tables as t

#: Rows per IN (...) list: well under SQLite's and PostgreSQL's bind-parameter limits.
_CHUNK = 2000


def _utc(moment: datetime) -> datetime:
    """The same instant in UTC, as a plain ``datetime`` (what the database returns it as).

    A pendulum time is converted by its offset (what ``astimezone`` does, without pendulum's own
    ``astimezone``, which costs a tenth of a roster's enrollment): the same instant, the same fields.
    """
    if moment.tzinfo is None:
        raise DosingError("time", "date-time with a UTC offset", f"{moment.isoformat()} has no offset")
    if type(moment) is datetime:
        return moment.astimezone(UTC)
    offset = moment.utcoffset()
    assert offset is not None
    wall = datetime(
        moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second, moment.microsecond
    )
    return (wall - offset).replace(tzinfo=UTC)


def _id(row: Any) -> int:
    """The primary key of a flushed row."""
    assert row.id is not None
    identifier: int = row.id
    return identifier


def _id_of(value: int | None) -> int:
    assert value is not None
    return value


@cache
def _zone(name: str) -> Any:
    return pendulum.timezone(name)


def _local_date(moment: datetime, timezone: str) -> date:
    local = moment.astimezone(_zone(timezone))
    # A plain date: database drivers bind the stdlib type, not pendulum's subclass.
    return date(local.year, local.month, local.day)


def _first_dosing_day(enrollment: t.Enrollment, protocol: Protocol) -> date:
    """The first local day a dose of this enrollment can be given on: the day it was enrolled, or its
    anchor day when earlier (an enrollment keyed in after the fact names its real anchor; a transplant
    anchor is not an enrollment, so it does not count)."""
    enrolled_on = _local_date(enrollment.enrolled_at, enrollment.timezone)
    if protocol.anchor.event is not AnchorEvent.TRANSPLANT:
        enrolled_on = min(enrolled_on, enrollment.anchor_date)
    return enrolled_on


def _local(moment: datetime, timezone: str) -> datetime:
    return moment.astimezone(_zone(timezone))


_Item = TypeVar("_Item")


def _chunks(items: Sequence[_Item]) -> Iterable[Sequence[_Item]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _subject(session: Session, subject_code: str) -> tuple[t.Subject, t.Enrollment]:
    found = session.execute(
        select(t.Subject, t.Enrollment)
        .join(t.Enrollment, col(t.Enrollment.subject_id) == col(t.Subject.id))
        .where(func.lower(col(t.Subject.code)) == subject_code.lower())
    ).first()
    if found is None:
        raise DosingError("subject", "an enrolled subject", f"no subject {subject_code!r} is enrolled")
    return found[0], found[1]


def _one_writer_at_a_time(session: Session, name: str) -> None:
    """Hold the lock ``name`` until the transaction ends: writers of the same kind take turns.

    For rules that read before they write (the next randomization number, the next cohort place, the
    sweep's checkpoint): without it two PostgreSQL transactions read the same state and one of them
    fails on a unique constraint. SQLite's ``BEGIN IMMEDIATE`` already lets one writer in at a time.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": name})
