"""Parsing of command-line values into core types, with errors that name the option."""

from __future__ import annotations

from datetime import date, datetime

from dosing.errors import DosingError
from dosing.units import (
    AmountUnit,
    Concentration,
    DosePerKg,
    Percent,
    Weight,
    parse_concentration,
    parse_dose_per_kg,
    parse_percent,
    parse_weight,
)


def parse_date_or_instant(text: str, field: str) -> date | datetime:
    """``2026-12-01`` is a local calendar date; ``2026-12-01T23:30+00:00`` an instant (needs an offset)."""
    try:
        if "T" in text or " " in text.strip():
            moment = datetime.fromisoformat(text)
            if moment.tzinfo is None:
                raise DosingError(
                    field, "ISO date, or date-time with an offset", f"{text!r} has no UTC offset"
                )
            return moment
        return date.fromisoformat(text)
    except ValueError as error:
        raise DosingError(field, "ISO 8601 date (YYYY-MM-DD)", f"{text!r} is not a date") from error


def parse_local_moment(text: str, field: str, timezone: str) -> datetime:
    """A date-time typed at the bedside: local to the site unless it carries an offset."""
    import pendulum

    try:
        moment = datetime.fromisoformat(text)
    except ValueError as error:
        raise DosingError(
            field, "ISO 8601 date-time (YYYY-MM-DDTHH:MM)", f"{text!r} is not a date-time"
        ) from error
    if moment.tzinfo is None:
        local = pendulum.datetime(
            moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second, tz=timezone
        )
        return local
    return moment


def weight_option(text: str, allow_pounds: bool, field: str = "weight") -> Weight:
    return parse_weight(text, allow_pounds=allow_pounds, field=field)


def dose_per_kg_option(text: str | None, unit: AmountUnit) -> DosePerKg | None:
    return None if text is None else parse_dose_per_kg(text, field="dose per kg", default_unit=unit)


def concentration_option(text: str | None, unit: AmountUnit) -> Concentration | None:
    return None if text is None else parse_concentration(text, field="concentration", default_unit=unit)


def percent_option(text: str | None, field: str = "viability") -> Percent | None:
    return None if text is None else parse_percent(text, field=field)
