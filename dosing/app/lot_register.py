"""The pharmacy registers a lot: attributed to the pharmacist, stamped by the server clock."""

from __future__ import annotations

from datetime import UTC

from dosing.app import clock
from dosing.app.authority import require
from dosing.app.context import Context
from dosing.pharmacy.lots import Lot
from dosing.plausibility import check_lot_receipt
from dosing.store.lots import RegisteredLot, add_lot, get_pharmacy_settings
from dosing.units import Volume


def register_lot(ctx: Context, lot: Lot, containers: int = 1) -> RegisteredLot:
    """Receive ``containers`` containers of a lot into stock, after the receipt's plausibility checks
    (container volume, how far ahead the expiry lies)."""
    require(ctx, "register_lot")
    now = clock.now()
    settings = get_pharmacy_settings()
    check_lot_receipt(
        lot.volume,
        lot.expiry,
        now.astimezone(UTC).date(),
        container_max=Volume(value=settings.lot_container_max_ml),
        shelf_life_years=settings.lot_shelf_life_max_years,
    )
    return add_lot(ctx.store, lot, actor=ctx.actor.username, as_of=now, containers=containers)
