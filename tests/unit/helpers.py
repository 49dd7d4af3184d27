"""Small builders shared by the unit tests: plans from text, and edited copies of shipped protocols."""

from __future__ import annotations

import copy
from datetime import date, datetime
from functools import cache
from importlib import resources
from typing import Any

import yaml

from dosing.catalog import get_protocol, parse_protocol
from dosing.plan import PatientInputs, PatientPlan, plan_patient
from dosing.protocol import Protocol
from dosing.units import parse_concentration, parse_dose_per_kg, parse_percent, parse_weight


def plan(
    protocol_id: str,
    arm: str,
    *,
    weight: str = "62 kg",
    anchor: date | datetime = date(2026, 12, 1),
    dose_per_kg: str | None = None,
    concentration: str | None = None,
    viability: str | None = None,
    protocol: Protocol | None = None,
    **extra: Any,
) -> PatientPlan:
    """A patient's plan from the values a pharmacist would type."""
    chosen = protocol or get_protocol(protocol_id)
    unit = chosen.product.amount_unit
    inputs = PatientInputs(
        arm=arm,
        weight=parse_weight(weight),
        anchor=anchor,
        dose_per_kg=parse_dose_per_kg(dose_per_kg, default_unit=unit) if dose_per_kg else None,
        concentration=parse_concentration(concentration, default_unit=unit) if concentration else None,
        viability=parse_percent(viability) if viability else None,
        **extra,
    )
    return plan_patient(chosen, inputs)


@cache
def _shipped_data(protocol_id: str) -> dict[str, Any]:
    text = resources.files("protocols").joinpath(f"{protocol_id}.yaml").read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def protocol_data(protocol_id: str) -> dict[str, Any]:
    """A fresh, editable copy of a shipped protocol file's data."""
    return copy.deepcopy(_shipped_data(protocol_id))


def load(data: dict[str, Any], source: str = "variant.yaml") -> Protocol:
    return parse_protocol(yaml.safe_dump(data, sort_keys=False), source=source)


def in_zone(protocol: Protocol, timezone: str, **site_changes: Any) -> Protocol:
    """The same protocol run at a site in another time zone (for the calendar tests)."""
    site = protocol.sites[0].model_copy(update={"timezone": timezone, **site_changes})
    return protocol.model_copy(update={"sites": [site]})
