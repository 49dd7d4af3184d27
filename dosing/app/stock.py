"""The pharmacy's stock: thaw a container, quarantine, release or retire a lot; read what is left.

A thaw is recorded at the server clock's time (contemporaneous, never typed) with the end of its
beyond-use time. A lot's status change is signed ("lot quarantined by" ...) and audited; release checks
the product's release criterion (post-thaw viability at or above ``DOSING_RELEASE_MIN_VIABILITY``).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from sqlmodel import Session, col, select

from dosing.app import clock
from dosing.app.accounts import sign
from dosing.app.authority import require
from dosing.app.context import Context
from dosing.catalog import library
from dosing.errors import DosingError, HardStop
from dosing.free_text import checked_reason
from dosing.pharmacy.stock import LotStatus, StockTally, check_lot_status_change, elapsed_hours
from dosing.store.ledger.audit_entry import _audit
from dosing.store.lots import (
    LotRecord,
    RegisteredLot,
    _registered,
    get_pharmacy_settings,
    reference_identifier,
)
from dosing.store.stock import (
    ContainerStock,
    ContainerThaw,
    LotStatusChange,
    containers_of,
    lot_status,
    lot_tally,
)


class LotStock(BaseModel):
    """A lot with its status and what each container received, has reserved, used, wasted and left."""

    model_config = ConfigDict(frozen=True)

    registered: RegisteredLot
    status: LotStatus
    containers: list[ContainerStock]

    @property
    def tally(self) -> StockTally:
        return lot_tally(self.containers)

    def summary(self) -> dict[str, object]:
        def volumes(tally: StockTally) -> dict[str, str]:
            return {
                "received_ml": str(tally.received.value),
                "reserved_ml": str(tally.reserved.value),
                "used_ml": str(tally.used.value),
                "wasted_ml": str(tally.wasted.value),
                "remaining_ml": str(tally.remaining.value),
            }

        return {
            **self.registered.summary(),
            "status": self.status.value,
            **volumes(self.tally),
            "containers": [
                {
                    "container": c.container,
                    **volumes(c.tally),
                    "thawed_at": c.thawed_at.isoformat() if c.thawed_at else None,
                    "use_by": c.use_by.isoformat() if c.use_by else None,
                }
                for c in self.containers
            ],
        }


def _row(session: Session, reference: str) -> LotRecord:
    identifier = reference_identifier(reference)
    row = session.exec(select(LotRecord).where(LotRecord.identifier == identifier)).first()
    if row is None:
        raise DosingError(
            "lot", "a lot registered in the pharmacy ('dosing lots add')", f"{identifier!r} is not registered"
        )
    return row


def _stock(session: Session, row: LotRecord) -> LotStock:
    assert row.id is not None
    return LotStock(
        registered=_registered(row),
        status=lot_status(session, row.id),
        containers=containers_of(session, row.id, row.volume_ml),
    )


def lot_stock(ctx: Context, reference: str) -> LotStock:
    require(ctx, "read_ledger")
    with ctx.store.session() as session:
        return _stock(session, _row(session, reference))


def stock_list(ctx: Context, product: str | None = None) -> list[LotStock]:
    """Every lot with its stock, soonest expiry first."""
    require(ctx, "read_ledger")
    with ctx.store.session() as session:
        rows = session.exec(
            select(LotRecord).order_by(col(LotRecord.expiry), col(LotRecord.identifier))
        ).all()
        return [
            _stock(session, row)
            for row in rows
            if product is None or row.product.casefold() == product.casefold()
        ]


def thaw(ctx: Context, reference: str, container: int) -> ContainerThaw:
    """Record that a container of a frozen product was thawed now; it serves doses for its beyond-use time."""
    require(ctx, "prepare")
    now = clock.now()
    with ctx.store.transaction() as session:
        row = _row(session, reference)
        stock = _stock(session, row)
        hours = next(
            (
                p.product.beyond_use_hours
                for p in library().values()
                if p.product.name.casefold() == row.product.casefold() and p.product.beyond_use_hours
            ),
            None,
        )
        if hours is None:
            raise HardStop(
                "thaw", "only a frozen product with a beyond-use time is thawed", f"{row.product} is not"
            )
        if stock.status not in (LotStatus.AVAILABLE, LotStatus.RELEASED):
            raise HardStop(
                "lot", "a quarantined or retired lot is not thawed", f"lot {row.identifier} is {stock.status}"
            )
        if now.date() > row.expiry:
            raise HardStop(
                "expiry", "an expired lot is not thawed", f"lot {row.identifier} expired on {row.expiry}"
            )
        found = next((c for c in stock.containers if c.container == container), None)
        if found is None:
            raise DosingError(
                "container",
                f"a container of lot {row.identifier} (1-{len(stock.containers)})",
                f"no container {container}",
            )
        if found.thawed_at is not None:
            raise HardStop(
                "thaw", "a container is thawed once", f"container {container} was thawed at {found.thawed_at}"
            )
        assert row.id is not None
        thawed = ContainerThaw(
            lot_id=row.id,
            container=container,
            thawed_at=now,
            use_by=elapsed_hours(now, hours),
            by=ctx.actor.username,
        )
        session.add(thawed)
        session.flush()
        _audit(
            session,
            actor=ctx.actor.username,
            at=now,
            action="lot.container_thawed",
            entity="lot",
            entity_id=row.id,
            after={"lot": row.identifier, "container": container, "use_by": thawed.use_by},
            rows=[thawed],
        )
        return thawed


#: The status a command asks for, and the meaning of its signature.
MEANINGS = {
    LotStatus.QUARANTINED: "lot quarantined by",
    LotStatus.RELEASED: "lot released by",
    LotStatus.RETIRED: "lot retired by",
}


def change_lot_status(
    ctx: Context, reference: str, status: LotStatus, reason: str, password: str
) -> LotStock:
    """Quarantine, release (against the release criterion) or retire a lot, signed and audited."""
    require(ctx, "change_lot_status")
    if status not in MEANINGS:
        raise DosingError("status", "quarantined, released or retired", f"{status}")
    why = checked_reason(reason.strip())
    if not why:
        raise HardStop("reason", "a lot's status changes with a reason", "give the reason")
    signature = sign(ctx, password, MEANINGS[status])
    now = clock.now()
    with ctx.store.transaction() as session:
        row = _row(session, reference)
        assert row.id is not None
        current = lot_status(session, row.id)
        check_lot_status_change(row.identifier, current, status)
        minimum = get_pharmacy_settings().release_min_viability
        if (
            status is LotStatus.RELEASED
            and row.viability_percent is not None
            and row.viability_percent < minimum
        ):
            raise HardStop(
                "viability",
                f"a lot is released at post-thaw viability >= {minimum}% (DOSING_RELEASE_MIN_VIABILITY)",
                f"lot {row.identifier} has {row.viability_percent}%",
            )
        change = LotStatusChange(
            lot_id=row.id, status=status.value, reason=why[:500], at=now, by=ctx.actor.username
        )
        session.add(change)
        session.flush()
        _audit(
            session,
            actor=ctx.actor.username,
            at=now,
            action=f"lot.{status.value}",
            entity="lot",
            entity_id=row.id,
            reason=why[:500],
            before={"status": current.value},
            after={"lot": row.identifier, "status": status.value},
            rows=[change],
            signature=signature,
        )
        return _stock(session, row)
