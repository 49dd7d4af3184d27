"""Errors and warnings that name the field and the rule they enforce.

A pharmacist reading an error must know what to fix (the field) and why it was refused (the rule):
``weight: 45 kg is below the inclusion limit (rule: weight >= 50 kg, inclusion criteria)``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, ValidationError


class DosingError(ValueError):
    """Bad input or a violated protocol rule. Nothing was computed or stored."""

    def __init__(self, field: str, rule: str, message: str) -> None:
        self.field = field
        self.rule = rule
        self.message = message
        super().__init__(f"{field}: {message} (rule: {rule})")

    def as_dict(self) -> dict[str, str]:
        return {"error": type(self).__name__, "field": self.field, "rule": self.rule, "message": self.message}


class HardStop(DosingError):
    """A preparation or administration that must not go ahead (wrong dose, wrong volume, wrong product)."""


class ProtocolError(DosingError):
    """A protocol definition that is invalid or that the engine cannot follow."""


class UnitError(DosingError):
    """A quantity without a unit, with the wrong unit, or with a unit the user did not allow."""


class DoseWarning(BaseModel):
    """Something a pharmacist must see and acknowledge before a dose, but that does not stop it."""

    model_config = ConfigDict(frozen=True)

    field: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message} (rule: {self.rule})"


def from_validation_error(error: ValidationError, *, prefix: str = "") -> DosingError:
    """Turn pydantic's first complaint into a DosingError that names the field."""
    first = error.errors()[0]
    original = first.get("ctx", {}).get("error")
    if isinstance(original, DosingError):
        # A validator that raised a DosingError already named its field and rule.
        return type(original)(original.field, original.rule, original.message)
    location = ".".join(str(part) for part in first["loc"]) or "value"
    field = f"{prefix}.{location}" if prefix and location != "value" else (prefix or location)
    return DosingError(field, first.get("type", "valid value"), first["msg"])
