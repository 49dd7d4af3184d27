"""Product lots: what a bag is drawn from, and the checks that stop a wrong lot reaching a patient.

A lot is identified either by the manufacturer's lot number or by an ISBT 128 Donation Identification
Number (DIN) printed with its check character. The check character is what a person types from the
eye-readable label; it is verified with ISO 7064 mod 37-2 so a mistyped DIN is refused at the door::

    >>> din_check_character("G123498654321")
    'H'
    >>> lot = Lot.model_validate({"product": "UC-MSC", "din": "G123498654321", "check_character": "H",
    ...     "concentration": "2 x10^6 cells/mL", "viability": "95%", "volume": "50 mL",
    ...     "expiry": "2027-12-31"})
    >>> lot.identifier, str(lot.concentration), str(lot.viability)
    ('G123498654321', '2 x10^6 cells/mL', '95%')

Every refusal is a :class:`~dosing.errors.HardStop` naming the field and the rule.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Self, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, field_validator, model_validator
from stdnum.iso7064 import mod_37_2

from dosing.errors import DosingError, HardStop
from dosing.protocol import Protocol
from dosing.units import (
    Concentration,
    Percent,
    Volume,
    parse_concentration,
    parse_percent,
    parse_volume,
)

#: ISBT 128 DIN: facility id (a letter other than O, then four digits), 2-digit year, 6-digit sequence.
DIN_PATTERN = re.compile(r"^[A-NP-Z][0-9]{4}[0-9]{2}[0-9]{6}$")
#: The mod 37-2 alphabet: the check value 36 is written as '*'.
CHECK_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ*"
T = TypeVar("T")

LOT_NUMBER_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,39}$")


def normalize_din(text: str) -> str:
    """``'g1234 98 654321'`` -> ``'G123498654321'`` (eye-readable labels print the DIN in groups)."""
    return re.sub(r"[\s-]", "", text).upper()


def din_check_character(din: str) -> str:
    """The ISO 7064 mod 37-2 check character of a 13-character DIN."""
    return str(mod_37_2.calc_check_digit(normalize_din(din)))


def check_din(din: str, check_character: str) -> str:
    """The normalized DIN, or a HardStop when its form or its check character is wrong."""
    normalized = normalize_din(din)
    if not DIN_PATTERN.match(normalized):
        raise HardStop(
            "din",
            "ISBT 128 DIN: 5-character facility id, 2-digit year, 6-digit sequence (13 characters)",
            f"{din!r} is not a Donation Identification Number",
        )
    typed = check_character.strip().upper()
    if len(typed) != 1 or typed not in CHECK_ALPHABET:
        raise HardStop(
            "check character", "one character 0-9, A-Z or *", f"{check_character!r} is not a check character"
        )
    expected = din_check_character(normalized)
    if typed != expected:
        raise HardStop(
            "check character",
            "ISO 7064 mod 37-2 check character of the DIN",
            f"{typed} does not match DIN {normalized}; re-read the label (a DIN or its check is mistyped)",
        )
    return normalized


def _text(parser: Any, field: str) -> Any:
    def parse(value: Any) -> Any:
        return parser(value, field=field) if isinstance(value, str) else value

    return BeforeValidator(parse)


def _concentration_text(value: Any) -> Any:
    if isinstance(value, str):
        return parse_concentration(value, field="concentration")
    return value


class Lot(BaseModel):
    """One registered lot (or ISBT 128 donation) of a product, with its post-thaw figures."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    product: str
    lot_number: str | None = None
    din: str | None = None
    check_character: str | None = None
    concentration: Annotated[Concentration, BeforeValidator(_concentration_text)]
    #: Post-thaw viability; cell products need it, particle and mass products have none.
    viability: Annotated[Percent | None, _text(parse_percent, "viability")] = None
    volume: Annotated[Volume, _text(parse_volume, "volume")]
    expiry: date

    @field_validator("product")
    @classmethod
    def _named(cls, name: str) -> str:
        if not name.strip():
            raise HardStop("product", "the product's name as the protocol spells it", "empty")
        return name.strip()

    @field_validator("viability")
    @classmethod
    def _possible_viability(cls, viability: Percent | None) -> Percent | None:
        if viability is not None and not Decimal(0) < viability.value <= Decimal(100):
            raise HardStop("viability", "0% < viability <= 100%", f"{viability} is not a possible viability")
        return viability

    @field_validator("volume")
    @classmethod
    def _some_volume(cls, volume: Volume) -> Volume:
        if volume.value <= 0:
            raise HardStop("volume", "lot volume > 0 mL", f"{volume} cannot supply a dose")
        return volume

    @model_validator(mode="after")
    def _one_identifier(self) -> Self:
        if (self.lot_number is None) == (self.din is None):
            raise HardStop("lot", "exactly one of lot number or ISBT 128 DIN", "give one identifier")
        if self.din is not None:
            if self.check_character is None:
                raise HardStop("check character", "a DIN is registered with its check character", "missing")
            din = check_din(self.din, self.check_character)
            object.__setattr__(self, "din", din)
            object.__setattr__(self, "check_character", self.check_character.strip().upper())
        else:
            assert self.lot_number is not None
            if self.check_character is not None:
                raise HardStop("check character", "only a DIN has a check character", "remove it")
            if not LOT_NUMBER_PATTERN.match(self.lot_number):
                raise HardStop(
                    "lot number",
                    "1-40 letters, digits, '.', '_', '/' or '-'",
                    f"{self.lot_number!r} is not a lot number",
                )
        return self

    @classmethod
    def checked(cls, data: dict[str, Any]) -> Lot:
        """Validate a lot, turning the first complaint into the HardStop that names field and rule."""
        try:
            return cls.model_validate(data)
        except ValidationError as error:
            raise refusal_from(error) from None

    @property
    def identifier(self) -> str:
        """What the pharmacy types and scans: the DIN, or the lot number."""
        identifier = self.din if self.din is not None else self.lot_number
        assert identifier is not None
        return identifier

    @property
    def identifier_kind(self) -> str:
        return "DIN" if self.din is not None else "lot"

    def describe(self) -> str:
        if self.din is not None:
            return f"DIN {self.din} (check {self.check_character})"
        return f"lot {self.lot_number}"


def refusal_from(error: ValidationError) -> HardStop:
    """The HardStop a validator raised (pydantic wraps it), or one built from pydantic's message."""
    first = error.errors()[0]
    original = first.get("ctx", {}).get("error")
    if isinstance(original, DosingError):
        return HardStop(original.field, original.rule, original.message)
    location = ".".join(str(part) for part in first["loc"]) or "lot"
    return HardStop(location, first.get("type", "valid value"), first["msg"])


def check_lot_for_dose(lot: Lot, protocol: Protocol, on: date, do_not_dispense_days: int) -> None:
    """Refuse a lot that must not be used for a dose of ``protocol`` given on ``on`` (local date).

    The lot must be of the protocol's product, counted in the product's unit, within the product's
    plausible concentrations and at or above its release viability, not expired on the day
    of the dose, and at least ``do_not_dispense_days`` days away from its expiry (the site's margin).
    A lot is usable through its expiry date.
    """
    if do_not_dispense_days < 0:
        raise HardStop("do-not-dispense days", "a whole number of days >= 0", f"{do_not_dispense_days}")
    product = protocol.product
    if lot.product.casefold() != product.name.casefold():
        raise HardStop(
            "product",
            f"lot of the protocol's product {product.name}",
            f"{lot.describe()} is {lot.product}, not {product.name} ({protocol.id})",
        )
    if lot.concentration.amount_unit is not product.amount_unit:
        raise HardStop(
            "concentration",
            f"{product.name} is counted in {product.amount_unit.noun}",
            f"{lot.describe()} is {lot.concentration}",
        )
    # A typo in the register (2e9 for 2e6, 9.5% for 95%) makes a 1000x or 10x bag: never usable.
    product.check_concentration(lot.concentration)
    product.check_viability(lot.viability)
    if lot.expiry < on:
        raise HardStop(
            "expiry",
            "lot not expired on the day of the dose",
            f"{lot.describe()} expired on {lot.expiry.isoformat()}, before the dose on {on.isoformat()}",
        )
    days_left = (lot.expiry - on).days
    if days_left < do_not_dispense_days:
        raise HardStop(
            "expiry",
            f"at least {do_not_dispense_days} days between the dose and the lot's expiry "
            "(site's do-not-dispense days)",
            f"{lot.describe()} expires on {lot.expiry.isoformat()}, {days_left} "
            f"day{'' if days_left == 1 else 's'} after the dose on {on.isoformat()}",
        )


def pick_lot(
    lots: list[Lot], protocol: Protocol, on: date, do_not_dispense_days: int, suits: Callable[[Lot], T]
) -> tuple[Lot, T]:
    """First-expiry-first-out: the usable lot of the product that expires soonest, with what ``suits``
    made of it (``suits`` raises a HardStop for a lot that cannot make the bag, e.g. too little volume).

    When none suits, the refusal of the soonest-expiring candidate is raised, so the pharmacist sees
    why (expired, too close to expiry, too small).
    """
    candidates = sorted(
        (lot for lot in lots if lot.product.casefold() == protocol.product.name.casefold()),
        key=lambda lot: (lot.expiry, lot.identifier),
    )
    if not candidates:
        raise HardStop(
            "lot",
            f"a registered lot of {protocol.product.name}",
            "none is registered; register one with 'dosing lots add'",
        )
    first_refusal: HardStop | None = None
    for lot in candidates:
        try:
            check_lot_for_dose(lot, protocol, on, do_not_dispense_days)
            return lot, suits(lot)
        except HardStop as refusal:
            first_refusal = first_refusal or refusal
    assert first_refusal is not None
    raise first_refusal
