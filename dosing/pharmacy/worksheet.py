"""The preparation worksheet for one planned dose: every figure computed, nothing left to the hood.

The arithmetic is :func:`dosing.dose.prepare` (the same function that plans the dose); this module adds
the real lot, the checks on it, the beyond-use time and the fields of the independent double check.
A worksheet comes from a stored subject (``dosing.store``) or from a dry-run plan
(:func:`doses_from_plan`), so both give identical figures.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, field_validator

from dosing.dose import PreparationFigures, prepare
from dosing.errors import DoseWarning, HardStop
from dosing.pharmacy.lots import Lot, check_lot_for_dose, pick_lot
from dosing.plan import PatientPlan
from dosing.protocol import Protocol
from dosing.units import Amount, DosePerKg, Percent, Volume, Weight, format_decimal


def _plain_datetime(moment: datetime) -> datetime:
    """A stdlib aware datetime (pendulum's subclass serialises the same, but compares and pickles
    differently); naive datetimes are refused because a worksheet time without a zone is ambiguous."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise HardStop("planned start", "date-time with the site's time zone", f"{moment} has no zone")
    return datetime(
        moment.year,
        moment.month,
        moment.day,
        moment.hour,
        moment.minute,
        moment.second,
        moment.microsecond,
        tzinfo=moment.tzinfo,
    )


class DoseToPrepare(BaseModel):
    """One planned product dose of one subject: what the worksheet is made for."""

    model_config = ConfigDict(frozen=True)

    protocol_id: str
    subject_code: str
    arm: str
    site: str
    timezone: str
    weight: Weight
    weight_measured_on: date | None
    sequence: int
    label: str
    study_day: str
    target_date: date
    planned_start: datetime
    ordered_dose: Amount
    dose_per_kg: DosePerKg | None = None
    #: A total-over-period regimen: what the subject received of the total so far.
    course: str | None = None

    @field_validator("planned_start")
    @classmethod
    def _aware(cls, moment: datetime) -> datetime:
        return _plain_datetime(moment)

    @property
    def local_date(self) -> date:
        """The calendar day of the dose at the site: the day a lot's expiry is checked against."""
        return self.planned_start.astimezone(ZoneInfo(self.timezone)).date()


def doses_from_plan(plan: PatientPlan, subject_code: str) -> list[DoseToPrepare]:
    """The product doses of a dry-run plan (placebo administrations have no lot and no worksheet here)."""
    return [
        DoseToPrepare(
            protocol_id=plan.protocol_id,
            subject_code=subject_code,
            arm=plan.arm,
            site=plan.site,
            timezone=plan.timezone,
            weight=plan.weight,
            weight_measured_on=plan.weight_measured_on,
            sequence=administration.sequence,
            label=administration.label,
            study_day=administration.study_day,
            target_date=administration.target_date,
            planned_start=administration.planned_start,
            ordered_dose=administration.ordered_dose,
            dose_per_kg=administration.dose_per_kg,
        )
        for administration in plan.administrations
        if administration.ordered_dose is not None
    ]


class Worksheet(BaseModel):
    """Everything printed on one preparation worksheet, in the order a pharmacist reads it."""

    model_config = ConfigDict(frozen=True)

    protocol_id: str
    registry_id: str | None
    trial_title: str
    subject_code: str
    site: str
    timezone: str
    arm: str
    arm_label: str
    dose_sequence: int
    dose_label: str
    study_day: str
    target_date: date
    planned_start: datetime
    product: str
    dose_per_kg: DosePerKg | None
    dosing_weight: Weight
    weight_measured_on: date | None
    ordered_dose: Amount
    lot_identifier_kind: str
    lot_identifier: str
    din: str | None
    check_character: str | None
    lot_number: str | None
    lot_expiry: date
    lot_volume: Volume
    preparation: PreparationFigures
    diluent: str
    route: str
    infusion_minutes: int | None
    beyond_use_hours: Decimal | None
    latest_thaw: datetime | None
    doses_viable_cells: bool
    prepared_by: str = ""
    checked_by: str = ""
    warnings: list[DoseWarning] = []
    #: Set when the bag is prepared in the store (``dosing bag prepare``): its identifier, container
    #: and its own use-by (thaw + beyond-use, or preparation + the site's bag hours).
    bag_id: str | None = None
    container: int | None = None
    bag_use_by: datetime | None = None

    @property
    def file_stem(self) -> str:
        """``NCT04822922_S-001_dose1``: safe in any file system, sorted by subject then dose."""
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in self.subject_code)
        return f"{self.protocol_id}_{safe}_dose{self.dose_sequence}"

    def rows(self) -> list[tuple[str, str]]:
        """The worksheet as (field, value) pairs: the CSV, and the body of the PDF page."""
        p = self.preparation
        deviation = f"{p.deviation.value.normalize():+f}%"
        viability = (
            f"{p.viability}" + (" (dose counted as viable cells)" if self.doses_viable_cells else "")
            if p.viability is not None
            else "not applicable"
        )
        return [
            ("Trial", f"{self.protocol_id}" + (f" ({self.registry_id})" if self.registry_id else "")),
            ("Subject", self.subject_code),
            ("Site", self.site),
            ("Dose level / arm", f"{self.arm}: {self.arm_label}"),
            ("Dose", f"{self.dose_sequence}: {self.dose_label} ({self.study_day})"),
            ("Planned start", _moment(self.planned_start)),
            ("Product", self.product),
            ("Dose per kg", str(self.dose_per_kg) if self.dose_per_kg else "not weight-based"),
            (
                "Dosing weight",
                f"{self.dosing_weight}, measured "
                + (self.weight_measured_on.isoformat() if self.weight_measured_on else "date not recorded"),
            ),
            ("Ordered dose", str(self.ordered_dose)),
            ("Lot", self.lot_identifier_kind + " " + self.lot_identifier),
            ("Check character", self.check_character or "-"),
            ("Lot expiry", self.lot_expiry.isoformat()),
            ("Lot volume", str(self.lot_volume)),
            ("Concentration", str(p.concentration)),
            ("Post-thaw viability", viability),
            ("Effective concentration", str(p.effective_concentration)),
            ("Exact volume", f"{format_decimal(p.exact_volume.value.quantize(Decimal('0.001')))} mL"),
            ("Volume to draw", str(p.volume_to_draw)),
            ("Diluent", f"{p.diluent} {self.diluent}"),
            ("Final volume", str(p.final_volume)),
            ("Delivered dose", str(p.delivered_dose)),
            ("Deviation from ordered", deviation),
            ("Rounding rule", p.rounding_rule),
            ("Route", self.route),
            (
                "Infusion duration",
                f"{self.infusion_minutes} min" if self.infusion_minutes else "not stated by the protocol",
            ),
            (
                "Beyond-use time",
                f"{format_decimal(self.beyond_use_hours)} h from thaw to start"
                if self.beyond_use_hours is not None
                else "not stated by the protocol",
            ),
            (
                "Latest thaw time",
                _moment(self.latest_thaw) if self.latest_thaw else "not stated by the protocol",
            ),
            *self._bag_rows(),
            ("Prepared by", self.prepared_by),
            ("Checked by", self.checked_by),
            *[(f"Warning: {w.field}", f"{w.message} (rule: {w.rule})") for w in self.warnings],
        ]

    def _bag_rows(self) -> list[tuple[str, str]]:
        if self.bag_id is None:
            return []
        rows = [("Bag", self.bag_id)]
        if self.container is not None:
            rows.append(("Container", str(self.container)))
        if self.bag_use_by is not None:
            rows.append(("Bag use-by", _moment(self.bag_use_by.astimezone(ZoneInfo(self.timezone)))))
        return rows


def _moment(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M %Z (UTC%z)").replace("(UTC+", "(UTC +").replace("(UTC-", "(UTC -")


def latest_thaw_time(
    planned_start: datetime, beyond_use_hours: Decimal | None, timezone: str
) -> datetime | None:
    """Planned start minus the beyond-use time, in elapsed hours (a DST change in between counts)."""
    if beyond_use_hours is None:
        return None
    elapsed = timedelta(seconds=int(beyond_use_hours * 3600))
    return (planned_start.astimezone(UTC) - elapsed).astimezone(ZoneInfo(timezone))


def build_worksheet(
    protocol: Protocol, dose: DoseToPrepare, lot: Lot, *, do_not_dispense_days: int
) -> Worksheet:
    """The worksheet for ``dose`` drawn from ``lot``, or the HardStop that forbids the preparation."""
    if dose.protocol_id != protocol.id:
        raise HardStop("protocol", f"dose of {protocol.id}", f"the dose belongs to {dose.protocol_id}")
    check_lot_for_dose(lot, protocol, dose.local_date, do_not_dispense_days)
    figures = prepare(
        dose.ordered_dose,
        concentration=lot.concentration,
        viability=lot.viability,
        doses_viable_cells=protocol.product.doses_viable_cells,
        preparation=protocol.preparation,
        concentration_source=lot.describe(),
    )
    if lot.volume < figures.volume_to_draw:
        raise HardStop(
            "volume to draw",
            f"volume to draw <= the lot's volume {lot.volume}",
            f"{figures.volume_to_draw} is more than {lot.describe()} holds",
        )
    arm = protocol.arm(dose.arm)
    planned_start = dose.planned_start.astimezone(ZoneInfo(dose.timezone))
    return Worksheet(
        protocol_id=protocol.id,
        registry_id=protocol.registry_id,
        trial_title=protocol.title,
        subject_code=dose.subject_code,
        site=dose.site,
        timezone=dose.timezone,
        arm=arm.id,
        arm_label=arm.label,
        dose_sequence=dose.sequence,
        dose_label=dose.label,
        study_day=dose.study_day,
        target_date=dose.target_date,
        planned_start=planned_start,
        product=protocol.product.name,
        dose_per_kg=dose.dose_per_kg,
        dosing_weight=dose.weight,
        weight_measured_on=dose.weight_measured_on,
        ordered_dose=dose.ordered_dose,
        lot_identifier_kind=lot.identifier_kind,
        lot_identifier=lot.identifier,
        din=lot.din,
        check_character=lot.check_character,
        lot_number=lot.lot_number,
        lot_expiry=lot.expiry,
        lot_volume=lot.volume,
        preparation=figures,
        diluent=protocol.preparation.diluent,
        route=f"{protocol.route.code} ({protocol.route.description})",
        infusion_minutes=protocol.preparation.infusion_minutes,
        beyond_use_hours=protocol.product.beyond_use_hours,
        latest_thaw=latest_thaw_time(planned_start, protocol.product.beyond_use_hours, dose.timezone),
        doses_viable_cells=protocol.product.doses_viable_cells,
        warnings=_lot_warnings(figures.viability),
    )


def _lot_warnings(viability: Percent | None) -> list[DoseWarning]:
    # Release criteria for thawed MSC products commonly require >= 70% viable cells; below that the
    # dose can still be computed, but a pharmacist must see it before preparing.
    if viability is not None and viability.value < 70:
        return [
            DoseWarning(
                field="viability",
                rule="post-thaw viability >= 70% (common release criterion)",
                message=f"{viability}: confirm the lot may be released",
            )
        ]
    return []


def worksheet_with_first_expiring_lot(
    protocol: Protocol, dose: DoseToPrepare, lots: list[Lot], *, do_not_dispense_days: int
) -> Worksheet:
    """The worksheet drawn from the usable lot that expires first (first-expiry-first-out)."""
    _, worksheet = pick_lot(
        lots,
        protocol,
        dose.local_date,
        do_not_dispense_days,
        lambda lot: build_worksheet(protocol, dose, lot, do_not_dispense_days=do_not_dispense_days),
    )
    return worksheet
