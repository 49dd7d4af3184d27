"""Placebo bags: the same worksheet and a label that looks the same as the product's.

Pure. A protocol with a placebo arm is masked: every bag label of it (product or placebo) is *blinded*
(:func:`dosing.pharmacy.label.bag_label` with ``blinded=True``): it says "investigational product or
placebo", carries no DIN, no product code and no amount, and has the same fields in the same places,
so nobody at the bedside can tell the arms apart. Only the worksheet, which stays in the pharmacy,
says what is in the bag.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict

from dosing.errors import DoseWarning, HardStop
from dosing.pharmacy.label import BLINDED_DESCRIPTION, BagLabel
from dosing.protocol import Protocol
from dosing.units import Volume


def masked(protocol: Protocol) -> bool:
    """A protocol whose control arm gets a placebo keeps its blind at the bedside."""
    return any(arm.placebo is not None for arm in protocol.arms)


class PlaceboWorksheet(BaseModel):
    """What the pharmacy prints for a placebo bag: what goes in it, for the pharmacy's eyes only."""

    model_config = ConfigDict(frozen=True)

    kind: str = "placebo"
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
    placebo_name: str
    final_volume: Volume
    route: str
    infusion_minutes: int | None
    bag_id: str | None = None
    bag_use_by: datetime | None = None
    prepared_by: str = ""
    checked_by: str = ""
    warnings: list[DoseWarning] = []

    @property
    def file_stem(self) -> str:
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in self.subject_code)
        return f"{self.protocol_id}_{safe}_dose{self.dose_sequence}"

    def rows(self) -> list[tuple[str, str]]:
        local = ZoneInfo(self.timezone)
        rows = [
            ("Trial", self.protocol_id + (f" ({self.registry_id})" if self.registry_id else "")),
            ("Subject", self.subject_code),
            ("Site", self.site),
            ("Dose level / arm", f"{self.arm}: {self.arm_label}"),
            ("Dose", f"{self.dose_sequence}: {self.dose_label} ({self.study_day})"),
            ("Planned start", f"{self.planned_start.astimezone(local):%Y-%m-%d %H:%M UTC%z}"),
            ("Contents (pharmacy only)", f"PLACEBO: {self.final_volume} {self.placebo_name}"),
            ("Label reads", BLINDED_DESCRIPTION),
            ("Final volume", str(self.final_volume)),
            ("Route", self.route),
            ("Infusion duration", f"{self.infusion_minutes} min" if self.infusion_minutes else "not stated"),
        ]
        if self.bag_id is not None:
            rows.append(("Bag", self.bag_id))
        if self.bag_use_by is not None:
            rows.append(("Bag use-by", f"{self.bag_use_by.astimezone(local):%Y-%m-%d %H:%M UTC%z}"))
        rows += [("Prepared by", self.prepared_by), ("Checked by", self.checked_by)]
        rows += [(f"Warning: {w.field}", f"{w.message} (rule: {w.rule})") for w in self.warnings]
        return rows


def placebo_worksheet(
    protocol: Protocol,
    *,
    arm_id: str,
    subject_code: str,
    site: str,
    timezone: str,
    sequence: int,
    label: str,
    study_day: str,
    target_date: date,
    planned_start: datetime,
) -> PlaceboWorksheet:
    arm = protocol.arm(arm_id)
    if arm.placebo is None:
        raise HardStop("dose", "a placebo bag is made for an arm with a placebo", f"arm {arm_id} has none")
    return PlaceboWorksheet(
        protocol_id=protocol.id,
        registry_id=protocol.registry_id,
        trial_title=protocol.title,
        subject_code=subject_code,
        site=site,
        timezone=timezone,
        arm=arm.id,
        arm_label=arm.label,
        dose_sequence=sequence,
        dose_label=label,
        study_day=study_day,
        target_date=target_date,
        planned_start=planned_start,
        placebo_name=arm.placebo.name,
        final_volume=arm.placebo.volume,
        route=f"{protocol.route.code} ({protocol.route.description})",
        infusion_minutes=protocol.preparation.infusion_minutes,
    )


def placebo_label(sheet: PlaceboWorksheet, *, verified_by: str, facility: str) -> BagLabel:
    """The blinded label of a placebo bag: field for field like a blinded product label."""
    if sheet.bag_id is None or sheet.bag_use_by is None:
        raise ValueError("a label is printed for a prepared bag")
    return BagLabel(
        bag_id=sheet.bag_id,
        protocol_id=sheet.protocol_id,
        subject_code=sheet.subject_code,
        dose_text=f"Dose {sheet.dose_sequence}",
        final_volume=str(sheet.final_volume),
        din=None,
        check_character=None,
        lot_number=None,
        product_code=None,
        product_description=BLINDED_DESCRIPTION,
        use_by=sheet.bag_use_by,
        timezone=sheet.timezone,
        prepared_by=sheet.prepared_by,
        verified_by=verified_by,
        facility=facility,
        blinded=True,
    )
