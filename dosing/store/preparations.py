"""Preparations (bags) and their custody events in the store.

A ``preparations`` row is the bag as prepared: its figures frozen, its identifier issued. Each later
hand-over (verified, released, administered, returned, wasted, voided) is a new ``preparation_events``
row; the latest is the bag's state. Both tables are insert-only and audited.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import JSON, Column
from sqlmodel import Field, Session, SQLModel, col, func, select

from dosing.errors import DosingError
from dosing.pharmacy.custody import LIVE, BagFacts, BagState
from dosing.store.tables import DecimalText


class Preparation(SQLModel, table=True):
    __tablename__ = "preparations"

    id: int | None = Field(default=None, primary_key=True)
    #: What the bag label's barcode carries and the bedside scan reads.
    bag_id: str = Field(max_length=32, unique=True, index=True)
    protocol_id: str = Field(max_length=64)
    subject_code: str = Field(max_length=64, index=True)
    sequence: int
    #: None for a placebo bag (no lot is drawn).
    lot_id: int | None = Field(default=None)
    container: int | None = Field(default=None)
    placebo: bool = False
    volume_to_draw_ml: Decimal = Field(sa_type=DecimalText)
    final_volume_ml: Decimal = Field(sa_type=DecimalText)
    use_by: datetime
    #: The worksheet as prepared (every figure and warning), so labels and worksheets re-render alike.
    worksheet: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    prepared_at: datetime
    prepared_by: str = Field(max_length=128)
    prepared_by_name: str = Field(max_length=200)


class PreparationEvent(SQLModel, table=True):
    __tablename__ = "preparation_events"

    id: int | None = Field(default=None, primary_key=True)
    preparation_id: int = Field(index=True)
    state: str = Field(max_length=16)
    at: datetime
    by: str = Field(max_length=128)
    by_name: str = Field(max_length=200)
    reason: str | None = Field(default=None, max_length=500)
    drawn_volume_ml: Decimal | None = Field(default=None, sa_type=DecimalText)
    scanned_lot: str | None = Field(default=None, max_length=64)
    administration_event_id: int | None = None


class Bag(BaseModel):
    """A preparation with its custody history, as read from the store."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    preparation: Preparation
    events: list[PreparationEvent]

    @property
    def state(self) -> BagState:
        return BagState(self.events[-1].state) if self.events else BagState.PREPARED

    @property
    def bag_id(self) -> str:
        return self.preparation.bag_id

    def by_state(self, state: BagState) -> PreparationEvent | None:
        return next((event for event in self.events if event.state == state.value), None)

    def facts(self) -> BagFacts:
        p = self.preparation
        return BagFacts(
            bag_id=p.bag_id,
            state=self.state,
            subject_code=p.subject_code,
            sequence=p.sequence,
            use_by=p.use_by,
        )

    def summary(self) -> dict[str, Any]:
        p = self.preparation
        return {
            "bag": p.bag_id,
            "state": self.state.value,
            "protocol_id": p.protocol_id,
            "subject_code": p.subject_code,
            "dose": p.sequence,
            "placebo": p.placebo,
            "lot": p.worksheet.get("lot_identifier"),
            "container": p.container,
            "volume_to_draw": {"value": str(p.volume_to_draw_ml), "unit": "mL"},
            "final_volume": {"value": str(p.final_volume_ml), "unit": "mL"},
            "use_by": p.use_by.isoformat(),
            "prepared_by": p.prepared_by,
            "history": [
                {"state": e.state, "at": e.at.isoformat(), "by": e.by, "reason": e.reason}
                for e in self.events
            ],
        }


def bag_of(session: Session, preparation: Preparation) -> Bag:
    events = session.exec(
        select(PreparationEvent)
        .where(PreparationEvent.preparation_id == preparation.id)
        .order_by(col(PreparationEvent.id))
    ).all()
    return Bag(preparation=preparation, events=list(events))


def find_bag(session: Session, bag_id: str) -> Bag:
    wanted = bag_id.strip().upper()
    row = session.exec(select(Preparation).where(Preparation.bag_id == wanted)).first()
    if row is None:
        raise DosingError("bag", "a bag prepared by the pharmacy ('dosing bag prepare')", f"no bag {wanted}")
    return bag_of(session, row)


def is_bag(session: Session, scanned: str) -> bool:
    """Whether ``scanned`` is the identifier of a bag the pharmacy prepared (else a DIN or a lot)."""
    wanted = scanned.strip().upper()
    return session.exec(select(Preparation.id).where(Preparation.bag_id == wanted)).first() is not None


def bags_of_dose(session: Session, subject_code: str, sequence: int) -> list[Bag]:
    rows = session.exec(
        select(Preparation)
        .where(
            func.lower(Preparation.subject_code) == subject_code.casefold(), Preparation.sequence == sequence
        )
        .order_by(col(Preparation.id))
    ).all()
    return [bag_of(session, row) for row in rows]


def live_bag(session: Session, subject_code: str, sequence: int) -> Bag | None:
    return next((bag for bag in bags_of_dose(session, subject_code, sequence) if bag.state in LIVE), None)


def next_bag_id(session: Session) -> str:
    """``B0000001``, ``B0000002``...: issued in the writers' serialised transaction, unique in the table."""
    last = session.exec(select(func.max(Preparation.id))).one()
    return f"B{(int(last or 0) + 1):07d}"


def add_event(
    session: Session,
    bag: Bag,
    state: BagState,
    *,
    at: datetime,
    by: str,
    by_name: str,
    reason: str | None = None,
    drawn_volume_ml: Decimal | None = None,
    scanned_lot: str | None = None,
    administration_event_id: int | None = None,
) -> PreparationEvent:
    assert bag.preparation.id is not None
    row = PreparationEvent(
        preparation_id=bag.preparation.id,
        state=state.value,
        at=at,
        by=by,
        by_name=by_name,
        reason=reason,
        drawn_volume_ml=drawn_volume_ml,
        scanned_lot=scanned_lot,
        administration_event_id=administration_event_id,
    )
    session.add(row)
    session.flush()
    return row
