"""Stock per lot and container in the store: movements, lot status changes and thaw records.

All three tables are insert-only records (database triggers refuse UPDATE and DELETE) and every row is
written with an audit entry that lists it (``COVERED_TABLES``). What a container holds now is always
computed from its movements (:class:`dosing.pharmacy.stock.StockTally`), never stored as a running
figure that could be rewritten.

A lot registered before these tables existed has no "received" movement: it counts as one container
holding the lot's registered volume.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import UniqueConstraint
from sqlmodel import Field, Session, SQLModel, col, select

from dosing.pharmacy.stock import EMPTY, LotStatus, Movement, StockTally
from dosing.store.tables import DecimalText


class StockMovement(SQLModel, table=True):
    """Volume moved between the buckets of one container (received, reserved, used, wasted)."""

    __tablename__ = "stock_movements"

    id: int | None = Field(default=None, primary_key=True)
    lot_id: int = Field(index=True)
    container: int = Field(ge=1)
    kind: str = Field(max_length=16)
    volume_ml: Decimal = Field(sa_type=DecimalText)
    preparation_id: int | None = Field(default=None, index=True)
    at: datetime
    by: str = Field(max_length=128)
    reason: str | None = Field(default=None, max_length=500)


class LotStatusChange(SQLModel, table=True):
    """A lot quarantined, released or retired; the latest row is the lot's status."""

    __tablename__ = "lot_status_changes"

    id: int | None = Field(default=None, primary_key=True)
    lot_id: int = Field(index=True)
    status: str = Field(max_length=16)
    reason: str = Field(max_length=500)
    at: datetime
    by: str = Field(max_length=128)


class ContainerThaw(SQLModel, table=True):
    """A container thawed (once), and the end of its beyond-use time."""

    __tablename__ = "container_thaws"
    __table_args__ = (UniqueConstraint("lot_id", "container", name="uq_container_thaws_container"),)

    id: int | None = Field(default=None, primary_key=True)
    lot_id: int = Field(index=True)
    container: int = Field(ge=1)
    thawed_at: datetime
    use_by: datetime
    by: str = Field(max_length=128)


class ContainerStock(BaseModel):
    model_config = ConfigDict(frozen=True)

    container: int
    tally: StockTally
    thawed_at: datetime | None = None
    use_by: datetime | None = None


def lot_status(session: Session, lot_id: int) -> LotStatus:
    latest = session.exec(
        select(LotStatusChange.status)
        .where(LotStatusChange.lot_id == lot_id)
        .order_by(col(LotStatusChange.id).desc())
    ).first()
    return LotStatus(latest) if latest is not None else LotStatus.AVAILABLE


def containers_of(session: Session, lot_id: int, registered_volume: Decimal) -> list[ContainerStock]:
    """Every container of a lot with its tally and thaw, container 1 first."""
    moved: dict[int, list[tuple[Movement, Decimal]]] = {}
    for movement in session.exec(
        select(StockMovement).where(StockMovement.lot_id == lot_id).order_by(col(StockMovement.id))
    ).all():
        moved.setdefault(movement.container, []).append((Movement(movement.kind), movement.volume_ml))
    if not any(kind is Movement.RECEIVED for items in moved.values() for kind, _ in items):
        moved.setdefault(1, []).insert(0, (Movement.RECEIVED, registered_volume))
    thaws = {
        thaw.container: thaw
        for thaw in session.exec(select(ContainerThaw).where(ContainerThaw.lot_id == lot_id)).all()
    }
    return [
        ContainerStock(
            container=number,
            tally=StockTally.of(items),
            thawed_at=thaws[number].thawed_at if number in thaws else None,
            use_by=thaws[number].use_by if number in thaws else None,
        )
        for number, items in sorted(moved.items())
    ]


def lot_tally(containers: list[ContainerStock]) -> StockTally:
    total = EMPTY
    for item in containers:
        total = total.plus(item.tally)
    return total


def add_movement(
    session: Session,
    *,
    lot_id: int,
    container: int,
    kind: Movement,
    volume_ml: Decimal,
    at: datetime,
    by: str,
    preparation_id: int | None = None,
    reason: str | None = None,
) -> StockMovement:
    row = StockMovement(
        lot_id=lot_id,
        container=container,
        kind=kind.value,
        volume_ml=volume_ml,
        at=at,
        by=by,
        preparation_id=preparation_id,
        reason=reason,
    )
    session.add(row)
    session.flush()
    return row
