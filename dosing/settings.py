"""Settings read from the environment (prefix ``DOSING_``), in one place.

``DOSING_DATABASE_URL`` chooses the store: by default an embedded SQLite file under the user's data
directory (``$XDG_DATA_HOME/dosing/dosing.db``, or ``~/.local/share/dosing/dosing.db``); a site that
outgrows one machine points it at PostgreSQL (``postgresql+psycopg://user@host/db``).
"""

from __future__ import annotations

import json
import os
import typing
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dosing import plausibility
from dosing.errors import DosingError
from dosing.plausibility import SiteLimits

PREFIX = "DOSING_"


class EnvironmentSettings(BaseModel):
    """Settings whose values come from ``DOSING_<FIELD>`` variables (any case), else their defaults.

    A variable of a structured field (a mapping or a list) holds JSON. Read by :func:`load_settings`,
    which refuses a bad value naming the variable. (pydantic-settings did this before, at ~40 ms of
    every command's start, and let a malformed JSON value out as a traceback.)
    """

    model_config = ConfigDict(extra="ignore")

    @classmethod
    def environment_values(cls) -> dict[str, Any]:
        """The values the environment gives this kind of settings, JSON decoded where the field is
        structured; a malformed JSON value is refused naming its variable."""
        found = {name.lower(): value for name, value in os.environ.items() if name.upper().startswith(PREFIX)}
        values: dict[str, Any] = {}
        for name, field in cls.model_fields.items():
            value = found.get(f"{PREFIX}{name}".lower())
            if value is None:
                continue
            if _structured(field.annotation):
                try:
                    values[name] = json.loads(value)
                except ValueError as error:
                    variable = f"{PREFIX}{name.upper()}"
                    raise DosingError(
                        variable, f"site setting {variable}: JSON", f"{value[:80]!r}: not JSON ({error})"
                    ) from None
            else:
                values[name] = value
        return values


def _structured(annotation: Any) -> bool:
    origin = typing.get_origin(annotation) or annotation
    return isinstance(origin, type) and issubclass(origin, (dict, list, tuple, set, BaseModel))


SiteSettings = TypeVar("SiteSettings", bound=EnvironmentSettings)


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "dosing"


def default_database_url() -> str:
    return f"sqlite:///{default_data_dir() / 'dosing.db'}"


class Settings(EnvironmentSettings):
    model_config = ConfigDict(extra="ignore", frozen=True)

    database_url: str = Field(
        default_factory=default_database_url,
        description="SQLAlchemy URL of the store (DOSING_DATABASE_URL).",
    )

    #: Plausibility limits (dosing/plausibility.py states each default and why).
    weight_min_kg: Decimal = Field(
        default=plausibility.ADULT_WEIGHT_MIN_KG,
        description="Lowest adult body weight (DOSING_WEIGHT_MIN_KG).",
    )
    weight_max_kg: Decimal = Field(
        default=plausibility.ADULT_WEIGHT_MAX_KG,
        description="Highest adult body weight (DOSING_WEIGHT_MAX_KG).",
    )
    weight_max_age_days: int = Field(
        default=plausibility.WEIGHT_MAX_AGE_DAYS,
        description="Oldest dosing weight, in days, at enrollment and at prep (DOSING_WEIGHT_MAX_AGE_DAYS).",
    )
    earliest_year: int = Field(
        default=plausibility.EARLIEST_YEAR,
        description="Earliest year of any typed date (DOSING_EARLIEST_YEAR).",
    )
    latest_year: int = Field(
        default=plausibility.LATEST_YEAR, description="Latest year of any typed date (DOSING_LATEST_YEAR)."
    )
    max_delay_days: int = Field(
        default=plausibility.MAX_DELAY_DAYS,
        description="Longest delay, in days after its planned day, of a dose rescheduled around "
        "(DOSING_MAX_DELAY_DAYS).",
    )

    def limits(self) -> SiteLimits:
        """The site's plausibility limits, refused with a named setting when they contradict each other."""
        from pydantic import ValidationError

        from dosing.errors import from_validation_error

        try:
            return SiteLimits(
                weight_min_kg=self.weight_min_kg,
                weight_max_kg=self.weight_max_kg,
                weight_max_age_days=self.weight_max_age_days,
                earliest_year=self.earliest_year,
                latest_year=self.latest_year,
                max_delay_days=self.max_delay_days,
            )
        except ValidationError as error:
            raise from_validation_error(error, prefix="DOSING_ settings") from error

    def sqlite_path(self) -> Path | None:
        """The database file when the store is a SQLite file, else None."""
        return sqlite_file(self.database_url)


def sqlite_file(url: str) -> Path | None:
    prefix = "sqlite:///"
    if not url.startswith(prefix) or url in {prefix, f"{prefix}:memory:"}:
        return None
    return Path(url[len(prefix) :].split("?", 1)[0])


def site_limits() -> SiteLimits:
    """The plausibility limits of this site, from the environment."""
    return _limits(_environment())


def get_settings() -> Settings:
    """The settings of the environment as it is now: read again whenever a variable they depend on
    changed (tests change the environment), else the ones read before (reading them costs ~1 ms,
    and a roster of 10,000 subjects asks for them several times per subject)."""
    return _settings(_environment())


def _environment() -> tuple[tuple[str, str], ...]:
    """What the settings are read from: the DOSING_ variables (any case) and the default data
    directory's XDG_DATA_HOME and HOME."""
    # Asked four times per enrolled subject. Finding the variables walks os.environ in Python (15 us
    # with 38 variables, more on a server with many: ~5% of a roster's enrollment here). A snapshot of
    # the mapping under os.environ (CPython keeps it in os.environ._data, and every os.environ change
    # goes through it) is compared in C instead; the variables are found again only when it changed.
    data = getattr(os.environ, "_data", None)
    snapshot = tuple(data.items()) if isinstance(data, dict) else None
    remembered = _remembered_environment
    if snapshot is not None and remembered is not None and remembered[0] == snapshot:
        return remembered[1]
    environ = os.environ
    found = tuple(
        sorted(
            (name, environ[name])
            for name in environ
            if name.upper().startswith("DOSING_") or name in ("XDG_DATA_HOME", "HOME")
        )
    )
    if snapshot is not None:
        _remember_environment((snapshot, found))
    return found


#: The last environment snapshot and the variables found in it (one tuple: replaced whole, never
#: changed in place, so a thread reads either the old pair or the new one).
_remembered_environment: tuple[tuple[Any, ...], tuple[tuple[str, str], ...]] | None = None


def _remember_environment(pair: tuple[tuple[Any, ...], tuple[tuple[str, str], ...]]) -> None:
    global _remembered_environment
    _remembered_environment = pair


@lru_cache(maxsize=8)
def _settings(environment: tuple[tuple[str, str], ...]) -> Settings:
    return load_settings(Settings)


def load_settings(kind: type[SiteSettings]) -> SiteSettings:
    """Site settings read from the environment; a value out of its range (``DOSING_SESSION_IDLE_MINUTES=
    100000``, ``DOSING_WEIGHT_MAX_KG=abc``) is refused naming the variable and its range, never a
    traceback and never mistaken for the value being typed when the settings were first needed."""
    try:
        return kind.model_validate(kind.environment_values())
    except ValidationError as error:
        raise setting_refusal(kind, error) from None


_KINDS_OF_VALUE = {
    "int": "a whole number",
    "Decimal": "a number",
    "bool": "true or false",
    "str": "text",
    "dict": "a JSON object of texts",
}


def setting_refusal(kind: type[EnvironmentSettings], error: ValidationError) -> DosingError:
    first = error.errors()[0]
    name = str(first["loc"][0]) if first["loc"] else ""
    field = kind.model_fields.get(name)
    variable = f"DOSING_{name.upper()}" if name else "DOSING_ settings"
    bounds = []
    for constraint in field.metadata if field is not None else []:
        for attribute, sign in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
            limit = getattr(constraint, attribute, None)
            if limit is not None:
                bounds.append(f"{sign} {limit}")
    annotation = getattr(field.annotation, "__name__", "") if field is not None else ""
    kind_of_value = _KINDS_OF_VALUE.get(annotation, "valid value")
    rule = f"site setting {variable}: {kind_of_value}" + (f" {' and '.join(bounds)}" if bounds else "")
    if (
        field is not None
        and not field.is_required()
        and field.default_factory is None
        and field.default is not None
    ):
        rule += f", default {field.default}"
    # What was typed: the variable's own text (a JSON value's error is about a part of it).
    typed = {key.upper(): value for key, value in os.environ.items()}.get(variable)
    given = typed if typed is not None else first.get("input")
    return DosingError(variable, rule, f"{given!r}: {first['msg']}" if given is not None else first["msg"])


@lru_cache(maxsize=8)
def _limits(environment: tuple[tuple[str, str], ...]) -> SiteLimits:
    return _settings(environment).limits()
