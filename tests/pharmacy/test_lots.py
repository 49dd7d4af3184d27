"""Registering a lot, and every refusal of a lot for a dose."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from dosing.catalog import get_protocol
from dosing.errors import HardStop
from dosing.pharmacy.lots import Lot, check_din, check_lot_for_dose, din_check_character, pick_lot
from tests.pharmacy.examples import DIN, make_lot

UC_MSC = get_protocol("NCT04822922")


def test_domain_example_din_has_check_character_h():
    assert din_check_character(DIN) == "H"
    assert check_din("g1234 98 654321", "h") == DIN


def test_registered_lot_keeps_its_figures_with_units():
    lot = make_lot(check_character="h")
    assert lot.identifier == DIN
    assert lot.check_character == "H"
    assert lot.concentration.value == Decimal("2E+6")
    assert lot.concentration.unit == "{cells}/mL"
    assert lot.viability is not None and lot.viability.value == 95
    assert str(lot.volume) == "50 mL"


@pytest.mark.parametrize("wrong", ["G", "0", "*", "I"])
def test_din_with_a_wrong_check_character_is_refused(wrong):
    with pytest.raises(HardStop) as refusal:
        make_lot(check_character=wrong)
    assert refusal.value.field == "check character"
    assert "mod 37-2" in refusal.value.rule


def test_a_mistyped_din_is_refused_by_its_check_character():
    # Two adjacent digits swapped: the check character H no longer matches.
    with pytest.raises(HardStop) as refusal:
        make_lot(din="G123489654321")
    assert refusal.value.field == "check character"


def test_din_without_check_character_is_refused():
    with pytest.raises(HardStop) as refusal:
        make_lot(check_character=None)
    assert (refusal.value.field, refusal.value.message) == ("check character", "missing")


@pytest.mark.parametrize("din", ["G12349865432", "G1234986543210", "O123498654321", "G12A498654321"])
def test_malformed_din_is_refused(din):
    with pytest.raises(HardStop) as refusal:
        make_lot(din=din)
    assert refusal.value.field == "din"


def test_lot_number_instead_of_din():
    lot = make_lot(din=None, check_character=None, lot_number="UCMSC-2026-017")
    assert (lot.identifier, lot.identifier_kind, lot.din) == ("UCMSC-2026-017", "lot", None)


def test_both_or_neither_identifier_is_refused():
    with pytest.raises(HardStop, match="exactly one"):
        make_lot(lot_number="UCMSC-2026-017")
    with pytest.raises(HardStop, match="exactly one"):
        make_lot(din=None, check_character=None)


def test_concentration_zero_is_refused():
    with pytest.raises(HardStop) as refusal:
        make_lot(concentration="0 cells/mL")
    assert (refusal.value.field, refusal.value.rule) == ("concentration", "concentration > 0")


@pytest.mark.parametrize("viability", ["100.5%", "120%", "0%", "-3%"])
def test_impossible_viability_is_refused(viability):
    with pytest.raises(HardStop) as refusal:
        make_lot(viability=viability)
    assert (refusal.value.field, refusal.value.rule) == ("viability", "0% < viability <= 100%")


def test_viability_of_exactly_100_percent_is_accepted():
    assert make_lot(viability="100%").viability is not None


def test_lot_of_zero_volume_is_refused():
    with pytest.raises(HardStop) as refusal:
        make_lot(volume="0 mL")
    assert refusal.value.field == "volume"


# --- refusals for a dose -------------------------------------------------------------------------


def test_lot_is_usable_through_its_expiry_date():
    check_lot_for_dose(make_lot(expiry="2026-12-01"), UC_MSC, date(2026, 12, 1), 0)


def test_expired_lot_is_refused():
    with pytest.raises(HardStop) as refusal:
        check_lot_for_dose(make_lot(expiry="2026-11-30"), UC_MSC, date(2026, 12, 1), 0)
    assert refusal.value.field == "expiry"
    assert refusal.value.rule == "lot not expired on the day of the dose"
    assert "expired on 2026-11-30" in refusal.value.message


def test_lot_within_do_not_dispense_days_of_expiry_is_refused():
    # Two days' margin: one day left is refused, two days left is accepted.
    with pytest.raises(HardStop) as refusal:
        check_lot_for_dose(make_lot(expiry="2026-12-02"), UC_MSC, date(2026, 12, 1), 2)
    assert refusal.value.field == "expiry"
    assert "do-not-dispense" in refusal.value.rule
    assert "1 day after the dose on 2026-12-01" in refusal.value.message
    check_lot_for_dose(make_lot(expiry="2026-12-03"), UC_MSC, date(2026, 12, 1), 2)


def test_lot_of_another_product_is_refused():
    exosomes = make_lot(product="UC-MSC exosomes", concentration="1 mg/mL", viability=None)
    with pytest.raises(HardStop) as refusal:
        check_lot_for_dose(exosomes, UC_MSC, date(2026, 12, 1), 0)
    assert refusal.value.field == "product"
    assert "UC-MSC" in refusal.value.rule


def test_lot_counted_in_another_unit_is_refused_even_under_the_right_name():
    with pytest.raises(HardStop) as refusal:
        check_lot_for_dose(make_lot(concentration="1 mg/mL"), UC_MSC, date(2026, 12, 1), 0)
    assert refusal.value.field == "concentration"


def test_pick_lot_takes_the_usable_lot_that_expires_first():
    lots = [
        make_lot(din=None, check_character=None, lot_number="LATE", expiry="2027-06-01"),
        make_lot(din=None, check_character=None, lot_number="EXPIRED", expiry="2026-11-01"),
        make_lot(din=None, check_character=None, lot_number="SOON", expiry="2026-12-20"),
        make_lot(product="MSC", din=None, check_character=None, lot_number="OTHER", expiry="2026-12-10"),
    ]
    lot, identifier = pick_lot(lots, UC_MSC, date(2026, 12, 1), 2, lambda lot: lot.identifier)
    assert (lot.lot_number, identifier) == ("SOON", "SOON")


def test_pick_lot_says_why_no_lot_suits():
    lots = [make_lot(expiry="2026-11-01")]
    with pytest.raises(HardStop, match="expired"):
        pick_lot(lots, UC_MSC, date(2026, 12, 1), 0, lambda lot: lot)
    with pytest.raises(HardStop, match="lots add"):
        pick_lot([], UC_MSC, date(2026, 12, 1), 0, lambda lot: lot)


def test_lot_round_trips_through_json():
    lot = make_lot()
    assert Lot.model_validate_json(lot.model_dump_json()) == lot
