"""Dose arithmetic: from a protocol's dose rule and a patient's weight to the bag a pharmacist prepares.

    total dose        = dose per kg x dosing weight             (or the fixed / split amount)
    effective conc.   = lot concentration x viability           (when the protocol doses viable cells)
    volume to draw    = total dose / effective concentration, rounded to the stated increment
    diluent           = final volume - volume to draw
    delivered dose    = volume to draw x effective concentration; its deviation from the ordered dose
                        must stay within the protocol's tolerance

Every refusal is a :class:`~dosing.errors.HardStop` naming the field and the rule.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal

from pydantic import BaseModel, ConfigDict

from dosing.errors import DoseWarning, HardStop
from dosing.protocol import (
    Arm,
    Eligibility,
    FixedPerAdministration,
    PerKgFixed,
    PerKgRange,
    Preparation,
    TotalSplit,
)
from dosing.units import Amount, Concentration, DosePerKg, Percent, Volume, Weight, format_decimal

_ROUNDING_MODES = {"half_up": ROUND_HALF_UP, "half_even": ROUND_HALF_EVEN, "down": ROUND_DOWN}


class PreparationFigures(BaseModel):
    """Everything the person at the hood needs for one bag, computed, never left to them."""

    model_config = ConfigDict(frozen=True)

    ordered_dose: Amount
    concentration: Concentration
    concentration_source: str
    viability: Percent | None
    effective_concentration: Concentration
    exact_volume: Volume
    volume_to_draw: Volume
    diluent: Volume
    final_volume: Volume
    delivered_dose: Amount
    deviation: Percent
    rounding_rule: str


def dose_per_kg_for(arm: Arm, chosen: DosePerKg | None) -> DosePerKg | None:
    """The per-kg dose this patient gets on this arm; ``None`` for rules that are not weight-based.

    A range rule needs the chosen level and refuses one outside the range; a fixed level refuses a
    different one, so a typo in a command line cannot silently change a dose.
    """
    rule = arm.dose
    if isinstance(rule, PerKgRange):
        if chosen is None:
            raise HardStop(
                "dose per kg",
                f"arm {arm.id} doses {rule.minimum}-{rule.maximum}, chosen per patient",
                "choose the patient's dose per kg within the protocol's range",
            )
        if chosen.amount_unit is not rule.minimum.amount_unit:
            raise HardStop(
                "dose per kg",
                f"dose counted in {rule.minimum.amount_unit.noun}/kg",
                f"{chosen} is counted in {chosen.amount_unit.noun}",
            )
        if not rule.minimum.value <= chosen.value <= rule.maximum.value:
            raise HardStop(
                "dose per kg",
                f"within the protocol's range {rule.minimum} to {rule.maximum}",
                f"{chosen} is outside the range",
            )
        return chosen
    if isinstance(rule, PerKgFixed):
        if chosen is not None and chosen != rule.level:
            raise HardStop(
                "dose per kg",
                f"arm {arm.id} fixes the dose at {rule.level}",
                f"{chosen} differs from the protocol's level",
            )
        return rule.level
    if chosen is not None:
        raise HardStop("dose per kg", f"arm {arm.id} is not dosed per kg", f"{chosen} cannot apply")
    return None


def ordered_dose(
    arm: Arm, *, weight: Weight, dose_per_kg: DosePerKg | None, index: int, count: int
) -> Amount:
    """The dose ordered for administration ``index`` (0-based) of ``count`` on this arm."""
    rule = arm.dose
    if isinstance(rule, PerKgFixed | PerKgRange):
        if dose_per_kg is None:  # pragma: no cover - dose_per_kg_for guarantees it
            raise HardStop("dose per kg", "weight-based dose", "no dose per kg was chosen")
        return dose_per_kg * weight
    if isinstance(rule, FixedPerAdministration):
        return rule.amount
    if isinstance(rule, TotalSplit):
        if rule.split == "listed" and rule.amounts is not None:
            return rule.amounts[index]
        return Amount(value=rule.total.value / count, unit=rule.total.unit)
    raise HardStop("arm", "an arm with a product dose", f"arm {arm.id} receives no product")


def check_weight(weight: Weight, eligibility: Eligibility) -> None:
    if eligibility.weight_min is not None and weight.value < eligibility.weight_min.value:
        raise HardStop(
            "weight",
            f"weight >= {eligibility.weight_min} (inclusion criteria)",
            f"{weight} is below the inclusion limit",
        )


def weight_change_warning(enrolled: Weight, current: Weight, threshold: Percent) -> DoseWarning | None:
    """Flag a dosing weight that moved more than the threshold since enrollment."""
    change = (current.value - enrolled.value) / enrolled.value * 100
    if abs(change) > threshold.value:
        return DoseWarning(
            field="weight",
            rule=f"weight change since enrollment <= {threshold}",
            message=(
                f"{current} differs from the enrollment weight {enrolled} by "
                f"{format_decimal(change.quantize(Decimal('0.1')))}%; confirm the dosing weight"
            ),
        )
    return None


def round_volume(exact: Volume, preparation: Preparation) -> Volume:
    increment = preparation.volume_increment.value
    steps = (exact.value / increment).quantize(Decimal(1), rounding=_ROUNDING_MODES[preparation.rounding])
    return Volume(value=steps * increment)


def rounding_rule_text(preparation: Preparation) -> str:
    mode = {"half_up": "half up", "half_even": "half to even", "down": "down"}[preparation.rounding]
    return (
        f"volume to draw rounded {mode} to {preparation.volume_increment}; "
        f"delivered dose within {preparation.dose_tolerance} of ordered"
    )


def prepare(
    ordered: Amount,
    *,
    concentration: Concentration,
    viability: Percent | None,
    doses_viable_cells: bool,
    preparation: Preparation,
    concentration_source: str,
) -> PreparationFigures:
    """Volume to draw, diluent and delivered dose for one bag; refuses anything a pharmacist must not make."""
    if concentration.value <= 0:
        raise HardStop("concentration", "concentration > 0", f"{concentration} cannot supply a dose")
    if concentration.amount_unit is not ordered.unit:
        raise HardStop(
            "concentration",
            "lot concentration in the dose's unit",
            f"a dose in {ordered.unit.noun} cannot be drawn from a lot in "
            f"{concentration.amount_unit.noun}/mL",
        )
    effective = concentration
    if viability is not None and not Decimal(0) < viability.value <= Decimal(100):
        raise HardStop("viability", "0% < viability <= 100%", f"{viability} is not a possible viability")
    if doses_viable_cells:
        if viability is None:
            raise HardStop("viability", "viable-cell dosing needs the lot's post-thaw viability", "missing")
        effective = Concentration(
            value=concentration.value * viability.fraction, amount_unit=concentration.amount_unit
        )
    exact = ordered / effective
    to_draw = round_volume(exact, preparation)
    final = preparation.final_volume
    if to_draw.value <= 0:
        raise HardStop(
            "volume to draw",
            f"at least one measurable increment ({preparation.volume_increment})",
            f"{format_decimal(exact.value)} mL rounds to nothing; use a less concentrated lot",
        )
    if final < to_draw:
        raise HardStop(
            "volume to draw",
            f"volume to draw <= final volume {final}",
            f"{to_draw} of this lot exceeds the final volume; use a more concentrated lot",
        )
    delivered = effective * to_draw
    deviation = (delivered.value - ordered.value) / ordered.value * 100
    shown_deviation = format_decimal(deviation.quantize(Decimal("0.01")))
    if abs(deviation) > preparation.dose_tolerance.value:
        raise HardStop(
            "volume to draw",
            f"delivered dose within {preparation.dose_tolerance} of the ordered dose",
            f"rounding to {to_draw} delivers {delivered}, {shown_deviation}% from the ordered {ordered}",
        )
    return PreparationFigures(
        ordered_dose=ordered,
        concentration=concentration,
        concentration_source=concentration_source,
        viability=viability,
        effective_concentration=effective,
        exact_volume=exact,
        volume_to_draw=to_draw,
        diluent=final - to_draw,
        final_volume=final,
        delivered_dose=delivered,
        deviation=Percent(value=deviation.quantize(Decimal("0.001"))),
        rounding_rule=rounding_rule_text(preparation),
    )
