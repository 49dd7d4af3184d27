"""Worked examples from the trial records, one per seed."""

from datetime import date
from decimal import Decimal

from dosing.catalog import get_protocol
from dosing.plan import PatientInputs, plan_patient
from dosing.units import parse_weight


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
