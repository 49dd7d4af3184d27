"""The protocol model: what a trial's regimen says, as validated data.

A protocol file (``protocols/*.yaml``) is parsed into :class:`Protocol`. Everything the engine does for a
patient (doses, dates, windows, follow-ups, eligibility limits) is read from here, so adding a trial means
adding a file, never code. Where a registry record is silent or contradicts itself the file records
its choice in ``decisions`` so a reviewer can check it against the record.
"""

from __future__ import annotations

from datetime import time
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Any, Literal

import pendulum
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from dosing.units import (
    Amount,
    AmountUnit,
    DosePerKg,
    Percent,
    Volume,
    Weight,
    parse_amount,
    parse_concentration,
    parse_dose_per_kg,
    parse_percent,
    parse_volume,
    parse_weight,
)


class FieldRuleError(ValueError):
    """A rule between fields, broken at ``location`` (a dotted path such as ``administrations.0.day``).

    Pydantic reports a model-level validator at the model itself; the catalog reads ``location`` from
    this error so a protocol author is told which field to fix, not just "protocol".
    """

    def __init__(self, location: str, message: str) -> None:
        self.location = location
        super().__init__(message)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _parsed(parser: Any, **kwargs: Any) -> Any:
    """A before-validator that lets protocol files write quantities as text ('100 mL')."""

    def parse(value: Any) -> Any:
        if isinstance(value, str):
            return parser(value, **kwargs)
        return value

    return parse


def _quantity_text(parser: Any, field: str, example: str) -> Any:
    """A quantity written as text in protocol files ('100 mL'), parsed with its unit checked."""
    from pydantic import BeforeValidator, WithJsonSchema

    return (
        BeforeValidator(_parsed(parser, field=field)),
        WithJsonSchema({"type": "string", "description": f"a {field} with its unit, e.g. '{example}'"}),
    )


VolumeText = Annotated[Volume, *_quantity_text(parse_volume, "volume", "100 mL")]
WeightText = Annotated[Weight, *_quantity_text(parse_weight, "weight", "50 kg")]
AmountText = Annotated[Amount, *_quantity_text(parse_amount, "amount", "1 x10^10 particles")]
DosePerKgText = Annotated[DosePerKg, *_quantity_text(parse_dose_per_kg, "dose per kg", "8 x10^5 cells/kg")]
PercentText = Annotated[Percent, *_quantity_text(parse_percent, "percentage", "10%")]


class StudyStatus(StrEnum):
    NOT_YET_RECRUITING = "not_yet_recruiting"
    RECRUITING = "recruiting"
    ENROLLING_BY_INVITATION = "enrolling_by_invitation"
    ACTIVE_NOT_RECRUITING = "active_not_recruiting"
    SUSPENDED = "suspended"
    TERMINATED = "terminated"
    COMPLETED = "completed"
    WITHDRAWN = "withdrawn"
    UNKNOWN = "unknown"

    @property
    def takes_enrollments(self) -> bool:
        return self not in {
            StudyStatus.ACTIVE_NOT_RECRUITING,
            StudyStatus.SUSPENDED,
            StudyStatus.TERMINATED,
            StudyStatus.COMPLETED,
            StudyStatus.WITHDRAWN,
        }


class AnchorEvent(StrEnum):
    TRANSPLANT = "transplant"
    ENROLLMENT = "enrollment"
    RANDOMIZATION = "randomization"
    RECRUITMENT = "recruitment"


class DayNumbering(StrEnum):
    """How the record counts days; the engine never guesses."""

    #: "post-transplant days 1-5": the anchor day itself is day 0.
    ANCHOR_IS_DAY_0 = "anchor_is_day_0"
    #: "days 1, 4, 7, 10": the anchor day (first dose) is day 1.
    ANCHOR_IS_DAY_1 = "anchor_is_day_1"
    #: "weeks 0, 1, 2, 3": the anchor's week is week 0; week N starts 7N days after the anchor.
    ANCHOR_IS_WEEK_0 = "anchor_is_week_0"


class ReschedulePolicy(StrEnum):
    """What happens to later doses when one is given late."""

    SHIFT_LATER = "shift_later"  # keep the interval: later doses move by the delay
    KEEP_ORIGINAL = "keep_original"  # later doses stay on their planned days
    CLAMP_TO_WINDOW = "clamp_to_window"  # keep the interval, but never beyond a dose's own window


class ProductKind(StrEnum):
    MSC_CELLS = "msc_cells"
    EV_PARTICLES = "ev_particles"
    EXOSOME_MASS = "exosome_mass"

    @property
    def amount_unit(self) -> AmountUnit:
        return {
            ProductKind.MSC_CELLS: AmountUnit.CELLS,
            ProductKind.EV_PARTICLES: AmountUnit.PARTICLES,
            ProductKind.EXOSOME_MASS: AmountUnit.MG,
        }[self]


class Provenance(_Model):
    source: str = Field(description="The registry record this file encodes (file under shared/seeds/).")
    registry_url: str | None = None
    notes: list[str] = Field(default_factory=list)


class Decision(_Model):
    """A choice the file makes where the record is silent or contradicts itself."""

    topic: str
    record_says: str
    choice: str
    why: str


class WindowDays(_Model):
    """A tolerance around a target day, in whole local calendar days."""

    before: int = Field(ge=0)
    after: int = Field(ge=0)


class Site(_Model):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
    name: str
    city: str | None = None
    country: str | None = None
    timezone: str
    #: Used when the protocol gives no window for an administration (DOMAIN: the site configures one).
    default_window: WindowDays = WindowDays(before=1, after=1)
    #: Local time at which infusions are planned on calendars and worksheets.
    infusion_time: time = time(9, 0)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            pendulum.timezone(name)
        except Exception as error:  # pendulum raises InvalidTimezone
            raise ValueError(f"unknown IANA time zone {name!r}") from error
        return name


class Product(_Model):
    name: str
    kind: ProductKind
    description: str | None = None
    #: Cell doses counted as viable cells divide the draw by post-thaw viability.
    doses_viable_cells: bool = False
    #: Beyond-use time from thaw to the start of administration.
    beyond_use_hours: Decimal | None = Field(default=None, gt=0)
    #: A nominal lot used for planning only; worksheets use the real lot's figures.
    reference_concentration: str | None = None
    reference_viability: PercentText | None = None

    @property
    def amount_unit(self) -> AmountUnit:
        return self.kind.amount_unit

    @model_validator(mode="after")
    def _consistent(self) -> Product:
        if self.doses_viable_cells and self.kind is not ProductKind.MSC_CELLS:
            raise FieldRuleError("doses_viable_cells", "doses_viable_cells applies to cell products only")
        if self.reference_concentration is not None:
            concentration = parse_concentration(
                self.reference_concentration, field="product.reference_concentration"
            )
            if concentration.amount_unit is not self.amount_unit:
                raise FieldRuleError(
                    "reference_concentration",
                    f"reference_concentration is per mL of {concentration.amount_unit.noun}, "
                    f"the product is counted in {self.amount_unit.noun}",
                )
        return self


class Route(_Model):
    code: str = Field(description="e.g. IV")
    description: str


class Anchor(_Model):
    event: AnchorEvent
    day_numbering: DayNumbering
    description: str


class TargetWindow(_Model):
    """An explicit window in the protocol's own day numbering ("days 1-5")."""

    earliest_day: int
    latest_day: int

    @model_validator(mode="after")
    def _ordered(self) -> TargetWindow:
        if self.earliest_day > self.latest_day:
            raise FieldRuleError("earliest_day", "earliest_day must not be after latest_day")
        return self


class AdministrationSpec(_Model):
    label: str
    day: int | None = None
    week: int | None = None
    #: Either a tolerance around the target day, an explicit span of days, or none (site default).
    window: WindowDays | TargetWindow | None = None

    @model_validator(mode="after")
    def _one_offset(self) -> AdministrationSpec:
        if (self.day is None) == (self.week is None):
            raise ValueError("give exactly one of day or week")
        return self


class PerKgFixed(_Model):
    type: Literal["per_kg"] = "per_kg"
    level: DosePerKgText


class PerKgRange(_Model):
    """A per-kg dose chosen for each patient within an allowed range (e.g. 1.0-10 x10^5 cells/kg)."""

    type: Literal["per_kg_range"] = "per_kg_range"
    minimum: DosePerKgText
    maximum: DosePerKgText

    @model_validator(mode="after")
    def _ordered(self) -> PerKgRange:
        if self.minimum.amount_unit is not self.maximum.amount_unit:
            raise ValueError("minimum and maximum must count the same thing")
        if not self.minimum.value < self.maximum.value:
            raise ValueError("minimum must be below maximum")
        return self


class FixedPerAdministration(_Model):
    type: Literal["fixed"] = "fixed"
    amount: AmountText


class TotalSplit(_Model):
    """A total over a period, split into the administrations (equally, or as listed)."""

    type: Literal["total_split"] = "total_split"
    total: AmountText
    split: Literal["equal", "listed"] = "equal"
    amounts: list[AmountText] | None = None


DoseRule = Annotated[
    PerKgFixed | PerKgRange | FixedPerAdministration | TotalSplit, Field(discriminator="type")
]


class Placebo(_Model):
    name: str
    volume: VolumeText


class ArmRole(StrEnum):
    EXPERIMENTAL = "experimental"
    CONTROL = "control"


class Arm(_Model):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    label: str
    role: ArmRole
    description: str | None = None
    #: Allocation ratio for randomized trials (1:1 is ratio 1 on each arm).
    ratio: int = Field(default=1, ge=1)
    dose: DoseRule | None = None
    #: A control arm gets nothing (None) or a placebo on the same schedule.
    placebo: Placebo | None = None

    @model_validator(mode="after")
    def _dose_matches_role(self) -> Arm:
        if self.role is ArmRole.EXPERIMENTAL and self.dose is None:
            raise FieldRuleError("dose", f"experimental arm {self.id!r} needs a dose rule")
        if self.role is ArmRole.CONTROL and self.dose is not None:
            raise FieldRuleError("dose", f"control arm {self.id!r} must not carry a product dose")
        if self.placebo is not None and self.role is not ArmRole.CONTROL:
            raise FieldRuleError("placebo", "only a control arm can have a placebo")
        return self

    @property
    def receives_administrations(self) -> bool:
        return self.dose is not None or self.placebo is not None


class Allocation(_Model):
    method: Literal["permuted_blocks", "non_randomized", "single_group"]
    block_size: int | None = Field(default=None, ge=2)
    #: Recorded with the study so any allocation can be reproduced and audited.
    seed: str | None = None

    @model_validator(mode="after")
    def _blocks(self) -> Allocation:
        if self.method == "permuted_blocks" and (self.block_size is None or self.seed is None):
            missing = "block_size" if self.block_size is None else "seed"
            raise FieldRuleError(missing, "permuted_blocks needs block_size and seed")
        return self


class Escalation(_Model):
    """Sequential dose-escalation cohorts gated by a safety review."""

    order: list[str] = Field(min_length=2)
    cohort_size: int = Field(ge=1)
    expansion_size: int = Field(ge=0)
    safety_window_days: int = Field(ge=1)
    gate: str


class Preparation(_Model):
    final_volume: VolumeText
    final_volume_source: Literal["record", "site_choice"]
    diluent: str
    volume_increment: VolumeText = Volume(value=Decimal("0.1"))
    rounding: Literal["half_up", "half_even", "down"] = "half_up"
    dose_tolerance: PercentText = Percent(value=Decimal(10))
    infusion_minutes: int | None = Field(default=None, gt=0)
    weight_change_alert: PercentText = Percent(value=Decimal(10))

    @field_validator("volume_increment")
    @classmethod
    def _positive_increment(cls, value: Volume) -> Volume:
        if value.value <= 0:
            raise ValueError("volume_increment must be > 0 mL")
        return value


class Offset(_Model):
    months: int = 0
    days: int = 0
    hours: int = 0

    def describe(self) -> str:
        return _describe_offset(self.months, self.days, self.hours)


@lru_cache(maxsize=1024)
def _describe_offset(months: int, days: int, hours: int) -> str:
    # Called once per planned assessment (tens of thousands of times for a handful of offsets): the
    # text depends on the three numbers only, so build it once and share the string.
    parts = [f"{n} {unit}" for n, unit in ((months, "months"), (days, "days"), (hours, "h")) if n]
    return " ".join(parts) or "0 days"


class FollowUp(_Model):
    name: str
    after: Literal["anchor", "each_administration", "last_administration"]
    offsets: list[Offset] = Field(min_length=1)
    measures: list[str] = Field(default_factory=list)
    source: str = Field(description="The outcome measure in the record this assessment serves.")


class Eligibility(_Model):
    weight_min: WeightText | None = None
    age_min: int | None = Field(default=None, ge=0)
    age_max: int | None = Field(default=None, ge=0)
    meld_min: Decimal | None = None
    meld_max: Decimal | None = None
    child_pugh_classes: list[Literal["A", "B", "C"]] | None = None


class Protocol(_Model):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="Study code used on every record.")
    registry_id: str | None
    title: str
    status: StudyStatus
    phase: str | None = None
    sites: list[Site] = Field(min_length=1)
    product: Product
    route: Route
    anchor: Anchor
    administrations: list[AdministrationSpec] = Field(min_length=1)
    rescheduling: ReschedulePolicy
    arms: list[Arm] = Field(min_length=1)
    allocation: Allocation
    escalation: Escalation | None = None
    preparation: Preparation
    eligibility: Eligibility = Eligibility()
    follow_up: list[FollowUp] = Field(default_factory=list)
    provenance: Provenance
    decisions: list[Decision] = Field(default_factory=list)

    @model_validator(mode="after")
    def _coherent(self) -> Protocol:
        _check_unique("sites", [site.id for site in self.sites])
        arm_ids = [arm.id for arm in self.arms]
        _check_unique("arms", arm_ids)
        for index, spec in enumerate(self.administrations):
            _check_offset_convention(spec, self.anchor.day_numbering, f"administrations.{index}")
        for index, arm in enumerate(self.arms):
            _check_dose_rule(arm, self.product, len(self.administrations), f"arms.{index}.dose")
        if self.escalation is not None:
            unknown = [arm_id for arm_id in self.escalation.order if arm_id not in arm_ids]
            if unknown:
                raise FieldRuleError("escalation.order", f"escalation.order names unknown arms {unknown}")
        if self.allocation.method == "permuted_blocks":
            ratio_sum = sum(arm.ratio for arm in self.arms)
            if self.allocation.block_size is not None and self.allocation.block_size % ratio_sum:
                raise FieldRuleError(
                    "allocation.block_size",
                    f"allocation.block_size must be a multiple of the ratio sum {ratio_sum}",
                )
        return self

    def arm(self, arm_id: str) -> Arm:
        from dosing.errors import DosingError

        for arm in self.arms:
            if arm.id == arm_id:
                return arm
        known = ", ".join(arm.id for arm in self.arms)
        raise DosingError("arm", f"one of the protocol's arms ({known})", f"unknown arm {arm_id!r}")

    def site(self, site_id: str | None) -> Site:
        from dosing.errors import DosingError

        if site_id is None:
            if len(self.sites) == 1:
                return self.sites[0]
            known = ", ".join(site.id for site in self.sites)
            raise DosingError("site", f"one of {known}", "the protocol has several sites; name one")
        for site in self.sites:
            if site.id == site_id:
                return site
        known = ", ".join(site.id for site in self.sites)
        raise DosingError("site", f"one of the protocol's sites ({known})", f"unknown site {site_id!r}")


def _check_unique(what: str, ids: list[str]) -> None:
    duplicates = sorted({item for item in ids if ids.count(item) > 1})
    if duplicates:
        raise FieldRuleError(what, f"{what}: duplicate ids {duplicates}")


def _check_offset_convention(spec: AdministrationSpec, numbering: DayNumbering, at: str) -> None:
    if numbering is DayNumbering.ANCHOR_IS_WEEK_0:
        if spec.week is None:
            raise FieldRuleError(
                f"{at}.week", f"{spec.label}: anchor_is_week_0 counts in weeks; give week, not day"
            )
        if spec.week < 0:
            raise FieldRuleError(f"{at}.week", f"{spec.label}: week must be >= 0")
        return
    if spec.day is None:
        raise FieldRuleError(
            f"{at}.day", f"{spec.label}: {numbering.value} counts in days; give day, not week"
        )
    if numbering is DayNumbering.ANCHOR_IS_DAY_1 and spec.day < 1:
        raise FieldRuleError(
            f"{at}.day",
            f"{spec.label}: with anchor_is_day_1 there is no day {spec.day} (day 1 is the anchor)",
        )
    if isinstance(spec.window, TargetWindow):
        if not spec.window.earliest_day <= spec.day <= spec.window.latest_day:
            raise FieldRuleError(f"{at}.window", f"{spec.label}: day {spec.day} is outside its own window")
        if numbering is DayNumbering.ANCHOR_IS_DAY_1 and spec.window.earliest_day < 1:
            raise FieldRuleError(
                f"{at}.window.earliest_day",
                f"{spec.label}: with anchor_is_day_1 there is no day {spec.window.earliest_day}",
            )


def _check_dose_rule(arm: Arm, product: Product, administration_count: int, at: str) -> None:
    rule = arm.dose
    units: list[AmountUnit] = []
    if isinstance(rule, PerKgFixed):
        units = [rule.level.amount_unit]
    elif isinstance(rule, PerKgRange):
        units = [rule.minimum.amount_unit, rule.maximum.amount_unit]
    elif isinstance(rule, FixedPerAdministration):
        units = [rule.amount.unit]
    elif isinstance(rule, TotalSplit):
        units = [rule.total.unit]
        if rule.split == "listed":
            if not rule.amounts or len(rule.amounts) != administration_count:
                raise FieldRuleError(
                    f"{at}.amounts", f"arm {arm.id}: listed split needs one amount per administration"
                )
            if sum((a.value for a in rule.amounts), Decimal(0)) != rule.total.value:
                raise FieldRuleError(
                    f"{at}.amounts", f"arm {arm.id}: listed amounts do not add up to the total {rule.total}"
                )
            units += [a.unit for a in rule.amounts]
        else:
            share = rule.total.value / administration_count
            # An equal split must be exact, or the last dose would silently differ from the others.
            if share * administration_count != rule.total.value or share.as_tuple().exponent < -6:  # type: ignore[operator]
                raise FieldRuleError(
                    f"{at}.split",
                    f"arm {arm.id}: {rule.total} does not split exactly into {administration_count} "
                    "administrations; use split: listed with explicit amounts",
                )
    for unit in units:
        if unit is not product.amount_unit:
            raise FieldRuleError(
                at,
                f"arm {arm.id}: dose counted in {unit.noun} but {product.name} is counted in "
                f"{product.amount_unit.noun}",
            )
