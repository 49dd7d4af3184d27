"""Registered product lots in the store, and the pharmacy's reads of the ledger.

Lots are registered once and never rewritten (like the ledger's tables, the ``lots`` table refuses
UPDATE and DELETE); each registration is written to the audit log. The ledger calls
:func:`check_lot_reference` when a dose is recorded with a lot, so the lot number or DIN that reaches
the administration record is one that exists and suits the dose.

Site settings (environment, prefix ``DOSING_``):

- ``DOSING_DO_NOT_DISPENSE_DAYS`` (default 0): a lot with fewer than this many days between the dose
  and its expiry is not dispensed (0: only an expired lot is refused).
- ``DOSING_LABEL_PATIENT_NAME`` (default false): bag labels carry a blank "Patient name" line.
- ``DOSING_BAG_USE_HOURS`` (default 24): use-by of a bag whose product is not thawed, from preparation.
- ``DOSING_RELEASE_MIN_VIABILITY`` (default 70): a cell lot is released only at or above it (%).
- ``DOSING_PRODUCT_CODES`` (JSON, default none): ISBT 128 product codes by product name.
- ``DOSING_FACILITY``: the preparing facility's name, printed on bag labels.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field as SQLField
from sqlmodel import Session, SQLModel, col, select

from dosing.catalog import get_protocol
from dosing.errors import DosingError, HardStop
from dosing.pharmacy.lots import DIN_PATTERN, Lot, check_lot_for_dose, normalize_din
from dosing.pharmacy.stock import Movement
from dosing.pharmacy.worksheet import DoseToPrepare
from dosing.protocol import PerKgFixed, PerKgRange, Protocol
from dosing.settings import EnvironmentSettings
from dosing.store import preparations as _preparations  # noqa: F401  (its tables are covered too)
from dosing.store.db import Store
from dosing.store.stock import add_movement
from dosing.store.tables import DecimalText
from dosing.units import AmountUnit, Concentration, DosePerKg, Percent, Volume

#: More containers than this in one lot is a typing error, not a delivery.
MAX_CONTAINERS = 1000


class PharmacySettings(EnvironmentSettings):
    do_not_dispense_days: int = Field(default=0, ge=0)
    label_patient_name: bool = False
    #: Use-by of a bag whose product is not thawed (EV, exosome) or of a placebo bag, from preparation.
    bag_use_hours: Decimal = Field(default=Decimal(24), gt=0, le=720)
    #: A lot is released only at or above this post-thaw viability (cell products).
    release_min_viability: Decimal = Field(default=Decimal(70), gt=0, le=100)
    #: The largest container a lot comes in (a 1,000 mL bag is the largest cell-therapy bag).
    lot_container_max_ml: Decimal = Field(default=Decimal(1000), gt=0, le=10000)
    #: How far ahead a lot's expiry may lie when it is received.
    lot_shelf_life_max_years: int = Field(default=10, ge=1, le=50)
    #: ISBT 128 product codes by product name (site configuration from the ICCBBA database), JSON:
    #: ``DOSING_PRODUCT_CODES='{"UC-MSC": "S1398V00"}'``.
    product_codes: dict[str, str] = Field(default_factory=dict)
    #: The facility that prepares bags (printed on the label).
    facility: str = "Investigational drug pharmacy"


def get_pharmacy_settings() -> PharmacySettings:
    from dosing.settings import load_settings

    return load_settings(PharmacySettings)


class LotRecord(SQLModel, table=True):
    """One registered lot. Insert-only (database triggers refuse UPDATE and DELETE)."""

    __tablename__ = "lots"

    id: int | None = SQLField(default=None, primary_key=True)
    #: The DIN (13 characters) or the lot number: what is typed, scanned and recorded with a dose.
    identifier: str = SQLField(max_length=64, unique=True, index=True)
    product: str = SQLField(max_length=128, index=True)
    lot_number: str | None = SQLField(default=None, max_length=64)
    din: str | None = SQLField(default=None, max_length=32)
    check_character: str | None = SQLField(default=None, max_length=1)
    concentration_value: Decimal = SQLField(sa_type=DecimalText)
    concentration_unit: str = SQLField(max_length=16)
    viability_percent: Decimal | None = SQLField(default=None, sa_type=DecimalText)
    volume_ml: Decimal = SQLField(sa_type=DecimalText)
    expiry: date
    registered_at: datetime
    registered_by: str = SQLField(max_length=128)


class RegisteredLot(BaseModel):
    """A lot as stored: the validated lot plus who registered it and when."""

    model_config = ConfigDict(frozen=True)

    id: int
    lot: Lot
    registered_at: datetime
    registered_by: str

    def summary(self) -> dict[str, Any]:
        lot = self.lot
        return {
            "id": self.id,
            "identifier": lot.identifier,
            "kind": lot.identifier_kind,
            "check_character": lot.check_character,
            "product": lot.product,
            "concentration": lot.concentration.model_dump(mode="json"),
            "viability": lot.viability.model_dump(mode="json") if lot.viability else None,
            "volume": lot.volume.model_dump(mode="json"),
            "expiry": lot.expiry.isoformat(),
            "registered_at": self.registered_at.isoformat(),
            "registered_by": self.registered_by,
        }


def _lot_from_row(row: LotRecord) -> Lot:
    return Lot(
        product=row.product,
        lot_number=row.lot_number,
        din=row.din,
        check_character=row.check_character,
        concentration=Concentration(
            value=row.concentration_value, amount_unit=AmountUnit(row.concentration_unit)
        ),
        viability=Percent(value=row.viability_percent) if row.viability_percent is not None else None,
        volume=Volume(value=row.volume_ml),
        expiry=row.expiry,
    )


def _registered(row: LotRecord) -> RegisteredLot:
    assert row.id is not None
    return RegisteredLot(
        id=row.id, lot=_lot_from_row(row), registered_at=row.registered_at, registered_by=row.registered_by
    )


def add_lot(store: Store, lot: Lot, *, actor: str, as_of: datetime, containers: int = 1) -> RegisteredLot:
    """Register a validated lot received as ``containers`` containers of ``lot.volume`` each (one
    transaction, audited: the lot and one "received" stock movement per container). A lot is
    registered once."""
    if as_of.tzinfo is None:
        raise DosingError("as of", "date-time with a UTC offset", f"{as_of.isoformat()} has no offset")
    if not 1 <= containers <= MAX_CONTAINERS:
        raise DosingError(
            "containers", f"1 to {MAX_CONTAINERS} containers per lot", f"{containers} containers received"
        )
    row = LotRecord(
        identifier=lot.identifier,
        product=lot.product,
        lot_number=lot.lot_number,
        din=lot.din,
        check_character=lot.check_character,
        concentration_value=lot.concentration.value,
        concentration_unit=lot.concentration.amount_unit.value,
        viability_percent=lot.viability.value if lot.viability is not None else None,
        volume_ml=lot.volume.value,
        expiry=lot.expiry,
        registered_at=as_of,
        registered_by=actor,
    )
    try:
        with store.transaction() as session:
            from dosing.store.ledger.audit_entry import _audit

            _refuse_a_case_variant(session, lot)
            session.add(row)
            session.flush()
            assert row.id is not None
            received = [
                add_movement(
                    session,
                    lot_id=row.id,
                    container=number,
                    kind=Movement.RECEIVED,
                    volume_ml=lot.volume.value,
                    at=as_of,
                    by=actor,
                )
                for number in range(1, containers + 1)
            ]
            _audit(
                session,
                actor=actor,
                at=as_of,
                action="lot.registered",
                entity="lot",
                entity_id=row.id,
                after={**lot.model_dump(mode="json"), "containers": containers},
                rows=[row, *received],
            )
    except IntegrityError as error:
        if _is_duplicate(store, lot.identifier):
            raise DosingError(
                lot.identifier_kind.lower(),
                "each lot is registered once",
                f"{lot.describe()} is already registered",
            ) from error
        raise
    return _registered(row)


def _refuse_a_case_variant(session: Session, lot: Lot) -> None:
    """``l123`` beside ``L123`` is one lot typed twice, not a second lot: two register entries for one
    lot (with two concentrations, two stocks) and a bedside reference that picks one of them by its case.
    Checked inside the registering transaction (writers are serialised, so no twin slips in between)."""
    clash = session.exec(
        select(LotRecord.identifier).where(
            func.lower(LotRecord.identifier) == lot.identifier.lower(), LotRecord.identifier != lot.identifier
        )
    ).first()
    if clash is not None:
        raise DosingError(
            lot.identifier_kind.lower(),
            "each lot is registered once; lot numbers that differ only in upper and lower case are one lot",
            f"{lot.describe()} is the registered {clash} written in another case",
        )


def _is_duplicate(store: Store, identifier: str) -> bool:
    with store.session() as session:
        return (
            session.exec(select(LotRecord.id).where(LotRecord.identifier == identifier)).first() is not None
        )


def list_lots(store: Store, *, product: str | None = None) -> list[RegisteredLot]:
    """Registered lots, soonest expiry first (the order they should be used in)."""
    with store.session() as session:
        query = select(LotRecord).order_by(col(LotRecord.expiry), col(LotRecord.identifier))
        registered = [_registered(row) for row in session.exec(query).all()]
    if product is not None:
        registered = [r for r in registered if r.lot.product.casefold() == product.casefold()]
    return registered


def reference_identifier(text: str) -> str:
    """What was typed or scanned, as the stored identifier.

    A scanned ISBT 128 DIN (``=G12349865432100``: data identifier, DIN, two flag characters) and a DIN
    typed in its eye-readable groups (``G1234 98 654321``) both become ``G123498654321``; anything else
    is a lot number, taken as it is.
    """
    stripped = text.strip()
    scanned = re.fullmatch(r"=([A-Z0-9]{13})[0-9A-Z]{2}", stripped.upper())
    if scanned and DIN_PATTERN.match(scanned.group(1)):
        return scanned.group(1)
    candidate = normalize_din(stripped)
    if DIN_PATTERN.match(candidate):
        return candidate
    return stripped


def find_lot(session: Session, reference: str) -> Lot:
    """The registered lot a reference names, or a HardStop: a dose is never recorded with an unknown lot."""
    identifier = reference_identifier(reference)
    row = session.exec(select(LotRecord).where(LotRecord.identifier == identifier)).first()
    if row is None:
        raise HardStop(
            "lot",
            "a lot registered in the pharmacy ('dosing lots add')",
            f"{identifier!r} is not registered",
        )
    return _lot_from_row(row)


def get_lot(store: Store, reference: str) -> Lot:
    with store.session() as session:
        return find_lot(session, reference)


def check_lot_reference(
    session: Session,
    *,
    lot: str | None,
    din: str | None,
    protocol: Protocol | str,
    on: date,
    do_not_dispense_days: int | None = None,
) -> Lot | None:
    """For the ledger: the lot a dose is recorded with exists and suits the dose, or a HardStop.

    ``lot`` and ``din`` are the record's fields (either may hold the reference; a DIN typed into the lot
    field is recognised). Returns the lot, whose ``lot_number`` and ``din`` are what the record should
    store, or None when the record names no lot. ``on`` is the site-local day of administration.
    Runs inside the caller's session so it belongs to the same transaction.
    """
    references = [ref for ref in (lot, din) if ref is not None and ref.strip()]
    if not references:
        return None
    found = [find_lot(session, reference) for reference in references]
    if len({item.identifier for item in found}) > 1:
        raise HardStop(
            "lot",
            "the lot number and DIN of a record name the same lot",
            f"{found[0].describe()} and {found[1].describe()} are different lots",
        )
    if isinstance(protocol, str):
        protocol = get_protocol(protocol)
    days = (
        get_pharmacy_settings().do_not_dispense_days if do_not_dispense_days is None else do_not_dispense_days
    )
    check_lot_for_dose(found[0], protocol, on, days)
    return found[0]


# --- the ledger as the pharmacy reads it -------------------------------------------------------------


def dose_per_kg_of(
    protocol: Protocol, arm_id: str, ordered_value: Decimal, weight_kg: Decimal
) -> DosePerKg | None:
    """The per-kg level behind a stored ordered dose (fixed: the protocol's; range: ordered / weight)."""
    rule = protocol.arm(arm_id).dose
    if isinstance(rule, PerKgFixed):
        return rule.level
    if isinstance(rule, PerKgRange):
        return DosePerKg(value=ordered_value / weight_kg, amount_unit=rule.minimum.amount_unit)
    return None


def dose_to_prepare(view: Any, dose: Any, protocol: Protocol) -> DoseToPrepare:
    """A stored subject's planned dose (ledger ``SubjectView`` and ``DoseView``) as the worksheet needs it."""
    if dose.ordered_dose is None or dose.intervention != "product":
        raise HardStop(
            "dose",
            "a planned dose of the product (placebo and control doses have no lot)",
            f"{view.subject_code} dose {dose.sequence} is {dose.intervention}",
        )
    return DoseToPrepare(
        protocol_id=view.protocol_id,
        subject_code=view.subject_code,
        arm=view.arm,
        site=view.site,
        timezone=view.timezone,
        weight=view.weight,
        weight_measured_on=view.weight_measured_on,
        sequence=dose.sequence,
        label=dose.label,
        study_day=dose.study_day,
        target_date=dose.target_date,
        planned_start=dose.planned_start,
        ordered_dose=dose.ordered_dose,
        dose_per_kg=dose_per_kg_of(protocol, view.arm, dose.ordered_dose.value, view.weight.value),
        course=view.course.describe() if getattr(view, "course", None) is not None else None,
    )


#: Doses the pharmacy still prepares: nothing recorded and the window not closed.
_PREPARABLE = {"upcoming", "window_open"}


def doses_due(store: Store, start: datetime, end: datetime, *, as_of: datetime) -> list[DoseToPrepare]:
    """The preparation queue: every product dose planned to start in [start, end), not yet recorded,
    in order of planned start."""
    from dosing.store import ledger

    if start.tzinfo is None or end.tzinfo is None:
        raise DosingError("from/to", "date-times with a UTC offset", "give the range's offset")
    if not start < end:
        raise DosingError("to", "the end of the range after its start", f"{end} is not after {start}")
    # A planned start's local day can differ from its UTC day by one: widen the day range, then filter.
    first_day = date.fromordinal(start.date().toordinal() - 1)
    last_day = date.fromordinal(end.date().toordinal() + 1)
    due: list[DoseToPrepare] = []
    for view in ledger.site_views(store, None, first_day, last_day, as_of):
        protocol = get_protocol(view.protocol_id)
        for dose in view.doses:
            if dose.intervention != "product" or dose.ordered_dose is None or dose.given is not None:
                continue
            if dose.status.state.value not in _PREPARABLE:
                continue
            if start <= dose.planned_start < end:
                due.append(dose_to_prepare(view, dose, protocol))
    due.sort(key=lambda item: (item.planned_start, item.subject_code, item.sequence))
    return due


def dose_of_subject(store: Store, subject_code: str, sequence: int, *, as_of: datetime) -> DoseToPrepare:
    """One stored subject's planned dose, for ``dosing prep SUBJECT DOSE``."""
    from dosing.store import ledger

    view = ledger.subject_view(store, subject_code, as_of)
    protocol = get_protocol(view.protocol_id)
    for dose in view.doses:
        if dose.sequence == sequence:
            if dose.given is not None:
                raise HardStop(
                    "dose",
                    "a dose is prepared once",
                    f"{subject_code} dose {sequence} was recorded as given on "
                    f"{dose.given.started_at.isoformat()}",
                )
            state = dose.status.state.value
            if state not in _PREPARABLE:
                # A bag for a dose that can no longer be given is product thrown away, or given wrongly.
                raise HardStop(
                    "dose",
                    "a dose is prepared only while its window is open or ahead (not skipped, not missed)",
                    f"{subject_code} dose {sequence} is {state.replace('_', ' ')} "
                    f"(window {dose.earliest.isoformat()}..{dose.latest.isoformat()})",
                )
            return dose_to_prepare(view, dose, protocol)
    known = ", ".join(str(d.sequence) for d in view.doses) or "none"
    raise DosingError("dose", f"one of the subject's planned doses ({known})", f"no dose {sequence}")
