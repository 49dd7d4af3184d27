"""Worked examples from the trial records, one or more per seed (shared/seeds/)."""

from datetime import date
from decimal import Decimal
from itertools import pairwise

import pytest

from dosing.catalog import get_protocol
from dosing.errors import HardStop
from dosing.plan import PatientInputs, plan_patient
from dosing.units import Amount, AmountUnit, parse_dose_per_kg, parse_weight
from tests.unit.helpers import plan


def test_nct04822922_middle_dose_62kg_gets_4_96e7_cells_on_days_1_4_7_10():
    plan = plan_patient(
        get_protocol("NCT04822922"),
        PatientInputs(arm="middle", weight=parse_weight("62 kg"), anchor=date(2026, 12, 1)),
    )
    assert [a.target_date for a in plan.administrations] == [
        date(2026, 12, 1),
        date(2026, 12, 4),
        date(2026, 12, 7),
        date(2026, 12, 10),
    ]
    assert {a.ordered_dose.value for a in plan.administrations} == {Decimal("4.96E+7")}
    assert {a.ordered_dose.unit.value for a in plan.administrations} == {"{cells}"}
    assert str(plan.administrations[0].ordered_dose) == "4.96 x10^7 cells"


# --- 004, NCT04822922: UC-MSC days 1, 4, 7, 10; low 4, middle 8, high 12 x10^5 cells/kg -------------


def test_nct04822922_high_dose_62kg_from_a_2e6_per_ml_lot_at_95_percent_viability():
    # 12 x10^5 cells/kg x 62 kg = 7.44 x10^7 viable cells; the lot gives 2 x10^6 x 0.95 = 1.9 x10^6 per mL
    # 7.44 x10^7 / 1.9 x10^6 = 39.157... mL, drawn as 39.2 mL, topped up with 60.8 mL to 100 mL.
    high = plan("NCT04822922", "high", concentration="2e6 cells/mL", viability="95%")
    for dose in high.administrations:
        prep = dose.preparation
        assert dose.ordered_dose == Amount(value=Decimal("7.44E+7"), unit=AmountUnit.CELLS)
        assert prep.effective_concentration.value == Decimal("1.9E+6")
        assert prep.volume_to_draw.value == Decimal("39.2")
        assert prep.diluent.value == Decimal("60.8")
        assert prep.final_volume.value == Decimal("100")
        assert prep.delivered_dose.value == Decimal("7.448E+7")
        assert abs(prep.deviation.value) <= Decimal(10)


def test_nct04822922_low_dose_is_a_third_of_high():
    low = plan("NCT04822922", "low").administrations[0].ordered_dose
    high = plan("NCT04822922", "high").administrations[0].ordered_dose
    assert low.value * 3 == high.value == Decimal("7.44E+7")


def test_nct04822922_first_infusion_has_no_window_and_later_ones_may_be_one_day_late():
    doses = plan("NCT04822922", "middle").administrations
    assert (doses[0].earliest, doses[0].latest) == (date(2026, 12, 1), date(2026, 12, 1))
    assert [(d.earliest, d.latest) for d in doses[1:]] == [
        (date(2026, 12, 4), date(2026, 12, 5)),
        (date(2026, 12, 7), date(2026, 12, 8)),
        (date(2026, 12, 10), date(2026, 12, 11)),
    ]
    assert [d.study_day for d in doses] == ["day 1", "day 4", "day 7", "day 10"]


def test_nct04822922_safety_check_24h_after_each_infusion_and_sae_review_one_month_after_recruitment():
    checks = [a for a in plan("NCT04822922", "middle").assessments if a.after == "each_administration"]
    assert [a.due.isoformat() for a in checks] == [
        "2026-12-02T09:00:00+08:00",
        "2026-12-05T09:00:00+08:00",
        "2026-12-08T09:00:00+08:00",
        "2026-12-11T09:00:00+08:00",
    ]
    review = next(a for a in plan("NCT04822922", "middle").assessments if a.name.startswith("Safety of"))
    assert review.due_date == date(2027, 1, 1)


# --- 000, SYSU3-MSCEV-LT: one MSC-EV infusion, 1 x10^10 particles in 100 mL, post-transplant days 1-5 -


def test_sysu3_msc_ev_dose_window_is_post_transplant_days_1_to_5_with_transplant_day_0():
    transplant = date(2026, 12, 1)
    (infusion,) = plan("SYSU3-MSCEV-LT", "msc-ev", anchor=transplant).administrations
    assert infusion.study_day == "day 1"
    assert infusion.target_date == date(2026, 12, 2)
    assert (infusion.earliest, infusion.latest) == (date(2026, 12, 2), date(2026, 12, 6))
    assert str(infusion.ordered_dose) == "1 x10^10 particles"
    assert infusion.preparation.final_volume.value == 100
    assert infusion.planned_start.isoformat() == "2026-12-02T10:00:00+08:00"


def test_sysu3_control_arm_gets_no_infusion_but_keeps_the_months_1_to_6_and_1_year_follow_ups():
    control = plan("SYSU3-MSCEV-LT", "control", anchor=date(2026, 12, 1))
    assert control.administrations == []
    assert [(a.name, a.due_date) for a in control.assessments] == [
        ("Liver function and immune cell subsets", date(2027, 1, 1)),
        ("Liver function and immune cell subsets", date(2027, 2, 1)),
        ("Liver function and immune cell subsets", date(2027, 3, 1)),
        ("Liver function and immune cell subsets", date(2027, 4, 1)),
        ("Liver function and immune cell subsets", date(2027, 5, 1)),
        ("Liver function and immune cell subsets", date(2027, 6, 1)),
        ("Patient and graft survival", date(2027, 12, 1)),
    ]
    assert control.product == "none"


def test_sysu3_experimental_arm_also_gets_the_24h_toxicity_check():
    names = [a.name for a in plan("SYSU3-MSCEV-LT", "msc-ev").assessments]
    assert names.count("Infusion toxicity check (CTCAE v4.0)") == 1


# --- 001, MSC-ACLF-WEEKLY: 1.0-10 x10^5 cells/kg at weeks 0, 1, 2, 3 ---------------------------------


def test_msc_aclf_weekly_four_infusions_exactly_7_local_days_apart():
    doses = plan("MSC-ACLF-WEEKLY", "msc", dose_per_kg="5 x10^5 cells/kg").administrations
    targets = [d.target_date for d in doses]
    assert targets[0] == date(2026, 12, 1)
    assert [(b - a).days for a, b in pairwise(targets)] == [7, 7, 7]
    assert [d.study_day for d in doses] == ["week 0", "week 1", "week 2", "week 3"]
    # No protocol window: the site's default of one day either side applies.
    assert [(d.earliest, d.latest) for d in doses][1] == (date(2026, 12, 7), date(2026, 12, 9))


@pytest.mark.parametrize("per_kg", ["1.0 x10^5 cells/kg", "10 x10^5 cells/kg", "5.5 x10^5 cells/kg"])
def test_msc_aclf_weekly_accepts_a_dose_anywhere_in_1_0_to_10_x10e5_cells_per_kg(per_kg):
    doses = plan("MSC-ACLF-WEEKLY", "msc", dose_per_kg=per_kg).administrations
    assert {d.dose_per_kg.value for d in doses} == {Decimal(per_kg.split()[0]) * 10**5}
    assert {d.ordered_dose.value for d in doses} == {Decimal(per_kg.split()[0]) * 10**5 * 62}


def test_msc_aclf_weekly_standard_treatment_arm_has_no_infusions():
    assert plan("MSC-ACLF-WEEKLY", "smt").administrations == []


# --- 003, NCT05871463: 40 mg of exosomes over three weeks -----------------------------------------------


def test_nct05871463_split_adds_up_to_exactly_40_mg():
    doses = plan("NCT05871463", "exosome").administrations
    assert [str(d.ordered_dose) for d in doses] == ["13.4 mg", "13.3 mg", "13.3 mg"]
    assert sum(d.ordered_dose.value for d in doses) == Decimal("40")
    assert [d.target_date for d in doses] == [date(2026, 12, 1), date(2026, 12, 8), date(2026, 12, 15)]


def test_nct05871463_meld_and_child_pugh_at_4_months_in_tehran():
    exosome = plan("NCT05871463", "exosome", anchor=date(2026, 12, 1))
    scores = [a for a in exosome.assessments if a.name == "MELD and Child-Pugh scores"]
    assert [a.due.isoformat() for a in scores] == ["2027-04-01T09:00:00+03:30"]


# --- 002, NCT05940610: withdrawn ------------------------------------------------------------------------


def test_nct05940610_is_withdrawn_and_refuses_a_plan():
    with pytest.raises(HardStop) as refused:
        plan("NCT05940610", "msc-ev")
    assert refused.value.field == "study status"
    assert "withdrawn" in refused.value.message


def test_a_plan_without_preparation_has_doses_and_dates_but_no_bag_figures():
    # Enrollment stores doses and dates; the bag is computed later from the real lot.
    weekly = get_protocol("MSC-ACLF-WEEKLY")
    without_reference_lot = weekly.model_copy(
        update={"product": weekly.product.model_copy(update={"reference_concentration": None})}
    )
    patient = plan_patient(
        without_reference_lot,
        PatientInputs(
            arm="msc",
            weight=parse_weight("80 kg"),
            anchor=date(2026, 12, 1),
            dose_per_kg=parse_dose_per_kg("5 x10^5 cells/kg"),
            include_preparation=False,
        ),
    )
    assert [a.ordered_dose for a in patient.administrations] == [
        Amount(value=Decimal("4E+7"), unit=AmountUnit.CELLS)
    ] * 4
    assert all(a.preparation is None for a in patient.administrations)
    # A dry run with bag figures still needs a lot, and says so.
    with pytest.raises(HardStop) as refused:
        plan_patient(
            without_reference_lot,
            PatientInputs(
                arm="msc",
                weight=parse_weight("80 kg"),
                anchor=date(2026, 12, 1),
                dose_per_kg=parse_dose_per_kg("5 x10^5 cells/kg"),
            ),
        )
    assert refused.value.field == "concentration"
