"""Plausibility limits on what a person types: values no patient, lot or calendar can have.

The arithmetic refuses what cannot be computed; these limits refuse what cannot be true (a 620 kg adult,
a dose on 1900-01-01, a weight "measured" next year). Each limit has a stated default here and one
place to change it: a site setting (``DOSING_`` environment variable, read by :mod:`dosing.settings`)
for limits that are the site's, a protocol field for limits that are the protocol's (product
concentration range and release viability, early-record tolerance). This module is pure: the caller
passes the site's :class:`SiteLimits`.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dosing.errors import DosingError, HardStop
from dosing.units import Amount, Percent, Volume, Weight, format_decimal

#: Defaults of the site limits (each overridden by the ``DOSING_`` variable named beside it).
ADULT_WEIGHT_MIN_KG = Decimal(30)  # DOSING_WEIGHT_MIN_KG
ADULT_WEIGHT_MAX_KG = Decimal(300)  # DOSING_WEIGHT_MAX_KG
WEIGHT_MAX_AGE_DAYS = 30  # DOSING_WEIGHT_MAX_AGE_DAYS
EARLIEST_YEAR = 1990  # DOSING_EARLIEST_YEAR
LATEST_YEAR = 2100  # DOSING_LATEST_YEAR
#: A dose expected this many days after its planned day is a typo (2072 for 2026) or a deviation for the
#: investigator, not a delay to reschedule around: weekly courses last a month, and no seed protocol
#: waits a season between doses.
MAX_DELAY_DAYS = 90  # DOSING_MAX_DELAY_DAYS


class SiteLimits(BaseModel):
    """The site's plausibility limits (adult trials only: the protocols in this library enroll adults)."""

    model_config = ConfigDict(frozen=True)

    weight_min_kg: Decimal = Field(default=ADULT_WEIGHT_MIN_KG, gt=0)
    weight_max_kg: Decimal = Field(default=ADULT_WEIGHT_MAX_KG, gt=0)
    weight_max_age_days: int = Field(default=WEIGHT_MAX_AGE_DAYS, ge=0)
    earliest_year: int = Field(default=EARLIEST_YEAR, ge=1)
    latest_year: int = Field(default=LATEST_YEAR, le=9999)
    max_delay_days: int = Field(default=MAX_DELAY_DAYS, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> SiteLimits:
        if not self.weight_min_kg < self.weight_max_kg:
            raise ValueError("weight_min_kg must be below weight_max_kg")
        if not self.earliest_year <= self.latest_year:
            raise ValueError("earliest_year must not be after latest_year")
        return self


DEFAULT_LIMITS = SiteLimits()


def check_body_weight(weight: Weight, limits: SiteLimits = DEFAULT_LIMITS, field: str = "weight") -> None:
    """An adult body weight: a typo (620 kg for 62 kg, 6.2 kg) is refused before any dose is computed."""
    if not limits.weight_min_kg <= weight.value <= limits.weight_max_kg:
        raise HardStop(
            field,
            f"adult body weight {limits.weight_min_kg}-{limits.weight_max_kg} kg "
            "(site setting DOSING_WEIGHT_MIN_KG / DOSING_WEIGHT_MAX_KG)",
            f"{weight} is not a plausible adult weight; check the number and its unit",
        )


def check_year(moment: date | datetime, field: str, limits: SiteLimits = DEFAULT_LIMITS) -> None:
    """Every date a person types lies in the years the site accepts (1900 and 9999 are typos)."""
    if not limits.earliest_year <= moment.year <= limits.latest_year:
        raise DosingError(
            field,
            f"a date in {limits.earliest_year}-{limits.latest_year} "
            "(site setting DOSING_EARLIEST_YEAR / DOSING_LATEST_YEAR)",
            f"{moment.isoformat()} is outside the years a record can have",
        )


def check_weight_measured_on(
    measured_on: date, on: date, limits: SiteLimits = DEFAULT_LIMITS, *, when: str = "enrollment"
) -> None:
    """A dosing weight was measured on or before ``on`` and not more than the site's limit before it."""
    check_year(measured_on, "weight measured on", limits)
    if measured_on > on:
        raise HardStop(
            "weight measured on",
            f"a weight is measured before it is used ({when} on {on.isoformat()})",
            f"{measured_on.isoformat()} is in the future",
        )
    age = (on - measured_on).days
    if age > limits.weight_max_age_days:
        raise HardStop(
            "weight measured on",
            f"weight measured at most {limits.weight_max_age_days} days before {when} "
            "(site setting DOSING_WEIGHT_MAX_AGE_DAYS)",
            f"measured on {measured_on.isoformat()}, {age} days before {when} on {on.isoformat()}; "
            "weigh the patient again",
        )


# --- what the pharmacy receives ------------------------------------------------------------------


def check_lot_receipt(
    volume: Volume, expiry: date, today: date, *, container_max: Volume, shelf_life_years: int
) -> None:
    """A lot received into stock: each container holds a volume a bag or vial can hold (50 L for 50 mL
    is a unit typo), and its expiry is not further ahead than any cell or vesicle product keeps
    (2072 for 2027 is a digit typo; an expired lot is refused later, at every dose that would use it)."""
    if volume.value > container_max.value:
        raise HardStop(
            "volume",
            f"at most {container_max} per container (site setting DOSING_LOT_CONTAINER_MAX_ML)",
            f"{volume} is not one bag or vial; give the volume of one container and --containers",
        )
    latest = _years_after(today, shelf_life_years)
    if expiry > latest:
        raise HardStop(
            "expiry",
            f"at most {shelf_life_years} years ahead, on or before {latest.isoformat()} "
            "(site setting DOSING_LOT_SHELF_LIFE_MAX_YEARS)",
            f"{expiry.isoformat()} is further ahead than any lot keeps; check the year",
        )


def check_lot_not_expired_on_receipt(expiry: date, today: date) -> None:
    """A lot that expired before it was received is registered (the register records what arrived, and a
    site may enter a lot it used in the past), but it is said at once: no dose from now on can use it."""
    if expiry < today:
        raise HardStop(
            "expiry",
            "a lot is usable through its expiry date",
            f"{expiry.isoformat()} is already past ({today.isoformat()}): the lot is expired",
        )


def _years_after(day: date, years: int) -> date:
    """The same day ``years`` later (29 February becomes 28 February in a common year)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


# --- what is recorded as given -------------------------------------------------------------------


def check_given_amount(
    amount: Amount,
    ordered: Amount,
    tolerance: Percent,
    *,
    partial: bool = False,
    final_volume: Volume | None = None,
    volume: Volume | None = None,
    increment: Volume | None = None,
) -> None:
    """What a record says was given, against the order.

    More than the ordered dose beyond the protocol's tolerance is an overdose, not a record to keep
    quietly: refused (10x the order is a typo or a serious event to report, either way not 'on time').
    Nothing at all is not a dose given: that dose is skipped. Less than the order beyond the tolerance
    is a partial dose, and it is recorded as one only when the person says so (``partial``): a 10x typo
    downwards would otherwise stand as a partial dose and, under a ``redistribute`` policy, make every
    dose still to come larger. ``volume`` names the volume the amount was computed from, when it was.
    """
    if amount.unit is not ordered.unit:
        raise HardStop("amount", f"amount in {ordered.unit.noun}, as ordered", f"{amount} is not counted so")
    field = "volume" if volume is not None else "amount"
    if amount.value == 0:
        raise HardStop(
            field,
            "a dose given delivered some of the product; a dose not given is recorded with dosing skip",
            f"{volume if volume is not None else amount} is no dose",
        )
    if final_volume is not None and increment is not None and volume is None:
        # What the smallest volume that can be measured (the protocol's increment) of the bag delivers:
        # less cannot have been given, whatever was typed (x10^3 for x10^7 is a slip, not a dose).
        smallest = ordered.value * increment.value / final_volume.value
        if amount.value < smallest:
            least = Amount(value=smallest.normalize(), unit=ordered.unit)
            raise HardStop(
                "amount",
                f"at least {least}, what {increment} of the bag delivers (the smallest volume measured, "
                "protocol preparation.volume_increment)",
                f"{amount} is less than the bag can have given",
            )
    ceiling = ordered.value * (1 + tolerance.fraction)
    if amount.value > ceiling:
        excess = (amount.value - ordered.value) / ordered.value * 100
        raise HardStop(
            "amount",
            f"at most the ordered {ordered} + {tolerance} (protocol preparation.dose_tolerance)",
            f"{amount} is {format_decimal(excess.quantize(Decimal('0.1')))}% above the order: an overdose",
        )
    floor = ordered.value * (1 - tolerance.fraction)
    if amount.value < floor and not partial:
        below = (ordered.value - amount.value) / ordered.value * 100
        shortfall = format_decimal(below.quantize(Decimal("0.1")))
        if volume is not None and final_volume is not None:
            raise HardStop(
                "volume",
                f"less than the final volume {final_volume} - {tolerance} is a partial dose, recorded as one "
                "only when you say so (--partial)",
                f"{volume} delivers {amount}, {shortfall}% less than the ordered {ordered}",
            )
        raise HardStop(
            "amount",
            f"less than the ordered {ordered} - {tolerance} is a partial dose, recorded as one only when "
            "you say so (--partial)",
            f"{amount} is {shortfall}% below the order",
        )


def check_given_volume(volume: Volume, final_volume: Volume, increment: Volume | None = None) -> None:
    """A bag holds its final volume: more cannot have been given. Less than the protocol's volume
    increment (the smallest volume measured, 0.1 mL by default) cannot have been measured: "0.006 mL"
    is a slip for 6 mL or 60 mL, and would put a dose a thousand times too small in the ledger."""
    if volume.value > final_volume.value:
        raise HardStop(
            "volume",
            f"at most the final volume {final_volume} (protocol preparation.final_volume)",
            f"{volume} is more than the bag holds",
        )
    if increment is not None and volume.value < increment.value:
        raise HardStop(
            "volume",
            f"at least {increment}, the smallest volume measured (protocol preparation.volume_increment)",
            f"{volume} cannot have been measured",
        )


def delivered_from_volume(ordered: Amount, volume: Volume, final_volume: Volume) -> Amount:
    """The amount a part of the bag delivered: the bag is mixed, so amount scales with volume."""
    check_given_volume(volume, final_volume)
    delivered = ordered.value * volume.value / final_volume.value
    return Amount(value=delivered.normalize() if delivered else delivered, unit=ordered.unit)


def check_given_day(
    given_on: date, *, enrolled_on: date, window_earliest: date, days_early_allowed: int, field: str = "at"
) -> None:
    """A dose is not given before the subject was enrolled, nor before its window opens by more than
    the protocol allows (a dose 45 days early is a wrong date, not an early dose)."""
    if given_on < enrolled_on:
        raise DosingError(
            field,
            "a dose is given on or after the day the subject was enrolled",
            f"{given_on.isoformat()} is before enrollment on {enrolled_on.isoformat()}",
        )
    early = (window_earliest - given_on).days
    if early > days_early_allowed:
        raise DosingError(
            field,
            f"at most {days_early_allowed} day(s) before the window opens "
            "(protocol recording.days_early_allowed)",
            f"{given_on.isoformat()} is {early} days before the window opens on "
            f"{window_earliest.isoformat()}",
        )


def check_delayed_day(
    given_on: date,
    *,
    planned_on: date,
    enrolled_on: date,
    window_earliest: date,
    days_early_allowed: int,
    limits: SiteLimits = DEFAULT_LIMITS,
) -> None:
    """The day a delayed dose is expected, typed for a reschedule: a day the dose could be given on
    (:func:`check_given_day`), and a delay a course can have (2072-12-08 for 2026-12-08 moved every
    later dose 46 years)."""
    check_given_day(
        given_on,
        enrolled_on=enrolled_on,
        window_earliest=window_earliest,
        days_early_allowed=days_early_allowed,
        field="given on",
    )
    delay = (given_on - planned_on).days
    if delay > limits.max_delay_days:
        raise HardStop(
            "given on",
            f"a delay of at most {limits.max_delay_days} days after the planned day "
            "(site setting DOSING_MAX_DELAY_DAYS)",
            f"{given_on.isoformat()} is {delay} days after the planned {planned_on.isoformat()}; "
            "check the year",
        )
