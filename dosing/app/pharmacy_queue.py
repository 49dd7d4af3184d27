"""The pharmacy's queue: product doses planned to start in a range, each with its worksheet (the lot
that expires first, checked) or the rule that stops it; and one dose's worksheet and label as PDF.

The same rules as ``dosing prep`` (dosing.pharmacy.worksheet): nothing here decides a volume or a lot.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from dosing.app import clock
from dosing.app.authority import require
from dosing.app.context import Context
from dosing.errors import HardStop
from dosing.pharmacy.lots import Lot
from dosing.pharmacy.worksheet import DoseToPrepare, Worksheet


class QueueItem(BaseModel):
    dose: DoseToPrepare
    worksheet: Worksheet | None = None
    refused: dict[str, str] | None = None


def _worksheet(dose: DoseToPrepare, lots: list[Lot], do_not_dispense_days: int) -> Worksheet:
    from dosing.catalog import get_protocol
    from dosing.pharmacy.worksheet import worksheet_with_first_expiring_lot

    return worksheet_with_first_expiring_lot(
        get_protocol(dose.protocol_id), dose, lots, do_not_dispense_days=do_not_dispense_days
    )


def queue(ctx: Context, start: datetime, end: datetime, as_of: datetime | None = None) -> list[QueueItem]:
    require(ctx, "read_ledger")
    from dosing.store.lots import doses_due, get_pharmacy_settings, list_lots

    lots = [item.lot for item in list_lots(ctx.store)]
    days = get_pharmacy_settings().do_not_dispense_days
    items: list[QueueItem] = []
    for dose in doses_due(ctx.store, start, end, as_of=as_of or clock.now()):
        try:
            items.append(QueueItem(dose=dose, worksheet=_worksheet(dose, lots, days)))
        except HardStop as refusal:
            items.append(QueueItem(dose=dose, refused=refusal.as_dict()))
    return items


def worksheet(ctx: Context, subject_code: str, sequence: int) -> Worksheet:
    """One dose's worksheet with the first-expiring suitable lot (a HardStop says why there is none)."""
    require(ctx, "read_ledger")
    from dosing.store.lots import dose_of_subject, get_pharmacy_settings, list_lots

    dose = dose_of_subject(ctx.store, subject_code, sequence, as_of=clock.now())
    lots = [item.lot for item in list_lots(ctx.store)]
    return _worksheet(dose, lots, get_pharmacy_settings().do_not_dispense_days)
