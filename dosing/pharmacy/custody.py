"""Chain of custody of one bag: the states it moves through and the checks at each hand-over.

Pure. A bag is *prepared* (figures frozen, bag identifier issued, its draw reserved), *verified* by a
different pharmacist who re-enters what was drawn and scans the lot (ISMP independent double check),
*released* to the ward, and then *administered* (scanned at the bedside), *returned* or *wasted*.
Before anything is drawn a preparation can be *voided*. A bag in prepared, verified or released is
*live*: its dose is not prepared again until it leaves those states.

    >>> check_transition("B0000001", BagState.PREPARED, BagState.RELEASED)
    Traceback (most recent call last):
    ...
    dosing.errors.HardStop: bag: B0000001 is prepared; it cannot be released (rule: prepared -> ...)
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from dosing.errors import HardStop
from dosing.units import Volume


class BagState(StrEnum):
    PREPARED = "prepared"
    VERIFIED = "verified"
    RELEASED = "released"
    ADMINISTERED = "administered"
    RETURNED = "returned"
    WASTED = "wasted"
    VOIDED = "voided"


#: What each state may become; the states without a successor are final.
NEXT: dict[BagState, frozenset[BagState]] = {
    BagState.PREPARED: frozenset({BagState.VERIFIED, BagState.WASTED, BagState.VOIDED}),
    BagState.VERIFIED: frozenset({BagState.RELEASED, BagState.WASTED}),
    BagState.RELEASED: frozenset({BagState.ADMINISTERED, BagState.RETURNED, BagState.WASTED}),
    BagState.ADMINISTERED: frozenset(),
    BagState.RETURNED: frozenset(),
    BagState.WASTED: frozenset(),
    BagState.VOIDED: frozenset(),
}

LIVE = frozenset({BagState.PREPARED, BagState.VERIFIED, BagState.RELEASED})

_PATH = (
    "prepared -> verified -> released -> administered | returned | wasted; voided only before verification"
)


def check_transition(bag_id: str, current: BagState, wanted: BagState) -> None:
    if wanted not in NEXT[current]:
        raise HardStop("bag", _PATH, f"{bag_id} is {current}; it cannot be {wanted}")


def check_verifier(bag_id: str, prepared_by: str, verifier: str) -> None:
    """The independent double check is done by someone other than the preparer (ISMP)."""
    if prepared_by == verifier:
        raise HardStop(
            "verified by",
            "the person who prepared a bag cannot verify it (independent double check)",
            f"{verifier} prepared {bag_id}; another pharmacist verifies it",
        )


def check_drawn_volume(bag_id: str, frozen: Volume, entered: Volume, increment: Volume) -> None:
    """The verifier's re-entered volume matches the frozen draw within one rounding increment."""
    if abs(entered.value - frozen.value) > increment.value:
        raise HardStop(
            "drawn volume",
            f"the volume drawn matches the worksheet within the rounding increment ({increment})",
            f"{entered} entered for {bag_id} does not match the prepared draw; re-measure (the bag is not "
            "verified)",
        )


def check_scanned_lot(bag_id: str, lot_identifier: str | None, scanned: str | None) -> None:
    if lot_identifier is None:
        return
    if scanned != lot_identifier:
        raise HardStop(
            "lot",
            "the verifier scans the lot the bag was prepared from",
            f"{scanned or 'nothing'} scanned; {bag_id} was prepared from {lot_identifier}",
        )


class BagFacts(BaseModel):
    """What the bedside check needs to know about a scanned bag."""

    model_config = ConfigDict(frozen=True)

    bag_id: str
    state: BagState
    subject_code: str
    sequence: int
    use_by: datetime


def check_at_bedside(bag: BagFacts, subject_code: str, sequence: int, now: datetime) -> None:
    """The bag scanned at the bedside is this subject's, for this dose, released and within its use-by."""
    if bag.subject_code.casefold() != subject_code.casefold() or bag.sequence != sequence:
        raise HardStop(
            "bag",
            "the bag scanned at the bedside is the one prepared for this subject and dose",
            f"{bag.bag_id} is for {bag.subject_code} dose {bag.sequence}, "
            f"not {subject_code} dose {sequence}; do not give it",
        )
    if bag.state is BagState.PREPARED:
        raise HardStop(
            "bag",
            "a bag is given only after an independent verification and release",
            f"{bag.bag_id} has not been verified; do not give it",
        )
    if bag.state is BagState.VERIFIED:
        raise HardStop(
            "bag", "a bag is given only after the pharmacy released it", f"{bag.bag_id} is not released"
        )
    if bag.state is not BagState.RELEASED:
        raise HardStop("bag", "a bag is given once, while released", f"{bag.bag_id} is {bag.state}")
    if now > bag.use_by:
        raise HardStop(
            "bag",
            "a bag is given before its use-by time",
            f"{bag.bag_id} expired at {bag.use_by.astimezone(UTC):%Y-%m-%d %H:%M} UTC; do not give it",
        )
