"""A patient's plan: every planned administration with its window, dose and preparation, and every
follow-up assessment, from protocol + arm + weight + anchor date + site.
"""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from functools import lru_cache
from typing import Any, Literal, TypeVar

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
from dosing.protocol import Arm, ArmRole, Protocol, Site, TotalSplit
from dosing.schedule import (
    add_days,
    days_from_anchor,
    due_and_day,
    local_anchor_date,
    local_start,
    study_day_label,
    window_offsets,
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


_Model = TypeVar("_Model", bound=BaseModel)


def _trusted(cls: type[_Model], fields_set: set[str], values: dict[str, Any]) -> _Model:
    """An instance of ``cls`` from values that already are what its validation would return.

    What ``model_construct`` does, without its per-field loop: the plan builds ~20 of these per
    patient from values the protocol, the units and the schedule have validated, and re-validating
    them was most of the planning time. ``fields_set`` is shared by all instances (pydantic copies it
    before changing it in ``model_copy``). tests/unit/test_plan_fast_path.py checks every instance
    equals its validated twin, field types included.
    """
    instance = cls.__new__(cls)
    object.__setattr__(instance, "__dict__", values)
    object.__setattr__(instance, "__pydantic_fields_set__", fields_set)
    object.__setattr__(instance, "__pydantic_extra__", None)
    object.__setattr__(instance, "__pydantic_private__", None)
    return instance


_ADMINISTRATION_FIELDS = set(PlannedAdministration.model_fields)
_ASSESSMENT_FIELDS = set(PlannedAssessment.model_fields)
_PLAN_FIELDS = set(PatientPlan.model_fields)

#: (sequence, label, study day, days from the anchor to target, earliest, latest) per administration.
_DayOffsets = tuple[tuple[int, str, str, int, int, int], ...]
#: The exact text of everything a bag depends on besides the protocol (Decimal("62") equals
#: Decimal("62.0") but prints differently, so values are keyed by their text, never by equality).
_BagKey = tuple[str, str, str, str, str | None, str]


class _Derived:
    """Values computed once per protocol object and shared by all its patients' plans."""

    def __init__(self, protocol: Protocol) -> None:
        self.protocol = protocol  # kept alive by this entry, so its id is not reused while cached
        self.day_offsets: dict[str, _DayOffsets] = {}
        self.route = f"{protocol.route.code} ({protocol.route.description})"
        #: Bags are frozen values: patients given the same dose from the same lot share one.
        self.bags: dict[_BagKey, PreparationFigures] = {}
        #: The assessments of the patients anchored on one day at one site (with administrations
        #: or without): see _anchored_assessments.
        self.assessments: dict[tuple[str, date, bool], tuple[PlannedAssessment, ...]] = {}
        #: Per follow-up: (name, after, measures, source, offsets with their text). ``measures`` is
        #: one list per follow-up shared by every assessment planned from it (a copy, so no plan
        #: shares a list with the protocol): plans are frozen values, and a list per assessment was
        #: a fifth of the objects the garbage collector tracked while planning thousands of patients.
        self.follow_ups = [
            (f.name, f.after, list(f.measures), f.source, [(o, o.describe()) for o in f.offsets])
            for f in protocol.follow_up
        ]


_DERIVED: dict[int, _Derived] = {}


def _derived(protocol: Protocol) -> _Derived:
    entry = _DERIVED.get(id(protocol))
    if entry is None or entry.protocol is not protocol:
        if len(_DERIVED) >= 64:  # protocols are few; a long-running process may load many versions
            _DERIVED.clear()
        entry = _DERIVED[id(protocol)] = _Derived(protocol)
    return entry


def _day_offsets(protocol: Protocol, site: Site) -> _DayOffsets:
    """What :func:`dosing.schedule.planned_dates` computes, less the anchor: the same for every
    patient of the protocol at the site, so computed once."""
    by_site = _derived(protocol).day_offsets
    offsets = by_site.get(site.id)
    if offsets is None:
        numbering = protocol.anchor.day_numbering
        offsets = by_site[site.id] = tuple(
            (
                sequence,
                spec.label,
                study_day_label(spec, numbering),
                days_from_anchor(spec, numbering),
                *window_offsets(spec, numbering, site.default_window),
            )
            for sequence, spec in enumerate(protocol.administrations, start=1)
        )
    return offsets


def _bag(
    protocol: Protocol, dose: Amount, concentration: Concentration, viability: Percent | None, source: str
) -> PreparationFigures:
    """:func:`dosing.dose.prepare` for the protocol's preparation rules, once per distinct bag."""
    bags = _derived(protocol).bags
    key = (
        str(dose.value),
        dose.unit.value,
        str(concentration.value),
        concentration.amount_unit.value,
        None if viability is None else str(viability.value),
        source,
    )
    figures = bags.get(key)
    if figures is None:
        figures = prepare(
            dose,
            concentration=concentration,
            viability=viability,
            doses_viable_cells=protocol.product.doses_viable_cells,
            preparation=protocol.preparation,
            concentration_source=source,
        )
        if len(bags) >= 16384:
            bags.clear()
        bags[key] = figures
    return figures


def check_study_takes_patients(protocol: Protocol) -> None:
    if not protocol.status.takes_enrollments:
        raise HardStop(
            "study status",
            "a study that is withdrawn, completed, terminated, suspended or closed takes no new patients",
            f"{protocol.id} is {protocol.status.value}",
        )


def _lot_figures(protocol: Protocol, inputs: PatientInputs) -> tuple[Concentration, Percent | None, str]:
    product = protocol.product
    if inputs.concentration is not None:
        viability = inputs.viability
        return inputs.concentration, viability, "lot given for this plan"
    if product.reference_concentration is None:
        raise HardStop(
            "concentration",
            "a lot concentration, or a reference concentration in the protocol",
            f"{protocol.id} has no reference lot; give the lot's concentration",
        )
    reference = _reference_lot(product.reference_concentration)
    viability = inputs.viability if inputs.viability is not None else product.reference_viability
    return reference, viability, "protocol reference lot (planning only; the worksheet uses the real lot)"


@lru_cache(maxsize=64)
def _reference_lot(text: str) -> Concentration:
    # The protocol's reference lot is the same text for every patient: parse it once.
    return parse_concentration(text, field="product.reference_concentration")


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
    derived = _derived(protocol)
    dates = _day_offsets(protocol, site)
    per_kg = dose_per_kg_for(arm, inputs.dose_per_kg) if arm.dose is not None else None

    administrations: list[PlannedAdministration] = []
    if arm.receives_administrations:
        lot = _lot_figures(protocol, inputs) if arm.dose is not None and inputs.include_preparation else None
        # The same dose from the same lot makes the same bag: compute each distinct bag once.
        bags: dict[tuple[Decimal, str], PreparationFigures] = {}
        intervention = "product" if arm.dose is not None else "placebo"
        placebo_volume = arm.placebo.volume if arm.placebo is not None else None
        # Only a listed split orders a different amount per administration; every other rule orders
        # the same dose each time, so compute it once (one Amount shared by the patient's doses).
        same_each_time = not (isinstance(arm.dose, TotalSplit) and arm.dose.split == "listed")
        each_time: Amount | None = None
        for index, (sequence, label, study_day, target, earliest, latest) in enumerate(dates):
            dose = preparation = None
            if arm.dose is not None:
                if each_time is not None:
                    dose = each_time
                else:
                    dose = ordered_dose(
                        arm, weight=inputs.weight, dose_per_kg=per_kg, index=index, count=len(dates)
                    )
                    if same_each_time:
                        each_time = dose
            if dose is not None and lot is not None:
                concentration, viability, source = lot
                key = (dose.value, dose.unit.value)
                if key not in bags:
                    bags[key] = _bag(protocol, dose, concentration, viability, source)
                preparation = bags[key]
            target_date = add_days(anchor_day, target)
            administrations.append(
                _trusted(
                    PlannedAdministration,
                    _ADMINISTRATION_FIELDS,
                    {
                        "sequence": sequence,
                        "label": label,
                        "study_day": study_day,
                        "target_date": target_date,
                        "earliest": add_days(anchor_day, earliest),
                        "latest": add_days(anchor_day, latest),
                        "planned_start": local_start(target_date, site.infusion_time, site.timezone),
                        "intervention": intervention,
                        "dose_per_kg": per_kg,
                        "ordered_dose": dose,
                        "placebo_volume": placebo_volume,
                        "preparation": preparation,
                    },
                )
            )

    return _trusted(
        PatientPlan,
        _PLAN_FIELDS,
        {
            "protocol_id": protocol.id,
            "registry_id": protocol.registry_id,
            "arm": arm.id,
            "arm_role": arm.role,
            "site": site.id,
            "timezone": site.timezone,
            "anchor_event": protocol.anchor.event.value,
            "anchor_date": anchor_day,
            "day_numbering": protocol.anchor.day_numbering.value,
            "weight": inputs.weight,
            "weight_measured_on": inputs.weight_measured_on,
            "product": protocol.product.name
            if arm.dose is not None
            else (arm.placebo.name if arm.placebo else "none"),
            "route": derived.route,
            "administrations": administrations,
            "assessments": _anchored_assessments(protocol, site, anchor_day, administrations),
            "warnings": warnings,
        },
    )


def _anchored_assessments(
    protocol: Protocol, site: Site, anchor_day: date, administrations: list[PlannedAdministration]
) -> list[PlannedAssessment]:
    """:func:`plan_assessments` for administrations planned from the anchor (not rescheduled).

    Their dates and starts depend only on the protocol, the site and the anchor day, so every patient
    of the protocol at the site anchored on that day has the same assessments: frozen values, built
    once and shared (each plan gets its own list).
    """
    key = (site.id, anchor_day, bool(administrations))
    cached = _derived(protocol).assessments
    shared = cached.get(key)
    if shared is None:
        shared = tuple(
            plan_assessments(protocol, anchor_day, site.infusion_time, site.timezone, administrations)
        )
        if len(cached) >= 20_000:
            cached.clear()
        cached[key] = shared
    return list(shared)


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
    for name, after, measures, source, offsets in _derived(protocol).follow_ups:
        starts: list[tuple[int | None, pendulum.DateTime]]
        if after == "anchor":
            starts = [(None, anchor_start)]
        elif after == "each_administration":
            starts = [(a.sequence, _start_of(a, infusion_time, timezone)) for a in administrations]
        else:
            last = administrations[-1:] if administrations else []
            starts = [(a.sequence, _start_of(a, infusion_time, timezone)) for a in last]
        for sequence, start in starts:
            for offset, offset_text in offsets:
                due, due_date = due_and_day(start, offset)
                assessments.append(
                    _trusted(
                        PlannedAssessment,
                        _ASSESSMENT_FIELDS,
                        {
                            "name": name,
                            "due": due,
                            "due_date": due_date,
                            "after": after,
                            "offset": offset_text,
                            "measures": measures,
                            "source": source,
                            "administration_sequence": sequence,
                        },
                    )
                )
    assessments.sort(key=lambda assessment: (assessment.due, assessment.name))
    return assessments
