"""Parsing of command-line values into core types, with errors that name the option."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import click

from dosing.app.typed import (
    parse_local_moment,
    plausible_date,
)
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


def weight_option(text: str, allow_pounds: bool, field: str = "weight") -> Weight:
    return parse_weight(text, allow_pounds=allow_pounds, field=field)


def dose_per_kg_option(text: str | None, unit: AmountUnit) -> DosePerKg | None:
    return None if text is None else parse_dose_per_kg(text, field="dose per kg", default_unit=unit)


def concentration_option(text: str | None, unit: AmountUnit) -> Concentration | None:
    return None if text is None else parse_concentration(text, field="concentration", default_unit=unit)


def percent_option(text: str | None, field: str = "viability") -> Percent | None:
    return None if text is None else parse_percent(text, field=field)


# --- the option vocabulary: one name, one parser and one rule for each thing, in every command -----

#: The store: every command that opens it takes this option (the environment variable is its default).
DATABASE_URL_HELP = "The store's database URL (default: $DOSING_DATABASE_URL, else the local SQLite file)."


def database_url_option(function: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--database-url", "database_url", envvar="DOSING_DATABASE_URL", default=None, metavar="URL",
        help=DATABASE_URL_HELP,
    )(function)  # fmt: skip


def output_option(
    help: str,
    *,
    metavar: str,
    required: bool = False,
    file_okay: bool = True,
    dir_okay: bool = True,
    writable: bool = False,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``-o/--output``: where a command writes its file (metavar FILE) or its folder (metavar DIR)."""
    return click.option(
        "-o", "--output", "output", required=required, metavar=metavar, help=help,
        type=click.Path(path_type=Path, file_okay=file_okay, dir_okay=dir_okay, writable=writable),
    )  # fmt: skip


#: How every ``--as-of`` reads what was typed: one rule, told in every refusal.
AS_OF_RULE = (
    "ISO 8601 date or date-time, e.g. 2026-12-15T08:00+08:00; without a UTC offset it is read on the "
    "site's clock (a date alone is that day's midnight)"
)
AS_OF_HELP = (
    "Read as of this moment instead of now (reads and previews only): ISO 8601, e.g. 2026-12-15T08:00+08:00; "
    "without an offset, on the site's clock; a date alone is its midnight."
)


@dataclass(frozen=True)
class AsOf:
    """A typed ``--as-of``: an instant (with its offset) or a wall-clock time waiting for its site's zone."""

    text: str
    moment: datetime

    def at(self, timezone: str | None) -> datetime:
        """The instant: as typed when it has an offset, else on ``timezone``'s clock (refused without one)."""
        if self.moment.tzinfo is not None:
            return self.moment
        if timezone is None:
            raise DosingError(
                "as of", AS_OF_RULE,
                f"{self.text!r} has no UTC offset and the sites' clocks differ: give the offset or --site",
            )  # fmt: skip
        return parse_local_moment(self.moment.isoformat(), "as of", timezone)


def parse_as_of(text: str) -> AsOf:
    """The one parser of ``--as-of``: ``2026-12-15``, ``2026-12-15T08:00`` or ``2026-12-15T08:00+08:00``."""
    stripped = text.strip()
    try:
        if "T" not in stripped and " " not in stripped:
            day = date.fromisoformat(stripped)
            plausible_date(day, "as of")
            return AsOf(text, datetime.combine(day, datetime.min.time()))
        moment = datetime.fromisoformat(stripped)
    except DosingError:
        raise
    except ValueError as error:
        raise DosingError("as of", AS_OF_RULE, f"{text!r} is not a date or date-time") from error
    return AsOf(text, plausible_date(moment, "as of"))


class AsOfType(click.ParamType):  # type: ignore[type-arg]
    """Click's side of :func:`parse_as_of`; a refusal is ``error: as of: ... (rule: ...)``, exit 2."""

    name = "as_of"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> AsOf:
        return value if isinstance(value, AsOf) else parse_as_of(str(value))


#: The type of every ``--as-of`` in the command line (a test checks it by identity).
AS_OF = AsOfType()


def as_of_option(help: str = AS_OF_HELP) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option("--as-of", "as_of", type=AS_OF, default=None, metavar="DATETIME", help=help)


def as_of_or_now(as_of: AsOf | None, timezone: str | None) -> datetime:
    """Now, or the typed ``--as-of`` read on ``timezone``'s clock when it has no offset."""
    return datetime.now(UTC) if as_of is None else as_of.at(timezone)


def refuse_as_of(as_of: AsOf | None, change: str) -> None:
    """``--as-of`` is for reads and previews: a change is stamped by the server clock, never a typed time."""
    if as_of is not None:
        raise DosingError(
            "as of",
            "--as-of is for reads and previews; a change is stamped by the server clock",
            f"{change} happens now: leave out --as-of",
        )


def known_site(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Click callback for every ``--site``: an unknown site is refused with the known ones, never an empty
    list."""
    if value is None:
        return None
    from dosing.catalog import check_site

    return check_site(value)


def site_option(help: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(
        "--site", "site", default=None, callback=known_site, metavar="SITE",
        help=f"{help} A site id, e.g. renji-shanghai (an unknown one is refused with the list).",
    )  # fmt: skip


class TimezoneType(click.ParamType):  # type: ignore[type-arg]
    """An IANA time zone name, refused as ``error: timezone: ...`` when the zone database lacks it."""

    name = "timezone"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from zoneinfo import ZoneInfo

        try:
            ZoneInfo(str(value))
        except (KeyError, ValueError) as error:
            raise DosingError(
                "timezone", "an IANA time zone, e.g. Asia/Shanghai", f"unknown {value!r}"
            ) from error
        return str(value)


#: The type of every ``--timezone`` (a test checks it by identity).
TIMEZONE = TimezoneType()


def timezone_option(help: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(
        "--timezone", "timezone", type=TIMEZONE, default=None, metavar="ZONE",
        help=f"{help} An IANA name, e.g. Asia/Shanghai (default: the site's zone, from --site).",
    )  # fmt: skip


def sites_zone(site: str | None) -> str | None:
    """The zone of ``site``; without one, the zone all sites of the library share (None if they differ)."""
    from dosing.catalog import library

    zones = {s.timezone for p in library().values() for s in p.sites if site is None or s.id == site}
    return zones.pop() if len(zones) == 1 else None


def zone_for(site: str | None, timezone: str | None) -> str:
    """``--timezone``, else the site's zone: where wall-clock times of a command spanning sites are read."""
    zone = timezone or sites_zone(site)
    if zone is None:
        from dosing.catalog import library

        found = ", ".join(sorted({s.timezone for p in library().values() for s in p.sites}))
        raise DosingError(
            "timezone", "one clock to read local times on: the site's (--site) or --timezone",
            f"the sites' clocks differ ({found}): give --site or --timezone",
        )  # fmt: skip
    return zone


def ledger_store(database_url: str | None) -> Any:
    from dosing.store import open_store

    return open_store(database_url)


def subject_zone(store: Any, subject_code: str) -> str:
    """The subject's site zone: times typed at the bedside without an offset are read in it."""
    from dosing.store import ledger

    return str(ledger.subject_timezone(store, subject_code))
