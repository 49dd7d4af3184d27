"""One test per hard stop: every refusal names the field to fix and the rule it enforces."""

from datetime import date
from decimal import Decimal

import pytest

from dosing.catalog import get_protocol
from dosing.dose import prepare
from dosing.errors import DosingError, HardStop, UnitError
from dosing.protocol import StudyStatus
from dosing.units import (
    AmountUnit,
    Concentration,
    parse_amount,
    parse_concentration,
    parse_percent,
    parse_weight,
)
from tests.unit.helpers import plan

CELLS = AmountUnit.CELLS


def refused(error_type, call, *args, **kwargs):
    with pytest.raises(error_type) as info:
        call(*args, **kwargs)
    return info.value


# --- weight ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["0 kg", "0kg", "-5 kg"])
def test_weight_of_zero_or_less_is_refused(text):
    error = refused(UnitError, parse_weight, text)
    assert (error.field, error.rule) == ("weight", "weight > 0 kg")


def test_62_lbs_is_refused_unless_pounds_are_allowed_explicitly():
    error = refused(UnitError, parse_weight, "62 lbs")
    assert (error.field, error.rule) == ("weight", "weight in kg")
    assert "--allow-pounds" in error.message
    # 62 lb x 0.45359237 kg/lb, exactly
    assert parse_weight("62 lbs", allow_pounds=True).value == Decimal("28.12272694")


def test_weight_without_a_unit_is_refused():
    error = refused(UnitError, parse_weight, "62")
    assert (error.field, error.rule) == ("weight", "weight in kg")
    assert "no unit" in error.message


def test_unknown_weight_unit_is_refused():
    error = refused(UnitError, parse_weight, "62 st")
    assert (error.field, error.rule) == ("weight", "weight in kg")


def test_msc_aclf_weekly_refuses_a_patient_below_the_50_kg_inclusion_limit():
    error = refused(HardStop, plan, "MSC-ACLF-WEEKLY", "msc", weight="49.9 kg", dose_per_kg="5e5 cells/kg")
    assert error.field == "weight"
    assert error.rule == "weight >= 50 kg (inclusion criteria)"
    # exactly 50 kg is included
    assert plan("MSC-ACLF-WEEKLY", "msc", weight="50 kg", dose_per_kg="5e5 cells/kg").administrations


# --- arm and site --------------------------------------------------------------------------------------


def test_unknown_arm_is_refused_listing_the_protocol_arms():
    error = refused(DosingError, plan, "NCT04822922", "medium")
    assert error.field == "arm"
    assert error.rule == "one of the protocol's arms (low, middle, high)"


def test_unknown_site_is_refused_listing_the_protocol_sites():
    error = refused(DosingError, plan, "NCT04822922", "middle", site="renji-beijing")
    assert error.field == "site"
    assert error.rule == "one of the protocol's sites (renji-shanghai)"


# --- dose per kg ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("per_kg", ["0.9 x10^5 cells/kg", "10.1 x10^5 cells/kg", "1 x10^7 cells/kg"])
def test_dose_per_kg_outside_the_protocol_range_is_a_hard_stop(per_kg):
    error = refused(HardStop, plan, "MSC-ACLF-WEEKLY", "msc", dose_per_kg=per_kg)
    assert error.field == "dose per kg"
    assert error.rule == "within the protocol's range 1 x10^5 cells/kg to 1 x10^6 cells/kg"


def test_range_protocol_without_a_chosen_dose_per_kg_is_a_hard_stop():
    error = refused(HardStop, plan, "MSC-ACLF-WEEKLY", "msc")
    assert error.field == "dose per kg"
    assert "chosen per patient" in error.rule


def test_dose_per_kg_differing_from_the_arm_fixed_level_is_a_hard_stop():
    error = refused(HardStop, plan, "NCT04822922", "high", dose_per_kg="8 x10^5 cells/kg")
    assert error.field == "dose per kg"
    assert error.rule == "arm high fixes the dose at 1.2 x10^6 cells/kg"
    # the same level written another way is the same dose
    assert plan("NCT04822922", "high", dose_per_kg="1.2e6 cells/kg").administrations


def test_dose_per_kg_on_a_fixed_amount_arm_is_a_hard_stop():
    error = refused(HardStop, plan, "SYSU3-MSCEV-LT", "msc-ev", dose_per_kg="1e8 particles/kg")
    assert (error.field, error.rule) == ("dose per kg", "arm msc-ev is not dosed per kg")


# --- the lot: concentration and viability ------------------------------------------------------------


@pytest.mark.parametrize("text", ["0 cells/mL", "-2e6 cells/mL"])
def test_lot_concentration_of_zero_or_less_is_refused_when_typed(text):
    error = refused(UnitError, parse_concentration, text)
    assert (error.field, error.rule) == ("concentration", "concentration > 0")


@pytest.mark.parametrize("value", [Decimal(0), Decimal("-2E+6")])
def test_prepare_refuses_a_concentration_of_zero_or_less_even_if_built_without_validation(value):
    protocol = get_protocol("NCT04822922")
    error = refused(
        HardStop,
        prepare,
        parse_amount("7.44e7 cells"),
        concentration=Concentration.model_construct(value=value, amount_unit=CELLS),
        viability=parse_percent("95%"),
        doses_viable_cells=True,
        preparation=protocol.preparation,
        concentration_source="test",
    )
    assert (error.field, error.rule) == ("concentration", "concentration > 0")


def test_lot_counted_in_another_unit_is_a_hard_stop():
    error = refused(HardStop, plan, "NCT04822922", "high", concentration="1 mg/mL")
    assert (error.field, error.rule) == ("concentration", "lot concentration in the dose's unit")


@pytest.mark.parametrize("viability", ["0%", "100.1%", "150%", "-5%"])
def test_viability_of_zero_or_above_100_percent_is_a_hard_stop(viability):
    error = refused(HardStop, plan, "NCT04822922", "high", concentration="2e6 cells/mL", viability=viability)
    assert (error.field, error.rule) == ("viability", "0% < viability <= 100%")


def test_viability_of_exactly_100_percent_is_allowed():
    prep = plan("NCT04822922", "high", concentration="2e6 cells/mL", viability="100%").administrations[0]
    assert prep.preparation.volume_to_draw.value == Decimal("37.2")


# --- volumes and rounding ---------------------------------------------------------------------------


def _no_range():
    """NCT05871463 without its plausible concentration range (issue 9), to reach the arithmetic's own
    stops: 100 mg/mL is refused as implausible before any volume is computed."""
    protocol = get_protocol("NCT05871463")
    return protocol.model_copy(
        update={"product": protocol.product.model_copy(update={"concentration_range": None})}
    )


def test_an_implausible_exosome_concentration_is_refused_before_any_volume():
    error = refused(HardStop, plan, "NCT05871463", "exosome", concentration="100 mg/mL")
    assert (error.field, error.rule) == (
        "concentration",
        "UC-MSC exosomes lots are 0.05 mg/mL to 20 mg/mL (protocol product.concentration_range)",
    )


def test_draw_larger_than_the_final_volume_is_a_hard_stop():
    # 7.44 x10^7 cells from a 1 x10^5/mL lot at 95% would be 783.2 mL, more than the 100 mL bag.
    error = refused(HardStop, plan, "NCT04822922", "high", concentration="1e5 cells/mL", viability="95%")
    assert error.field == "volume to draw"
    assert error.rule == "volume to draw <= final volume 100 mL"


def test_rounding_that_moves_the_dose_beyond_the_10_percent_tolerance_is_a_hard_stop():
    # 13.4 mg from a 100 mg/mL lot is 0.134 mL; drawn as 0.1 mL it delivers 10 mg, 25.4% short.
    error = refused(HardStop, plan, "NCT05871463", "exosome", concentration="100 mg/mL", protocol=_no_range())
    assert error.field == "volume to draw"
    assert error.rule == "delivered dose within 10% of the ordered dose"
    assert "-25.37%" in error.message


def test_a_draw_that_rounds_to_nothing_is_a_hard_stop():
    error = refused(
        HardStop, plan, "NCT05871463", "exosome", concentration="1000 mg/mL", protocol=_no_range()
    )
    assert error.field == "volume to draw"
    assert error.rule == "at least one measurable increment (0.1 mL)"


# --- the study ------------------------------------------------------------------------------------------


def test_withdrawn_study_is_a_hard_stop():
    error = refused(HardStop, plan, "NCT05940610", "msc-ev", anchor=date(2026, 12, 1))
    assert error.field == "study status"
    assert "withdrawn" in error.rule


@pytest.mark.parametrize("status", ["completed", "terminated", "suspended", "active_not_recruiting"])
def test_a_closed_study_takes_no_new_patients(status):
    closed = get_protocol("NCT04822922").model_copy(update={"status": StudyStatus(status)})
    error = refused(HardStop, plan, "NCT04822922", "middle", protocol=closed)
    assert error.field == "study status"
