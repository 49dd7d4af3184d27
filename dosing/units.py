"""Quantities with explicit units, in exact decimal arithmetic.

No bare number crosses a public function of the core: a weight is a ``Weight`` in kg, a volume a
``Volume`` in mL, an amount of product an ``Amount`` counted in cells, particles or mg. Arithmetic
between them checks that the units agree, so a cells/kg dose can never be divided by a mg/mL lot.

Units are written with UCUM-style codes in files and exports (``kg``, ``mL``, ``mg``, ``{cells}``,
``{cells}/kg``, ``{particles}/mL``) and read back from the way people type them::

    >>> parse_weight("62kg")
    Weight(value=Decimal('62'), unit='kg')
    >>> parse_dose_per_kg("8 x10^5 cells/kg") * parse_weight("62 kg")
    Amount(value=Decimal('4.96E+7'), unit=<AmountUnit.CELLS: '{cells}'>)
    >>> str(parse_dose_per_kg("8 x10^5 cells/kg") * parse_weight("62 kg"))
    '4.96 x10^7 cells'
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, PlainSerializer, computed_field, field_validator

from dosing.errors import UnitError

#: One avoirdupois pound, exactly, by international definition (1959).
KG_PER_POUND = Decimal("0.45359237")


def _decimal_to_json(value: Decimal) -> int | float:
    # JSON numbers for scripts; integral values stay integers so 49600000 never prints as 4.96e7.
    if value == value.to_integral_value():
        return int(value)
    return float(value)


ExactDecimal = Annotated[Decimal, PlainSerializer(_decimal_to_json, when_used="json")]


class AmountUnit(StrEnum):
    """What a product is counted in."""

    CELLS = "{cells}"
    PARTICLES = "{particles}"
    MG = "mg"

    @property
    def noun(self) -> str:
        return {"{cells}": "cells", "{particles}": "particles", "mg": "mg"}[self.value]


_AMOUNT_ALIASES: dict[str, AmountUnit] = {
    "cells": AmountUnit.CELLS,
    "cell": AmountUnit.CELLS,
    "{cells}": AmountUnit.CELLS,
    "{cell}": AmountUnit.CELLS,
    "particles": AmountUnit.PARTICLES,
    "particle": AmountUnit.PARTICLES,
    "{particles}": AmountUnit.PARTICLES,
    "mg": AmountUnit.MG,
}
_KG_ALIASES = {"kg", "kgs", "kilogram", "kilograms"}
_POUND_ALIASES = {"lb", "lbs", "pound", "pounds", "[lb_av]"}
_ML_ALIASES = {"ml", "millilitre", "milliliter", "millilitres", "milliliters"}

_QUANTITY = re.compile(
    r"""^\s*
    (?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)
    \s*(?:(?:x|X|×|\*)\s*10\s*\^\s*(?P<exponent>[+-]?\d+))?
    \s*(?P<unit>.*?)\s*$""",
    re.VERBOSE,
)


def split_quantity(text: str, field: str) -> tuple[Decimal, str]:
    """Split ``"8 x10^5 cells/kg"`` into ``(Decimal('8E+5'), 'cells/kg')``."""
    if not isinstance(text, str):
        raise UnitError(field, "quantity with a unit", f"expected text such as '62 kg', got {text!r}")
    match = _QUANTITY.match(text)
    if match is None:
        raise UnitError(field, "quantity with a unit", f"{text!r} is not a number followed by a unit")
    try:
        number = Decimal(match["number"])
    except InvalidOperation as error:  # pragma: no cover - the regex admits only valid decimals
        raise UnitError(field, "quantity with a unit", f"{text!r} has no valid number") from error
    if match["exponent"] is not None:
        number = number.scaleb(int(match["exponent"]))
    if number and not -30 <= number.adjusted() <= 30:
        # 1e400 kg is a slip of the keyboard, and it would overflow every figure computed from it.
        raise UnitError(field, "a number between 10^-30 and 10^30", f"{text!r} is out of any plausible range")
    return number, match["unit"]


def _check_finite_positive(value: Decimal, field: str, *, allow_zero: bool = False) -> Decimal:
    if not value.is_finite():
        raise UnitError(field, "finite number", f"{value} is not a finite number")
    if value < 0 or (value == 0 and not allow_zero):
        rule = "value >= 0" if allow_zero else "value > 0"
        raise UnitError(field, rule, f"{value} is not allowed")
    return value


def format_decimal(value: Decimal) -> str:
    """``Decimal('24.80')`` -> ``'24.8'``; ``Decimal('1E+2')`` -> ``'100'``."""
    normal = value.normalize()
    if normal == normal.to_integral_value():
        return str(normal.quantize(Decimal(1)))
    return format(normal, "f")


def format_count(value: Decimal) -> str:
    """Scientific notation as pharmacy writes it: ``4.96 x10^7``; small numbers stay plain."""
    if value == 0:
        return "0"
    if abs(value) < 10_000:
        return format_decimal(value)
    exponent = value.adjusted()
    mantissa = value.scaleb(-exponent).normalize()
    return f"{format_decimal(mantissa)} x10^{exponent}"


class _Quantity(BaseModel):
    model_config = ConfigDict(frozen=True)

    value: ExactDecimal

    @field_validator("value", mode="before")
    @classmethod
    def _no_floats(cls, raw: Any) -> Any:
        # Floats carry binary rounding error (0.1 + 0.2); go through their shortest repr instead.
        if isinstance(raw, float):
            return Decimal(repr(raw))
        return raw


class Weight(_Quantity):
    """A body weight in kilograms."""

    unit: Literal["kg"] = "kg"

    @field_validator("value")
    @classmethod
    def _positive(cls, value: Decimal) -> Decimal:
        return _check_finite_positive(value, "weight")

    @classmethod
    def kg(cls, value: Decimal | int | str) -> Self:
        return cls(value=Decimal(value))

    def __str__(self) -> str:
        return f"{format_decimal(self.value)} kg"


class Volume(_Quantity):
    """A volume in millilitres."""

    unit: Literal["mL"] = "mL"

    @field_validator("value")
    @classmethod
    def _not_negative(cls, value: Decimal) -> Decimal:
        return _check_finite_positive(value, "volume", allow_zero=True)

    @classmethod
    def ml(cls, value: Decimal | int | str) -> Self:
        return cls(value=Decimal(value))

    def __sub__(self, other: Volume) -> Volume:
        if not isinstance(other, Volume):
            return NotImplemented
        return Volume(value=self.value - other.value)

    def __add__(self, other: Volume) -> Volume:
        if not isinstance(other, Volume):
            return NotImplemented
        return Volume(value=self.value + other.value)

    def __lt__(self, other: Volume) -> bool:
        return self.value < other.value

    def __le__(self, other: Volume) -> bool:
        return self.value <= other.value

    def __str__(self) -> str:
        return f"{format_decimal(self.value)} mL"


class Amount(_Quantity):
    """An amount of product: a count of cells or particles, or a mass in mg."""

    unit: AmountUnit

    @field_validator("value")
    @classmethod
    def _not_negative(cls, value: Decimal) -> Decimal:
        return _check_finite_positive(value, "amount", allow_zero=True)

    def __truediv__(self, other: Concentration) -> Volume:
        if not isinstance(other, Concentration):
            return NotImplemented
        if other.amount_unit is not self.unit:
            raise UnitError(
                "concentration",
                "lot concentration in the dose's unit",
                f"a dose in {self.unit.noun} cannot be drawn from a lot in {other.amount_unit.noun}/mL",
            )
        return Volume(value=self.value / other.value)

    def __add__(self, other: Amount) -> Amount:
        if not isinstance(other, Amount):
            return NotImplemented
        self._same_unit(other)
        return Amount(value=self.value + other.value, unit=self.unit)

    def _same_unit(self, other: Amount) -> None:
        if other.unit is not self.unit:
            raise UnitError("amount", "same unit", f"cannot combine {self.unit.noun} with {other.unit.noun}")

    def __lt__(self, other: Amount) -> bool:
        self._same_unit(other)
        return self.value < other.value

    def __le__(self, other: Amount) -> bool:
        self._same_unit(other)
        return self.value <= other.value

    def __str__(self) -> str:
        return f"{format_count(self.value)} {self.unit.noun}"


class DosePerKg(_Quantity):
    """A weight-based dose: amount of product per kg of body weight."""

    amount_unit: AmountUnit

    @field_validator("value")
    @classmethod
    def _positive(cls, value: Decimal) -> Decimal:
        return _check_finite_positive(value, "dose per kg")

    # Serialized too, so every quantity in JSON reads {value, unit} like the others.
    @computed_field  # type: ignore[prop-decorator]
    @property
    def unit(self) -> str:
        return f"{self.amount_unit.value}/kg"

    def __mul__(self, weight: Weight) -> Amount:
        if not isinstance(weight, Weight):
            return NotImplemented
        return Amount(value=self.value * weight.value, unit=self.amount_unit)

    def __lt__(self, other: DosePerKg) -> bool:
        return self.value < other.value

    def __le__(self, other: DosePerKg) -> bool:
        return self.value <= other.value

    def __str__(self) -> str:
        return f"{format_count(self.value)} {self.amount_unit.noun}/kg"


class Concentration(_Quantity):
    """Amount of product per mL of a lot."""

    amount_unit: AmountUnit

    @field_validator("value")
    @classmethod
    def _positive(cls, value: Decimal) -> Decimal:
        if value.is_finite() and value <= 0:
            raise UnitError("concentration", "concentration > 0", f"{value} per mL cannot supply a dose")
        return _check_finite_positive(value, "concentration")

    # Serialized too, so every quantity in JSON reads {value, unit} like the others.
    @computed_field  # type: ignore[prop-decorator]
    @property
    def unit(self) -> str:
        return f"{self.amount_unit.value}/mL"

    def __mul__(self, volume: Volume) -> Amount:
        if not isinstance(volume, Volume):
            return NotImplemented
        return Amount(value=self.value * volume.value, unit=self.amount_unit)

    def __str__(self) -> str:
        return f"{format_count(self.value)} {self.amount_unit.noun}/mL"


class Percent(_Quantity):
    """A percentage such as post-thaw viability; 95% is ``Percent(value=95)``."""

    unit: Literal["%"] = "%"

    @property
    def fraction(self) -> Decimal:
        return self.value / 100

    def __str__(self) -> str:
        return f"{format_decimal(self.value)}%"


# --- parsing what people type --------------------------------------------------------------------


def parse_weight(text: str, *, allow_pounds: bool = False, field: str = "weight") -> Weight:
    """A body weight in kg. Pounds are converted only when the caller allows them explicitly."""
    number, unit = split_quantity(text, field)
    unit_key = unit.lower()
    if unit_key in _KG_ALIASES:
        kg = number
    elif unit_key in _POUND_ALIASES:
        if not allow_pounds:
            raise UnitError(
                field,
                "weight in kg",
                f"{text!r} is in pounds; give kg, or allow pounds explicitly (--allow-pounds) to convert",
            )
        kg = number * KG_PER_POUND
    elif unit_key == "":
        raise UnitError(field, "weight in kg", f"{text!r} has no unit; write it as e.g. '62 kg'")
    else:
        raise UnitError(field, "weight in kg", f"{text!r}: unknown weight unit {unit!r}")
    if kg <= 0:
        raise UnitError(field, "weight > 0 kg", f"{text!r} is not a body weight")
    return Weight(value=kg)


def parse_volume(text: str, *, field: str = "volume") -> Volume:
    number, unit = split_quantity(text, field)
    _check_finite_positive(number, field)
    if unit.lower() in _ML_ALIASES:
        return Volume(value=number)
    if unit.lower() == "l":
        return Volume(value=number * 1000)
    raise UnitError(field, "volume in mL", f"{text!r} is not a volume such as '100 mL'")


def parse_amount_unit(text: str, *, field: str) -> AmountUnit:
    try:
        return _AMOUNT_ALIASES[text.strip().lower()]
    except KeyError:
        raise UnitError(field, "cells, particles or mg", f"unknown unit of product {text!r}") from None


def parse_amount(text: str, *, field: str = "amount", default_unit: AmountUnit | None = None) -> Amount:
    number, unit = split_quantity(text, field)
    if unit == "" and default_unit is None:
        raise UnitError(field, "amount with a unit", f"{text!r} has no unit (cells, particles or mg)")
    amount_unit = default_unit if unit == "" and default_unit else parse_amount_unit(unit, field=field)
    _check_finite_positive(number, field, allow_zero=True)
    return Amount(value=number, unit=amount_unit)


def _split_per(unit: str, denominator_aliases: set[str], field: str, example: str) -> str:
    head, sep, tail = unit.rpartition("/")
    if not sep or tail.strip().lower() not in denominator_aliases:
        raise UnitError(field, f"unit per {example}", f"{unit!r} is not a unit per {example}")
    return head.strip()


def parse_dose_per_kg(
    text: str, *, field: str = "dose per kg", default_unit: AmountUnit | None = None
) -> DosePerKg:
    number, unit = split_quantity(text, field)
    head = _split_per(unit, _KG_ALIASES, field, "kg")
    if head == "" and default_unit is None:
        raise UnitError(field, "dose with a unit", f"{text!r}: say what is counted, e.g. 'cells/kg'")
    amount_unit = default_unit if head == "" and default_unit else parse_amount_unit(head, field=field)
    return DosePerKg(value=number, amount_unit=amount_unit)


def parse_concentration(
    text: str, *, field: str = "concentration", default_unit: AmountUnit | None = None
) -> Concentration:
    number, unit = split_quantity(text, field)
    head = _split_per(unit, _ML_ALIASES, field, "mL")
    if head == "" and default_unit is None:
        raise UnitError(field, "concentration with a unit", f"{text!r}: say what is counted, e.g. 'cells/mL'")
    amount_unit = default_unit if head == "" and default_unit else parse_amount_unit(head, field=field)
    if number <= 0:
        raise UnitError(field, "concentration > 0", f"{text!r} cannot supply a dose")
    return Concentration(value=number, amount_unit=amount_unit)


def parse_percent(text: str, *, field: str = "viability") -> Percent:
    number, unit = split_quantity(text, field)
    if unit != "%":
        raise UnitError(field, "percentage", f"{text!r}: write a percentage such as '95%'")
    return Percent(value=number)
