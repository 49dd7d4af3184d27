"""Invariants that must hold for any patient, lot and date, checked with hypothesis."""

from datetime import UTC, date, datetime, time
from decimal import Decimal
from itertools import pairwise
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from dosing.catalog import get_protocol
from dosing.dose import dose_per_kg_for, ordered_dose, prepare
from dosing.errors import HardStop
from dosing.units import Amount, AmountUnit, Concentration, Percent, Weight
from tests.unit.helpers import in_zone, plan

FAST = settings(max_examples=60, deadline=None)

MSC = get_protocol("NCT04822922")
ZONES = ["Europe/London", "America/New_York", "Asia/Shanghai", "Asia/Tehran"]


def decimals(low, high, places):
    return st.decimals(min_value=Decimal(low), max_value=Decimal(high), places=places)


cells = st.builds(
    lambda mantissa, exponent: Decimal(mantissa).scaleb(exponent), decimals("1", "9.99", 2), st.integers(5, 9)
)
lots = st.builds(
    lambda mantissa, exponent: Decimal(mantissa).scaleb(exponent), decimals("1", "9.99", 2), st.integers(4, 8)
)
viabilities = decimals("50", "100", 1)
weights = decimals("30", "250", 2)


@FAST
@given(dose=cells, lot=lots, viability=viabilities)
def test_any_bag_either_adds_up_exactly_and_stays_within_tolerance_or_is_a_hard_stop(dose, lot, viability):
    try:
        figures = prepare(
            Amount(value=dose, unit=AmountUnit.CELLS),
            concentration=Concentration(value=lot, amount_unit=AmountUnit.CELLS),
            viability=Percent(value=viability),
            doses_viable_cells=True,
            preparation=MSC.preparation,
            concentration_source="hypothesis",
        )
    except HardStop as stop:
        assert stop.field == "volume to draw"
        return
    # draw + diluent == final volume, exactly (Decimal, no binary rounding)
    assert figures.volume_to_draw.value + figures.diluent.value == figures.final_volume.value == 100
    # the draw is a whole number of 0.1 mL steps
    assert figures.volume_to_draw.value % Decimal("0.1") == 0
    assert figures.volume_to_draw.value > 0
    # what is delivered is what is drawn, and it is within the 10% tolerance of the order
    assert (
        figures.delivered_dose.value == figures.effective_concentration.value * figures.volume_to_draw.value
    )
    assert abs(figures.delivered_dose.value - dose) <= dose * Decimal("0.10")
    # rounding half up to 0.1 mL is never more than half a step off the exact volume
    assert abs(figures.volume_to_draw.value - figures.exact_volume.value) <= Decimal("0.05")


@FAST
@given(weight=weights, factor=st.integers(2, 5), arm=st.sampled_from(["low", "middle", "high"]))
def test_a_per_kg_dose_scales_linearly_with_weight(weight, factor, arm):
    chosen_arm = MSC.arm(arm)
    per_kg = dose_per_kg_for(chosen_arm, None)

    def dose(kg):
        return ordered_dose(chosen_arm, weight=Weight(value=kg), dose_per_kg=per_kg, index=0, count=4).value

    assert dose(weight * factor) == dose(weight) * factor
    assert dose(weight) == per_kg.value * weight


@FAST
@given(weight=decimals("50", "250", 2), per_kg=decimals("1", "10", 1))
def test_a_range_dose_is_the_chosen_level_times_the_weight_for_every_infusion(weight, per_kg):
    doses = plan(
        "MSC-ACLF-WEEKLY", "msc", weight=f"{weight} kg", dose_per_kg=f"{per_kg} x10^5 cells/kg"
    ).administrations
    assert {d.ordered_dose.value for d in doses} == {per_kg.scaleb(5) * weight}


# --- dates ---------------------------------------------------------------------------------------------

anchors = st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31))
zones = st.sampled_from(ZONES)
wall_times = st.builds(time, st.integers(0, 23), st.sampled_from([0, 30]))


def in_gap(day, at, zone):
    """A wall-clock time that does not exist in the zone (clocks jump over it)."""
    naive = datetime.combine(day, at).replace(tzinfo=ZoneInfo(zone))
    round_trip = naive.astimezone(UTC).astimezone(ZoneInfo(zone))
    return round_trip.replace(tzinfo=None) != naive.replace(tzinfo=None)


@FAST
@given(anchor=anchors, zone=zones, at=wall_times)
def test_weekly_targets_are_7_calendar_days_apart_inside_their_windows_at_the_site_hour(anchor, zone, at):
    protocol = in_zone(get_protocol("MSC-ACLF-WEEKLY"), zone, infusion_time=at)
    doses = plan("", "msc", anchor=anchor, dose_per_kg="5e5 cells/kg", protocol=protocol).administrations
    assert doses[0].target_date == anchor
    assert [(b.target_date - a.target_date).days for a, b in pairwise(doses)] == [7, 7, 7]
    for dose in doses:
        assert dose.earliest <= dose.target_date <= dose.latest
        start = dose.planned_start
        assert start.date() == dose.target_date
        if in_gap(dose.target_date, at, zone):
            assert (start.hour, start.minute) > (at.hour, at.minute)
        else:
            assert (start.hour, start.minute) == (at.hour, at.minute)
        assert start.utcoffset() == ZoneInfo(zone).utcoffset(start.replace(tzinfo=None))


@FAST
@given(
    anchor=anchors,
    zone=zones,
    protocol_id=st.sampled_from(["NCT04822922", "SYSU3-MSCEV-LT", "NCT05871463"]),
)
def test_every_planned_dose_is_inside_its_window_and_every_follow_up_after_the_anchor(
    anchor, zone, protocol_id
):
    protocol = in_zone(get_protocol(protocol_id), zone)
    arm = next(a.id for a in protocol.arms if a.dose is not None)
    patient = plan("", arm, anchor=anchor, protocol=protocol)
    site_time = protocol.sites[0].infusion_time
    for dose in patient.administrations:
        assert dose.earliest <= dose.target_date <= dose.latest
        assert dose.target_date >= anchor
        assert (dose.planned_start.hour, dose.planned_start.minute) == (site_time.hour, site_time.minute)
    for assessment in patient.assessments:
        assert assessment.due_date >= anchor
    assert [a.due for a in patient.assessments] == sorted(a.due for a in patient.assessments)
