"""The planning core as it was before issue 15 (validated pydantic models, no caches): the plain
path the fast one is tested equal to (tests/unit/test_plan_fast_path.py). Test-only; never imported
by the engine.
"""

from __future__ import annotations

from calendar import monthrange
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pendulum
from pendulum.tz.timezone import Timezone

from dosing.dose import (
    PreparationFigures,
    check_weight,
    dose_per_kg_for,
    ordered_dose,
    prepare,
    weight_change_warning,
)
from dosing.plan import (
    PatientInputs,
    PatientPlan,
    PlannedAdministration,
    PlannedAssessment,
    _lot_figures,
    check_study_takes_patients,
)
from dosing.protocol import AdministrationSpec, Arm, DayNumbering, Offset, Protocol, WindowDays
from dosing.schedule import (
    AdministrationDates,
    days_from_anchor,
    local_anchor_date,
    study_day_label,
    window_offsets,
)


def describe(offset: Offset) -> str:
    parts = [
        f"{n} {unit}"
        for n, unit in ((offset.months, "months"), (offset.days, "days"), (offset.hours, "h"))
        if n
    ]
    return " ".join(parts) or "0 days"


def _zone(name: str) -> Timezone:
    zone = pendulum.timezone(name)
    assert isinstance(zone, Timezone)
    return zone


def add_days(day: date, days: int) -> date:
    moved = day + timedelta(days=days)
    return date(moved.year, moved.month, moved.day)


def _add_months(day: date, months: int) -> date:
    year, month = divmod(day.month - 1 + months, 12)
    year += day.year
    return date(year, month + 1, min(day.day, monthrange(year, month + 1)[1]))


def _resolve(naive: datetime, zone: Timezone) -> pendulum.DateTime:
    return _resolve_instant(naive.replace(tzinfo=zone, fold=0).astimezone(UTC), zone)


def _resolve_instant(moment: datetime, zone: Timezone) -> pendulum.DateTime:
    local = moment.astimezone(zone)
    return pendulum.DateTime(
        local.year,
        local.month,
        local.day,
        local.hour,
        local.minute,
        local.second,
        local.microsecond,
        tzinfo=zone,
        fold=local.fold,
    )


def planned_dates(
    administrations: list[AdministrationSpec],
    numbering: DayNumbering,
    anchor: date,
    site_default: WindowDays,
) -> list[AdministrationDates]:
    planned = []
    for sequence, spec in enumerate(administrations, start=1):
        target = days_from_anchor(spec, numbering)
        earliest, latest = window_offsets(spec, numbering, site_default)
        planned.append(
            AdministrationDates(
                sequence=sequence,
                label=spec.label,
                study_day=study_day_label(spec, numbering),
                target_date=add_days(anchor, target),
                earliest=add_days(anchor, earliest),
                latest=add_days(anchor, latest),
            )
        )
    return planned


def local_start(day: date, at: time, timezone: str) -> pendulum.DateTime:
    return _resolve(datetime(day.year, day.month, day.day, at.hour, at.minute), _zone(timezone))


def offset_date(start: date, offset: Offset) -> date:
    return add_days(_add_months(start, offset.months), offset.days)


def offset_datetime(start: pendulum.DateTime, offset: Offset) -> pendulum.DateTime:
    zone = start.tzinfo
    if not isinstance(zone, Timezone):
        return start.add(months=offset.months, days=offset.days).add(hours=offset.hours)
    moved = start
    if offset.months or offset.days:
        day = offset_date(start.date(), offset)
        moved = _resolve(datetime.combine(day, start.time()), zone)
    if offset.hours:
        later = datetime.fromtimestamp(moved.timestamp() + offset.hours * 3600, UTC)
        moved = _resolve_instant(later, zone)
    return moved


def plan_patient(protocol: Protocol, inputs: PatientInputs) -> PatientPlan:
    """The whole plan for one patient, or a HardStop naming the field and the rule."""
    check_study_takes_patients(protocol)
    arm: Arm = protocol.arm(inputs.arm)
    site = protocol.site(inputs.site)
    check_weight(inputs.weight, protocol.eligibility)
    warnings = []
    if inputs.enrollment_weight is not None:
        warning = weight_change_warning(
            inputs.enrollment_weight, inputs.weight, protocol.preparation.weight_change_alert
        )
        if warning is not None:
            warnings.append(warning)

    anchor_day = local_anchor_date(inputs.anchor, site.timezone)
    dates = planned_dates(
        protocol.administrations, protocol.anchor.day_numbering, anchor_day, site.default_window
    )
    per_kg = dose_per_kg_for(arm, inputs.dose_per_kg) if arm.dose is not None else None

    administrations: list[PlannedAdministration] = []
    if arm.receives_administrations:
        lot = _lot_figures(protocol, inputs) if arm.dose is not None and inputs.include_preparation else None
        # The same dose from the same lot makes the same bag: compute each distinct bag once.
        bags: dict[tuple[Decimal, str], PreparationFigures] = {}
        for index, day in enumerate(dates):
            dose = preparation = None
            if arm.dose is not None:
                dose = ordered_dose(
                    arm, weight=inputs.weight, dose_per_kg=per_kg, index=index, count=len(dates)
                )
            if dose is not None and lot is not None:
                concentration, viability, source = lot
                key = (dose.value, dose.unit.value)
                if key not in bags:
                    bags[key] = prepare(
                        dose,
                        concentration=concentration,
                        viability=viability,
                        doses_viable_cells=protocol.product.doses_viable_cells,
                        preparation=protocol.preparation,
                        concentration_source=source,
                    )
                preparation = bags[key]
            administrations.append(
                PlannedAdministration(
                    sequence=day.sequence,
                    label=day.label,
                    study_day=day.study_day,
                    target_date=day.target_date,
                    earliest=day.earliest,
                    latest=day.latest,
                    planned_start=local_start(day.target_date, site.infusion_time, site.timezone),
                    intervention="product" if arm.dose is not None else "placebo",
                    dose_per_kg=per_kg,
                    ordered_dose=dose,
                    placebo_volume=arm.placebo.volume if arm.placebo is not None else None,
                    preparation=preparation,
                )
            )

    return PatientPlan(
        protocol_id=protocol.id,
        registry_id=protocol.registry_id,
        arm=arm.id,
        arm_role=arm.role,
        site=site.id,
        timezone=site.timezone,
        anchor_event=protocol.anchor.event.value,
        anchor_date=anchor_day,
        day_numbering=protocol.anchor.day_numbering.value,
        weight=inputs.weight,
        weight_measured_on=inputs.weight_measured_on,
        product=protocol.product.name
        if arm.dose is not None
        else (arm.placebo.name if arm.placebo else "none"),
        route=f"{protocol.route.code} ({protocol.route.description})",
        administrations=administrations,
        assessments=plan_assessments(
            protocol, anchor_day, site.infusion_time, site.timezone, administrations
        ),
        warnings=warnings,
    )


def _start_of(administration: PlannedAdministration, infusion_time: time, timezone: str) -> pendulum.DateTime:
    start = administration.planned_start
    if isinstance(start, pendulum.DateTime):  # already local_start(target_date, infusion_time, timezone)
        return start
    return local_start(administration.target_date, infusion_time, timezone)


def plan_assessments(
    protocol: Protocol,
    anchor_day: date,
    infusion_time: time,
    timezone: str,
    administrations: list[PlannedAdministration],
) -> list[PlannedAssessment]:
    anchor_start = local_start(anchor_day, infusion_time, timezone)
    assessments: list[PlannedAssessment] = []
    for follow_up in protocol.follow_up:
        starts: list[tuple[int | None, pendulum.DateTime]]
        if follow_up.after == "anchor":
            starts = [(None, anchor_start)]
        elif follow_up.after == "each_administration":
            starts = [(a.sequence, _start_of(a, infusion_time, timezone)) for a in administrations]
        else:
            last = administrations[-1:] if administrations else []
            starts = [(a.sequence, _start_of(a, infusion_time, timezone)) for a in last]
        for sequence, start in starts:
            for offset in follow_up.offsets:
                due = offset_datetime(start, offset)
                assessments.append(
                    PlannedAssessment(
                        name=follow_up.name,
                        due=due,
                        due_date=date(due.year, due.month, due.day),
                        after=follow_up.after,
                        offset=describe(offset),
                        measures=follow_up.measures,
                        source=follow_up.source,
                        administration_sequence=sequence,
                    )
                )
    assessments.sort(key=lambda assessment: (assessment.due, assessment.name))
    return assessments
