"""Worksheets: worked examples from the seed protocols, and the preparations they refuse."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from dosing.catalog import get_protocol
from dosing.dose import prepare
from dosing.errors import HardStop
from dosing.pharmacy.worksheet import (
    build_worksheet,
    doses_from_plan,
    latest_thaw_time,
    worksheet_with_first_expiring_lot,
)
from dosing.plan import PatientInputs, plan_patient
from dosing.units import Amount, AmountUnit, parse_dose_per_kg, parse_weight
from tests.pharmacy.examples import high_dose_62kg, make_lot

UC_MSC = get_protocol("NCT04822922")


def test_nct04822922_high_dose_62kg_from_a_2e6_lot_at_95_percent(first_dose, lot):
    sheet = build_worksheet(UC_MSC, first_dose, lot, do_not_dispense_days=2)
    p = sheet.preparation
    assert sheet.ordered_dose == Amount(value=Decimal("7.44E+7"), unit=AmountUnit.CELLS)
    assert str(sheet.ordered_dose) == "7.44 x10^7 cells"
    assert p.volume_to_draw.value == Decimal("39.2")
    assert p.diluent.value == Decimal("60.8")
    assert p.final_volume.value == Decimal("100")
    # 39.2 mL x 1.9 x10^6 viable cells/mL
    assert p.delivered_dose.value == Decimal("7.448E+7")
    assert p.deviation.value == Decimal("0.108")
    assert (sheet.dosing_weight.value, sheet.weight_measured_on) == (Decimal(62), date(2026, 11, 30))
    assert sheet.dose_per_kg == parse_dose_per_kg("12 x10^5 cells/kg")
    assert (sheet.route, sheet.infusion_minutes) == ("IV (intravenous infusion)", 30)
    assert (sheet.prepared_by, sheet.checked_by) == ("", "")


def test_worksheet_reuses_the_dose_engine_arithmetic(first_dose, lot):
    sheet = build_worksheet(UC_MSC, first_dose, lot, do_not_dispense_days=0)
    expected = prepare(
        first_dose.ordered_dose,
        concentration=lot.concentration,
        viability=lot.viability,
        doses_viable_cells=True,
        preparation=UC_MSC.preparation,
        concentration_source=lot.describe(),
    )
    assert sheet.preparation == expected


def test_latest_thaw_is_planned_start_minus_beyond_use_hours(first_dose, lot):
    sheet = build_worksheet(UC_MSC, first_dose, lot, do_not_dispense_days=0)
    shanghai = ZoneInfo("Asia/Shanghai")
    assert sheet.planned_start == datetime(2026, 12, 1, 9, 0, tzinfo=shanghai)
    assert sheet.latest_thaw == datetime(2026, 12, 1, 6, 0, tzinfo=shanghai)
    assert sheet.beyond_use_hours == Decimal(3)


def test_latest_thaw_counts_elapsed_hours_across_a_dst_change():
    london = ZoneInfo("Europe/London")
    # Clocks go forward at 01:00 GMT on 28 March 2027: 03:30 BST is only 3 elapsed hours after 23:30 GMT.
    start = datetime(2027, 3, 28, 3, 30, tzinfo=london)
    assert latest_thaw_time(start, Decimal(3), "Europe/London") == datetime(
        2027, 3, 27, 23, 30, tzinfo=london
    )
    assert latest_thaw_time(start, None, "Europe/London") is None


def test_every_dose_of_the_plan_gets_the_same_figures(lot):
    sheets = [build_worksheet(UC_MSC, dose, lot, do_not_dispense_days=2) for dose in high_dose_62kg()]
    assert [s.target_date.day for s in sheets] == [1, 4, 7, 10]
    assert {s.preparation.volume_to_draw.value for s in sheets} == {Decimal("39.2")}


def test_draw_volume_above_final_volume_is_refused(first_dose):
    dilute = make_lot(concentration="5 x10^5 cells/mL", volume="500 mL")
    # 7.44 x10^7 / (5 x10^5 x 0.95) = 156.6 mL, more than the 100 mL bag
    with pytest.raises(HardStop) as refusal:
        build_worksheet(UC_MSC, first_dose, dilute, do_not_dispense_days=0)
    assert refusal.value.field == "volume to draw"
    assert refusal.value.rule == "volume to draw <= final volume 100 mL"


def test_draw_volume_above_the_lot_volume_is_refused(first_dose):
    with pytest.raises(HardStop) as refusal:
        build_worksheet(UC_MSC, first_dose, make_lot(volume="20 mL"), do_not_dispense_days=0)
    assert refusal.value.field == "volume to draw"
    assert "lot's volume 20 mL" in refusal.value.rule


def test_expired_lot_stops_the_worksheet(first_dose):
    with pytest.raises(HardStop, match="expired on 2026-11-30"):
        build_worksheet(UC_MSC, first_dose, make_lot(expiry="2026-11-30"), do_not_dispense_days=0)


def test_lot_within_do_not_dispense_days_stops_the_worksheet(first_dose):
    with pytest.raises(HardStop) as refusal:
        build_worksheet(UC_MSC, first_dose, make_lot(expiry="2026-12-03"), do_not_dispense_days=3)
    assert refusal.value.field == "expiry"


def test_other_products_lot_stops_the_worksheet(first_dose):
    with pytest.raises(HardStop) as refusal:
        build_worksheet(UC_MSC, first_dose, make_lot(product="MSC"), do_not_dispense_days=0)
    assert refusal.value.field == "product"


def test_viable_cell_dosing_needs_the_lots_viability(first_dose):
    with pytest.raises(HardStop) as refusal:
        build_worksheet(UC_MSC, first_dose, make_lot(viability=None), do_not_dispense_days=0)
    assert refusal.value.field == "viability"


def test_first_expiring_usable_lot_is_used(first_dose):
    small = make_lot(din=None, check_character=None, lot_number="SMALL", volume="10 mL", expiry="2027-01-01")
    right = make_lot(din=None, check_character=None, lot_number="RIGHT", expiry="2027-02-01")
    later = make_lot(din=None, check_character=None, lot_number="LATER", expiry="2027-03-01")
    sheet = worksheet_with_first_expiring_lot(
        UC_MSC, first_dose, [later, small, right], do_not_dispense_days=2
    )
    assert sheet.lot_number == "RIGHT"


def test_exosome_mass_dose_from_a_1_mg_per_ml_lot():
    protocol = get_protocol("NCT05871463")
    plan = plan_patient(
        protocol, PatientInputs(arm="exosome", weight=parse_weight("70 kg"), anchor=date(2026, 12, 1))
    )
    lot = make_lot(
        product="UC-MSC exosomes",
        din=None,
        check_character=None,
        lot_number="EXO-7",
        concentration="1 mg/mL",
        viability=None,
        volume="20 mL",
    )
    sheets = [
        build_worksheet(protocol, d, lot, do_not_dispense_days=0) for d in doses_from_plan(plan, "T-01")
    ]
    assert [
        (str(s.ordered_dose), str(s.preparation.volume_to_draw), str(s.preparation.diluent)) for s in sheets
    ] == [
        ("13.4 mg", "13.4 mL", "86.6 mL"),
        ("13.3 mg", "13.3 mL", "86.7 mL"),
        ("13.3 mg", "13.3 mL", "86.7 mL"),
    ]
    assert sheets[0].latest_thaw is None  # the record states no beyond-use time


def test_ev_particles_dose_fills_the_whole_bag():
    protocol = get_protocol("SYSU3-MSCEV-LT")
    plan = plan_patient(
        protocol, PatientInputs(arm="msc-ev", weight=parse_weight("60 kg"), anchor=date(2026, 12, 1))
    )
    lot = make_lot(product="MSC-EV", concentration="1 x10^8 particles/mL", viability=None, volume="120 mL")
    (sheet,) = [
        build_worksheet(protocol, d, lot, do_not_dispense_days=0) for d in doses_from_plan(plan, "L-1")
    ]
    assert str(sheet.ordered_dose) == "1 x10^10 particles"
    assert (sheet.preparation.volume_to_draw.value, sheet.preparation.diluent.value) == (100, 0)


def test_range_protocol_uses_the_patients_chosen_level():
    protocol = get_protocol("MSC-ACLF-WEEKLY")
    plan = plan_patient(
        protocol,
        PatientInputs(
            arm="msc",
            weight=parse_weight("70 kg"),
            anchor=date(2026, 12, 7),
            dose_per_kg=parse_dose_per_kg("5 x10^5 cells/kg"),
        ),
    )
    lot = make_lot(product="MSC", concentration="5 x10^6 cells/mL", viability="90%")
    sheet = build_worksheet(protocol, doses_from_plan(plan, "W-3")[0], lot, do_not_dispense_days=0)
    # 3.5 x10^7 / (5 x10^6 x 0.9) = 7.78 mL -> 7.8 mL
    assert (
        str(sheet.ordered_dose),
        str(sheet.preparation.volume_to_draw),
        str(sheet.preparation.diluent),
    ) == (
        "3.5 x10^7 cells",
        "7.8 mL",
        "92.2 mL",
    )


def test_viability_below_the_release_minimum_is_refused(first_dose):
    # Issue 9: UC-MSC's release minimum is 70% (protocol product.release_viability_minimum); a lot
    # below it is not usable, where it used to be only flagged.
    with pytest.raises(HardStop) as refused:
        lot = make_lot(viability="65%", volume="100 mL")
        build_worksheet(UC_MSC, first_dose, lot, do_not_dispense_days=0)
    assert refused.value.field == "viability"
    assert "release minimum" in refused.value.message


def test_low_viability_without_a_release_minimum_is_flagged_but_not_stopped(first_dose):
    product = UC_MSC.product.model_copy(update={"release_viability_minimum": None})
    protocol = UC_MSC.model_copy(update={"product": product})
    sheet = build_worksheet(
        protocol, first_dose, make_lot(viability="65%", volume="100 mL"), do_not_dispense_days=0
    )
    assert [w.field for w in sheet.warnings] == ["viability"]
