"""A patient's plan: every planned administration with its window, dose and preparation, and every
follow-up assessment, from protocol + arm + weight + anchor date + site.
"""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from functools import lru_cache
from typing import Literal

import pendulum
from pydantic import BaseModel, ConfigDict, Field

from dosing.dose import (
    PreparationFigures,
    check_weight,
    dose_per_kg_for,
    ordered_dose,
    prepare,
    weight_change_warning,
)
from dosing.errors import DoseWarning, HardStop
from dosing.plausibility import DEFAULT_LIMITS, SiteLimits, check_body_weight, check_year
from dosing.protocol import Arm, ArmRole, Protocol
from dosing.schedule import (
    local_anchor_date,
    local_start,
    offset_datetime,
    planned_dates,
)
from dosing.units import Amount, Concentration, DosePerKg, Percent, Volume, Weight, parse_concentration


class PatientInputs(BaseModel):
    """What the pharmacy or the coordinator knows about one patient at planning time."""

    model_config = ConfigDict(frozen=True)

    arm: str
    weight: Weight
    weight_measured_on: date | None = None
    anchor: date | datetime
    site: str | None = None
    #: Only for protocols whose dose per kg is chosen per patient within a range.
    dose_per_kg: DosePerKg | None = None
    #: The lot to draw from; the protocol's reference lot is used for planning when absent.
    concentration: Concentration | None = None
    viability: Percent | None = None
    #: The weight at enrollment, to flag a change before a dose.
    enrollment_weight: Weight | None = None
    #: Bag figures (volume to draw, diluent) need a lot. Enrollment stores doses and dates only: the
    #: real lot is chosen at preparation, so a nominal lot must not refuse a patient.
    include_preparation: bool = True


class PlannedAdministration(BaseModel):
    model_config = ConfigDict(frozen=True)

    sequence: int
    label: str
    study_day: str
    target_date: date
    earliest: date
    latest: date
    planned_start: datetime = Field(description="Local start on the target day, with the site's offset.")
    intervention: Literal["product", "placebo"]
    dose_per_kg: DosePerKg | None
    ordered_dose: Amount | None
    placebo_volume: Volume | None = None
    preparation: PreparationFigures | None


class PlannedAssessment(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    due: datetime
    due_date: date
    after: str
    offset: str
    measures: list[str]
    source: str
    administration_sequence: int | None = None


class PatientPlan(BaseModel):
    model_config = ConfigDict(frozen=True)

    protocol_id: str
    registry_id: str | None
    arm: str
    arm_role: ArmRole
    site: str
    timezone: str
    anchor_event: str
    anchor_date: date
    day_numbering: str
    weight: Weight
    weight_measured_on: date | None
    product: str
    route: str
    administrations: list[PlannedAdministration]
    assessments: list[PlannedAssessment]
    warnings: list[DoseWarning]


def check_study_takes_patients(protocol: Protocol) -> None:
    if not protocol.takes_enrollments:
        opened = (
            "; the site has not recorded a decision to open it (protocol enrollment_opening)"
            if protocol.status.site_may_open
            else ""
        )
        raise HardStop(
            "study status",
            "a study that is withdrawn, completed, terminated, suspended or not recruiting takes no new "
            "patients; unknown or not yet recruiting only with the site's recorded enrollment_opening",
            f"{protocol.id} is {protocol.status.value}{opened}",
        )


def _lot_figures(protocol: Protocol, inputs: PatientInputs) -> tuple[Concentration, Percent | None, str]:
    product = protocol.product
    if inputs.concentration is not None:
        viability = inputs.viability
        product.check_concentration(inputs.concentration)
        product.check_viability(viability)
        return inputs.concentration, viability, "lot given for this plan"
    if product.reference_concentration is None:
        raise HardStop(
            "concentration",
            "a lot concentration, or a reference concentration in the protocol",
            f"{protocol.id} has no reference lot; give the lot's concentration",
        )
    reference = _reference_lot(product.reference_concentration)
    viability = inputs.viability if inputs.viability is not None else product.reference_viability
    product.check_viability(viability)
    return reference, viability, "protocol reference lot (planning only; the worksheet uses the real lot)"


@lru_cache(maxsize=64)
def _reference_lot(text: str) -> Concentration:
    # The protocol's reference lot is the same text for every patient: parse it once.
    return parse_concentration(text, field="product.reference_concentration")


def plan_patient(
    protocol: Protocol, inputs: PatientInputs, limits: SiteLimits = DEFAULT_LIMITS
) -> PatientPlan:
    """The whole plan for one patient, or a HardStop naming the field and the rule.

    ``limits`` are the site's plausibility limits (:func:`dosing.settings.site_limits`); the adult
    weight range applies on top of the protocol's inclusion limits.
    """
    check_study_takes_patients(protocol)
    arm: Arm = protocol.arm(inputs.arm)
    site = protocol.site(inputs.site)
    check_body_weight(inputs.weight, limits)
    check_weight(inputs.weight, protocol.eligibility)
    if inputs.weight_measured_on is not None:
        check_year(inputs.weight_measured_on, "weight measured on", limits)
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
                        offset=offset.describe(),
                        measures=follow_up.measures,
                        source=follow_up.source,
                        administration_sequence=sequence,
                    )
                )
    assessments.sort(key=lambda assessment: (assessment.due, assessment.name))
    return assessments
