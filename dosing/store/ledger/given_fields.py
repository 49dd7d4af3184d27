"""The fields of a given-dose record, checked against the order and the pharmacy's lot register."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlmodel import Session

from dosing.catalog import get_protocol
from dosing.errors import DosingError
from dosing.plausibility import check_given_amount, check_given_day, check_given_volume, delivered_from_volume
from dosing.store import tables as t
from dosing.store.ledger._common import _first_dosing_day, _local_date, _utc
from dosing.store.ledger.dose_view import _ordered
from dosing.store.models import CorrectionRequest, GivenRequest
from dosing.units import Amount, AmountUnit, Volume


def _given_fields(
    planned: t.PlannedAdministration,
    enrollment: t.Enrollment,
    request: GivenRequest | CorrectionRequest,
    base: t.AdministrationEvent | None,
    window_earliest: date,
) -> dict[str, Any]:
    """The record's fields, refused when they cannot be true: before enrollment or long before the
    window, an overdose, more volume than the bag, a unit other than the order's."""

    def pick(name: str) -> Any:
        value = getattr(request, name)
        if value is None and base is not None:
            return getattr(base, name)
        return value

    started_at = request.started_at or (base.started_at if base is not None else None)
    if started_at is None:
        raise DosingError("at", "a given dose has its start time", "give the time the administration started")
    started_at = _utc(started_at)
    if started_at > _utc(request.as_of):
        raise DosingError(
            "at",
            "a dose is recorded after it started",
            f"{started_at.isoformat()} is after now ({request.as_of.isoformat()})",
        )
    protocol = get_protocol(enrollment.protocol_id)
    given_on = _local_date(started_at, enrollment.timezone)
    check_given_day(
        given_on,
        enrolled_on=_first_dosing_day(enrollment, protocol),
        window_earliest=window_earliest,
        days_early_allowed=protocol.recording.days_early_allowed,
    )
    ended_at = request.ended_at or (base.ended_at if base is not None else None)
    if ended_at is not None:
        ended_at = _utc(ended_at)
        if ended_at < started_at:
            raise DosingError("end", "the end follows the start", "the administration ends before it started")
    ordered = _ordered(planned)
    final_volume = Volume(value=planned.final_volume_ml) if planned.final_volume_ml is not None else None
    if request.volume is not None and final_volume is not None:
        check_given_volume(request.volume, final_volume, protocol.preparation.volume_increment)
    amount = request.amount
    from_volume: Volume | None = None
    if amount is None and request.volume is not None and ordered is not None and final_volume is not None:
        # A smaller volume without an amount: the part of the mixed bag given, delivered pro rata.
        amount = delivered_from_volume(ordered, request.volume, final_volume)
        from_volume = request.volume
    if amount is None and base is not None and base.amount_value is not None and base.amount_unit:
        amount = Amount(value=base.amount_value, unit=AmountUnit(base.amount_unit))
    if amount is None:
        if request.partial:
            raise DosingError(
                "amount",
                "a partial dose states what was given (--amount or --volume)",
                "give the amount or the volume given",
            )
        amount = ordered
    if amount is not None and ordered is not None and amount.unit is not ordered.unit:
        raise DosingError(
            "amount",
            f"amount in {ordered.unit.noun}, as ordered",
            f"{amount} is not counted in {ordered.unit.noun}",
        )
    if amount is not None and ordered is None:
        raise DosingError("amount", "a placebo dose has no product amount", f"{amount} cannot apply")
    # Said now (--partial / --full), or carried over from the record a correction replaces.
    partial = (
        request.partial if request.partial is not None else (base.partial if base is not None else False)
    )
    # A new amount or volume is confirmed partial by what is said with it, never by the flag of the
    # record it replaces (that flag may have come from an amount just under the order).
    said_partial = request.partial if request.amount is not None or request.volume is not None else partial
    if amount is not None and ordered is not None:
        check_given_amount(
            amount,
            ordered,
            protocol.preparation.dose_tolerance,
            partial=bool(said_partial),
            final_volume=final_volume,
            volume=from_volume,
            increment=protocol.preparation.volume_increment,
        )
    volume = request.volume
    if volume is None and base is not None and base.volume_ml is not None:
        volume = Volume(value=base.volume_ml)
    if volume is None and planned.final_volume_ml is not None:
        volume = Volume(value=planned.final_volume_ml)
    if amount is not None and ordered is not None and amount.value < ordered.value:
        partial = True
    return {
        "started_at": started_at,
        "ended_at": ended_at,
        "local_date": _local_date(started_at, enrollment.timezone),
        "amount_value": amount.value if amount is not None else None,
        "amount_unit": amount.unit.value if amount is not None else None,
        "volume_ml": volume.value if volume is not None else None,
        "partial": bool(partial),
        "lot": pick("lot"),
        "din": pick("din"),
        "route": pick("route"),
        "given_by": pick("given_by") or request.actor,
        "infusion_reaction": pick("infusion_reaction"),
        "notes": pick("notes"),
    }


def _with_registered_lot(
    session: Session, enrollment: t.Enrollment, fields: dict[str, Any]
) -> dict[str, Any]:
    """The record's lot checked against the pharmacy's register, in the same transaction.

    Chain of identity: a cell product given from an unregistered, expired or other product's lot is a
    mix-up to resolve before the record stands, so it is refused with the rule it breaks. The stored
    lot number and DIN are the register's (a scanned ``=G1234...00`` becomes the DIN).
    """
    from dosing.store.lots import check_lot_reference  # lots reads the ledger's views: import late

    found = check_lot_reference(
        session,
        lot=fields["lot"],
        din=fields["din"],
        protocol=enrollment.protocol_id,
        on=fields["local_date"],
    )
    if found is None:
        return fields
    return {**fields, "lot": found.lot_number, "din": found.din}
