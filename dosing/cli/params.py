"""Parsing of command-line values into core types, with errors that name the option."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any, TypeVar

import click
from pydantic import BaseModel, ValidationError

from dosing.errors import DosingError, from_validation_error
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

Model = TypeVar("Model", bound=BaseModel)
DateOrTime = TypeVar("DateOrTime", date, datetime)


def plausible_date(moment: DateOrTime, field: str) -> DateOrTime:
    """A typed date or date-time, refused when its year is outside the site's range (1900, 9999)."""
    from dosing.plausibility import check_year
    from dosing.settings import site_limits

    check_year(moment, field, site_limits())
    return moment


def parse_date(text: str, field: str) -> date:
    """A local calendar date typed as ``YYYY-MM-DD``, within the site's years."""
    try:
        day = date.fromisoformat(text.strip())
    except ValueError as error:
        raise DosingError(field, "ISO 8601 date (YYYY-MM-DD)", f"{text!r} is not a date") from error
    return plausible_date(day, field)


def parse_date_or_instant(text: str, field: str) -> date | datetime:
    """``2026-12-01`` is a local calendar date; ``2026-12-01T23:30+00:00`` an instant (needs an offset)."""
    try:
        if "T" in text or " " in text.strip():
            moment = datetime.fromisoformat(text)
            if moment.tzinfo is None:
                raise DosingError(
                    field, "ISO date, or date-time with an offset", f"{text!r} has no UTC offset"
                )
            return plausible_date(moment, field)
        return plausible_date(date.fromisoformat(text), field)
    except DosingError:
        # A DosingError is a ValueError too: a date outside the plausible years keeps its own rule.
        raise
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
    plausible_date(moment, field)
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


# --- options and values shared by the ledger's commands ---------------------------------------------


def as_of_option(function: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--as-of",
        "as_of_text",
        default=None,
        metavar="DATETIME",
        help="Read or preview as of this moment instead of now (ISO 8601); never with a change.",
    )(function)


def refuse_as_of(as_of_text: str | None, change: str) -> None:
    """``--as-of`` is for reads and previews: a change is stamped by the server clock, never a typed time."""
    if as_of_text is not None:
        raise DosingError(
            "as of",
            "--as-of is for reads and previews; a change is stamped by the server clock",
            f"{change} happens now: leave out --as-of",
        )


def parse_instant(text: str, field: str = "as of") -> datetime:
    """An instant typed for commands that span sites: ISO 8601 with its UTC offset, never a bare time."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as error:
        raise DosingError(
            field, "ISO 8601 date-time with an offset", f"{text!r} is not a date-time"
        ) from error
    if moment.tzinfo is None:
        raise DosingError(field, "ISO 8601 date-time with an offset", f"{text!r} has no UTC offset")
    return plausible_date(moment, field)


def moment_or_now(text: str | None, timezone: str, field: str = "as of") -> datetime:
    """Now, or a typed moment: with an offset as given, without one in ``timezone``; a date is its start."""
    if text is None:
        return datetime.now(UTC)
    if "T" not in text and " " not in text.strip():
        try:
            day = date.fromisoformat(text)
        except ValueError as error:
            raise DosingError(field, "ISO 8601 date or date-time", f"{text!r} is not a date") from error
        plausible_date(day, field)
        return parse_local_moment(f"{day.isoformat()}T00:00", field, timezone)
    return parse_local_moment(text, field, timezone)


def known_site(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Click callback for every ``--site`` that filters: an unknown site is refused, never an empty list."""
    if value is None:
        return None
    from dosing.catalog import check_site

    return check_site(value)


def build_request(model: type[Model], **values: Any) -> Model:
    """A validated request, its validation errors told as the rule each value breaks."""
    try:
        return model(**values)
    except ValidationError as error:
        raise from_validation_error(error) from error


def ledger_store() -> Any:
    from dosing.store import open_store

    return open_store()


def subject_zone(store: Any, subject_code: str) -> str:
    """The subject's site zone: times typed at the bedside without an offset are read in it."""
    from dosing.store import ledger

    return str(ledger.subject_timezone(store, subject_code))
