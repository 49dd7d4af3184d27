"""Stock arithmetic per lot container: what was received, reserved, used and wasted, and what remains.

Pure: the store feeds it the movements of a container and gets back a tally, or the refusal that
stops a preparation from reserving more than is left::

    >>> from decimal import Decimal
    >>> tally = StockTally.of([(Movement.RECEIVED, Decimal("50")), (Movement.RESERVED, Decimal("25.3"))])
    >>> str(tally.remaining)
    '24.7 mL'
    >>> check_draw(tally, Volume(value=Decimal("27.4")), "lot L1 container 1")
    Traceback (most recent call last):
    ...
    dosing.errors.HardStop: volume to draw: 27.4 mL is more than the 24.7 mL left in lot L1 container 1 ...

A movement moves volume between the buckets of one container; ``remaining`` is what is neither
reserved, used nor wasted. Voiding a preparation before anything is drawn returns its reservation;
a bag that is administered, wasted or returned after it was filled never returns volume to stock.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict

from dosing.errors import HardStop
from dosing.units import Volume


class Movement(StrEnum):
    #: A container received into the pharmacy (its full volume).
    RECEIVED = "received"
    #: A preparation draws this volume: set aside, no longer offered to another dose.
    RESERVED = "reserved"
    #: A preparation voided before anything was drawn: its reservation is returned.
    UNRESERVED = "unreserved"
    #: The bag was administered: its reservation becomes used.
    USED = "used"
    #: The bag was wasted or returned: its reservation becomes waste (nothing returns to stock).
    WASTED = "wasted"


class LotStatus(StrEnum):
    #: Registered and not held: usable while not expired.
    AVAILABLE = "available"
    QUARANTINED = "quarantined"
    #: Released against the product's release criteria.
    RELEASED = "released"
    #: Taken out of use for good.
    RETIRED = "retired"


#: Statuses a lot may move to from each status (retired is final).
LOT_STATUS_NEXT: dict[LotStatus, frozenset[LotStatus]] = {
    LotStatus.AVAILABLE: frozenset({LotStatus.QUARANTINED, LotStatus.RELEASED, LotStatus.RETIRED}),
    LotStatus.QUARANTINED: frozenset({LotStatus.RELEASED, LotStatus.RETIRED}),
    LotStatus.RELEASED: frozenset({LotStatus.QUARANTINED, LotStatus.RETIRED}),
    LotStatus.RETIRED: frozenset(),
}

#: Statuses whose lots are offered for a dose.
USABLE = frozenset({LotStatus.AVAILABLE, LotStatus.RELEASED})


def check_lot_status_change(identifier: str, current: LotStatus, wanted: LotStatus) -> None:
    if wanted not in LOT_STATUS_NEXT[current]:
        allowed = ", ".join(sorted(LOT_STATUS_NEXT[current])) or "nothing (retired is final)"
        raise HardStop(
            "status",
            f"a {current} lot may become {allowed}",
            f"lot {identifier} is {current}; it cannot become {wanted}",
        )


class StockTally(BaseModel):
    """One container's (or a whole lot's) volumes, in mL."""

    model_config = ConfigDict(frozen=True)

    received: Volume
    reserved: Volume
    used: Volume
    wasted: Volume

    @property
    def remaining(self) -> Volume:
        left = self.received.value - self.reserved.value - self.used.value - self.wasted.value
        return Volume(value=left)

    @classmethod
    def of(cls, movements: Iterable[tuple[Movement, Decimal]]) -> StockTally:
        received = reserved = used = wasted = Decimal(0)
        for kind, volume in movements:
            if kind is Movement.RECEIVED:
                received += volume
            elif kind is Movement.RESERVED:
                reserved += volume
            elif kind is Movement.UNRESERVED:
                reserved -= volume
            elif kind is Movement.USED:
                reserved -= volume
                used += volume
            elif kind is Movement.WASTED:
                reserved -= volume
                wasted += volume
        return cls(
            received=Volume(value=received),
            reserved=Volume(value=reserved),
            used=Volume(value=used),
            wasted=Volume(value=wasted),
        )

    def plus(self, other: StockTally) -> StockTally:
        return StockTally(
            received=Volume(value=self.received.value + other.received.value),
            reserved=Volume(value=self.reserved.value + other.reserved.value),
            used=Volume(value=self.used.value + other.used.value),
            wasted=Volume(value=self.wasted.value + other.wasted.value),
        )


EMPTY = StockTally.of([])


def check_draw(tally: StockTally, draw: Volume, where: str) -> None:
    """Refuse a reservation larger than what is left (the refusal says how much is left)."""
    if draw.value > tally.remaining.value:
        raise HardStop(
            "volume to draw",
            "a preparation reserves no more than its container has left",
            f"{draw} is more than the {tally.remaining} left in {where}",
        )


def elapsed_hours(start: datetime, hours: Decimal) -> datetime:
    """``start`` plus ``hours`` of elapsed time (a DST change in between counts), in UTC."""
    return start.astimezone(UTC) + timedelta(seconds=int(hours * 3600))


def end_of_expiry(expiry: date, timezone: str) -> datetime:
    """A lot is usable through its expiry date: the end of that local day, in UTC."""
    following = date.fromordinal(expiry.toordinal() + 1)
    return datetime.combine(following, time(0), tzinfo=ZoneInfo(timezone)).astimezone(UTC)


def bag_use_by(
    *,
    thawed_at: datetime | None,
    beyond_use_hours: Decimal | None,
    prepared_at: datetime,
    bag_hours: Decimal,
    lot_expiry: date | None,
    timezone: str,
) -> datetime:
    """The bag's own use-by, in UTC: thaw + the product's beyond-use time for a frozen product; for a
    product that is not thawed (or a placebo), preparation + the site's bag hours. Never later than
    the end of the lot's expiry day."""
    if beyond_use_hours is not None:
        if thawed_at is None:
            raise HardStop(
                "thaw", "a frozen product's bag is made from a thawed container", "no thaw recorded"
            )
        use_by = elapsed_hours(thawed_at, beyond_use_hours)
    else:
        use_by = elapsed_hours(prepared_at, bag_hours)
    if lot_expiry is not None:
        use_by = min(use_by, end_of_expiry(lot_expiry, timezone))
    return use_by


def check_thaw_window(
    where: str, thawed_at: datetime, use_by: datetime, planned_start: datetime, now: datetime
) -> None:
    """A thawed container serves only a dose that starts within its beyond-use time, prepared before it
    runs out."""
    if now > use_by:
        raise HardStop(
            "thaw",
            "a thawed container is used within its beyond-use time",
            f"{where} was thawed at {_utc_text(thawed_at)} and was usable until {_utc_text(use_by)}",
        )
    if planned_start > use_by:
        raise HardStop(
            "thaw",
            "a thawed container serves only doses that start within its beyond-use time",
            f"{where} is usable until {_utc_text(use_by)}; the dose starts at {_utc_text(planned_start)}",
        )


def _utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
