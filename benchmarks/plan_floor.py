"""The floor for planning: the same plans with nothing but datetime, zoneinfo and Decimal.

What planning 10,000 patients costs when the output is plain tuples and the arithmetic is the
standard library's. Per protocol it reads the validated model once (the same as any planner would);
per patient it computes every date, instant and bag. ``rows_of_plan`` turns a core
:class:`~dosing.plan.PatientPlan` into the same tuples, so the benchmark checks both say the same.

Covers what the benchmark's cohort uses: one site per protocol, no enrollment weight (no warnings),
valid inputs (no refusals).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from dosing.plan import PatientPlan
from dosing.protocol import (
    DayNumbering,
    FixedPerAdministration,
    PerKgFixed,
    PerKgRange,
    Protocol,
    TargetWindow,
    TotalSplit,
)
from dosing.units import format_decimal, parse_concentration

_ROUNDING = {"half_up": ROUND_HALF_UP, "half_even": ROUND_HALF_EVEN, "down": ROUND_DOWN}
_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


class Bag(NamedTuple):
    ordered: Decimal
    concentration: Decimal
    source: str
    viability: Decimal | None
    effective: Decimal
    exact: Decimal
    to_draw: Decimal
    diluent: Decimal
    final: Decimal
    delivered: Decimal
    deviation: Decimal
    rounding_rule: str


class Administration(NamedTuple):
    sequence: int
    label: str
    study_day: str
    target: date
    earliest: date
    latest: date
    start: datetime
    intervention: str
    per_kg: Decimal | None
    dose: Decimal | None
    placebo_volume: Decimal | None
    bag: Bag | None


class Assessment(NamedTuple):
    name: str
    due: datetime
    due_date: date
    after: str
    offset: str
    measures: tuple[str, ...]
    source: str
    sequence: int | None


class Plan(NamedTuple):
    protocol_id: str
    arm: str
    anchor: date
    weight: Decimal
    administrations: list[Administration]
    assessments: list[Assessment]


class _Arm(NamedTuple):
    id: str
    kind: str  # per_kg | fixed | split_equal | split_listed | placebo | none
    amounts: tuple[Decimal, ...]
    placebo_volume: Decimal | None


class FloorProtocol:
    """A protocol read once into plain values."""

    def __init__(self, protocol: Protocol) -> None:
        site = protocol.sites[0]
        numbering = protocol.anchor.day_numbering
        self.id = protocol.id
        self.zone = ZoneInfo(site.timezone)
        self.hour, self.minute = site.infusion_time.hour, site.infusion_time.minute
        self.days: list[tuple[int, str, str, int, int, int]] = []
        for sequence, spec in enumerate(protocol.administrations, start=1):
            shift = 1 if numbering is DayNumbering.ANCHOR_IS_DAY_1 else 0
            if numbering is DayNumbering.ANCHOR_IS_WEEK_0:
                assert spec.week is not None
                label, target = f"week {spec.week}", 7 * spec.week
            else:
                assert spec.day is not None
                label, target = f"day {spec.day}", spec.day - shift
            window = spec.window or site.default_window
            if isinstance(window, TargetWindow):
                low, high = window.earliest_day - shift, window.latest_day - shift
            else:
                low, high = target - window.before, target + window.after
            self.days.append((sequence, spec.label, label, target, low, high))
        self.arms: dict[str, _Arm] = {}
        count = len(protocol.administrations)
        for arm in protocol.arms:
            rule = arm.dose
            volume = arm.placebo.volume.value if arm.placebo is not None else None
            if isinstance(rule, PerKgFixed):
                self.arms[arm.id] = _Arm(arm.id, "per_kg", (rule.level.value,), volume)
            elif isinstance(rule, PerKgRange):
                self.arms[arm.id] = _Arm(arm.id, "per_kg", (), volume)
            elif isinstance(rule, FixedPerAdministration):
                self.arms[arm.id] = _Arm(arm.id, "fixed", (rule.amount.value,), volume)
            elif isinstance(rule, TotalSplit):
                amounts = (
                    tuple(a.value for a in rule.amounts)
                    if rule.split == "listed" and rule.amounts is not None
                    else (rule.total.value / count,) * count
                )
                self.arms[arm.id] = _Arm(arm.id, "listed", amounts, volume)
            else:
                self.arms[arm.id] = _Arm(arm.id, "placebo" if volume is not None else "none", (), volume)
        product, preparation = protocol.product, protocol.preparation
        reference = product.reference_concentration
        self.concentration = parse_concentration(reference).value if reference else None
        self.unit_noun = protocol.product.amount_unit.noun
        viability = product.reference_viability
        self.viability = viability.value if viability is not None else None
        self.viable = product.doses_viable_cells
        self.increment = preparation.volume_increment.value
        self.rounding = _ROUNDING[preparation.rounding]
        self.final = preparation.final_volume.value
        self.tolerance = preparation.dose_tolerance.value
        mode = {"half_up": "half up", "half_even": "half to even", "down": "down"}[preparation.rounding]
        self.rounding_rule = (
            f"volume to draw rounded {mode} to {format_decimal(self.increment)} mL; "
            f"delivered dose within {format_decimal(self.tolerance)}% of ordered"
        )
        self.source = "protocol reference lot (planning only; the worksheet uses the real lot)"
        self.follow_up = [
            (
                f.name,
                f.after,
                [(o.months, o.days, o.hours, _describe(o.months, o.days, o.hours)) for o in f.offsets],
                tuple(f.measures),
                f.source,
            )
            for f in protocol.follow_up
        ]
        self.weight_min = protocol.eligibility.weight_min

    def bag(self, ordered: Decimal) -> Bag:
        assert self.concentration is not None
        effective = self.concentration
        if self.viable:
            assert self.viability is not None
            effective = self.concentration * (self.viability / 100)
        exact = ordered / effective
        to_draw = (exact / self.increment).quantize(Decimal(1), rounding=self.rounding) * self.increment
        if to_draw <= 0 or to_draw > self.final:
            raise ValueError("the floor plans valid cohorts only")
        delivered = effective * to_draw
        deviation = (delivered - ordered) / ordered * 100
        if abs(deviation) > self.tolerance:
            raise ValueError("the floor plans valid cohorts only")
        return Bag(
            ordered,
            self.concentration,
            self.source,
            self.viability,
            effective,
            exact,
            to_draw,
            self.final - to_draw,
            self.final,
            delivered,
            deviation.quantize(Decimal("0.001")),
            self.rounding_rule,
        )


def _describe(months: int, days: int, hours: int) -> str:
    parts = [f"{n} {unit}" for n, unit in ((months, "months"), (days, "days"), (hours, "h")) if n]
    return " ".join(parts) or "0 days"


def _wall(day: date, hour: int, minute: int, second: int, microsecond: int, zone: ZoneInfo) -> datetime:
    """A local wall time: a gap moves forward by its length, an ambiguous time is its first occurrence."""
    moment = datetime(day.year, day.month, day.day, hour, minute, second, microsecond, tzinfo=zone)
    return moment.astimezone(UTC).astimezone(zone)


def _add_months(day: date, months: int) -> date:
    if not months:
        return day
    year, month = divmod(day.month - 1 + months, 12)
    year += day.year
    length = _MONTH_DAYS[month]
    if month == 1 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        length = 29
    return date(year, month + 1, min(day.day, length))


def _offset(start: datetime, months: int, days: int, hours: int, zone: ZoneInfo) -> datetime:
    moved = start
    if months or days:
        day = date.fromordinal(_add_months(start.date(), months).toordinal() + days)
        moved = _wall(day, start.hour, start.minute, start.second, start.microsecond, zone)
    if hours:
        moved = (moved.astimezone(UTC) + timedelta(hours=hours)).astimezone(zone)
    return moved


def floor_plan(
    protocol: FloorProtocol, arm_id: str, weight: Decimal, anchor: date, per_kg: Decimal | None
) -> Plan:
    arm = protocol.arms[arm_id]
    if protocol.weight_min is not None and weight < protocol.weight_min.value:
        raise ValueError("the floor plans valid cohorts only")
    zone = protocol.zone
    ordinal = anchor.toordinal()
    administrations: list[Administration] = []
    if arm.kind != "none":
        if arm.kind == "per_kg" and arm.amounts:
            per_kg = arm.amounts[0]
        elif arm.kind != "per_kg":
            per_kg = None
        bags: dict[Decimal, Bag] = {}
        intervention = "placebo" if arm.kind == "placebo" else "product"
        for index, (sequence, label, study_day, target, low, high) in enumerate(protocol.days):
            day = date.fromordinal(ordinal + target)
            dose: Decimal | None = None
            bag = None
            if arm.kind == "per_kg":
                assert per_kg is not None
                dose = per_kg * weight
            elif arm.kind == "fixed":
                dose = arm.amounts[0]
            elif arm.kind == "listed":
                dose = arm.amounts[index]
            if dose is not None:
                bag = bags.get(dose)
                if bag is None:
                    bag = bags[dose] = protocol.bag(dose)
            administrations.append(
                Administration(
                    sequence,
                    label,
                    study_day,
                    day,
                    date.fromordinal(ordinal + low),
                    date.fromordinal(ordinal + high),
                    _wall(day, protocol.hour, protocol.minute, 0, 0, zone),
                    intervention,
                    per_kg,
                    dose,
                    arm.placebo_volume,
                    bag,
                )
            )
    anchor_start = _wall(anchor, protocol.hour, protocol.minute, 0, 0, zone)
    assessments: list[Assessment] = []
    for name, after, offsets, measures, source in protocol.follow_up:
        if after == "anchor":
            starts: list[tuple[int | None, datetime]] = [(None, anchor_start)]
        elif after == "each_administration":
            starts = [(a.sequence, a.start) for a in administrations]
        else:
            starts = [(a.sequence, a.start) for a in administrations[-1:]]
        for sequence_of, start in starts:
            for months, days, hours, text in offsets:
                due = _offset(start, months, days, hours, zone)
                assessments.append(
                    Assessment(name, due, due.date(), after, text, measures, source, sequence_of)
                )
    assessments.sort(key=lambda a: (a.due, a.name))
    return Plan(protocol.id, arm_id, anchor, weight, administrations, assessments)


def _moment(value: datetime) -> tuple[str, str]:
    # The wall clock with its UTC offset, and the zone's name: equal instants in other zones differ.
    return value.isoformat(), str(getattr(value.tzinfo, "key", value.tzinfo))


def rows_of_floor(plan: Plan) -> tuple[Any, ...]:
    return (
        plan.protocol_id,
        plan.arm,
        plan.anchor,
        plan.weight,
        [(*a[:6], _moment(a.start), *a[7:]) for a in plan.administrations],
        [(a.name, _moment(a.due), *a[2:5], list(a.measures), *a[6:]) for a in plan.assessments],
    )


def rows_of_plan(plan: PatientPlan) -> tuple[Any, ...]:
    """A core plan as the floor's tuples, to check the two agree."""
    administrations = []
    for a in plan.administrations:
        bag = None
        if a.preparation is not None:
            p = a.preparation
            bag = Bag(
                p.ordered_dose.value,
                p.concentration.value,
                p.concentration_source,
                p.viability.value if p.viability is not None else None,
                p.effective_concentration.value,
                p.exact_volume.value,
                p.volume_to_draw.value,
                p.diluent.value,
                p.final_volume.value,
                p.delivered_dose.value,
                p.deviation.value,
                p.rounding_rule,
            )
        administrations.append(
            (
                a.sequence,
                a.label,
                a.study_day,
                a.target_date,
                a.earliest,
                a.latest,
                _moment(a.planned_start),
                a.intervention,
                a.dose_per_kg.value if a.dose_per_kg is not None else None,
                a.ordered_dose.value if a.ordered_dose is not None else None,
                a.placebo_volume.value if a.placebo_volume is not None else None,
                bag,
            )
        )
    assessments = [
        (
            a.name,
            _moment(a.due),
            a.due_date,
            a.after,
            a.offset,
            a.measures,
            a.source,
            a.administration_sequence,
        )
        for a in plan.assessments
    ]
    return plan.protocol_id, plan.arm, plan.anchor_date, plan.weight.value, administrations, assessments
