"""Lots and plans from the seed protocols, shared by the pharmacy tests."""

from __future__ import annotations

from datetime import date
from typing import Any

from dosing.catalog import get_protocol
from dosing.pharmacy.lots import Lot
from dosing.pharmacy.worksheet import DoseToPrepare, doses_from_plan
from dosing.plan import PatientInputs, plan_patient
from dosing.units import parse_weight

DIN = "G123498654321"  # check character H (ISO 7064 mod 37-2)


def make_lot(**changes: Any) -> Lot:
    fields: dict[str, Any] = {
        "product": "UC-MSC",
        "din": DIN,
        "check_character": "H",
        "concentration": "2 x10^6 cells/mL",
        "viability": "95%",
        "volume": "50 mL",
        "expiry": "2027-12-31",
    }
    fields.update(changes)
    return Lot.checked({key: value for key, value in fields.items() if value is not None})


def high_dose_62kg(subject_code: str = "S-001") -> list[DoseToPrepare]:
    """NCT04822922, high dose (12 x10^5 cells/kg), 62 kg, recruited 1 December 2026."""
    plan = plan_patient(
        get_protocol("NCT04822922"),
        PatientInputs(
            arm="high",
            weight=parse_weight("62 kg"),
            weight_measured_on=date(2026, 11, 30),
            anchor=date(2026, 12, 1),
        ),
    )
    return doses_from_plan(plan, subject_code)
