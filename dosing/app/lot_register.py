"""The pharmacy registers a lot: attributed to the pharmacist, stamped by the server clock."""

from __future__ import annotations

from dosing.app import clock
from dosing.app.authority import require
from dosing.app.context import Context
from dosing.pharmacy.lots import Lot
from dosing.store.lots import RegisteredLot, add_lot


def register_lot(ctx: Context, lot: Lot, containers: int = 1) -> RegisteredLot:
    require(ctx, "register_lot")
    return add_lot(ctx.store, lot, actor=ctx.actor.username, as_of=clock.now(), containers=containers)
