"""Site settings are read from ``DOSING_`` variables as pydantic-settings read them (issue 15 replaced
it: importing it cost ~40 ms of every command's start), and a bad value is a named refusal."""

from __future__ import annotations

import os
from typing import Any

import pytest
from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from dosing.app.policy import AccessPolicy
from dosing.errors import DosingError
from dosing.settings import EnvironmentSettings, Settings, load_settings
from dosing.store.lots import PharmacySettings

KINDS = [Settings, AccessPolicy, PharmacySettings]


def reference(kind: type[EnvironmentSettings]) -> BaseSettings:
    """The same fields read by pydantic-settings, the library the engine used before."""
    namespace: dict[str, Any] = {
        "__annotations__": {name: field.annotation for name, field in kind.model_fields.items()},
        "model_config": SettingsConfigDict(env_prefix="DOSING_", extra="ignore"),
        **kind.model_fields,
    }
    return type(f"Reference{kind.__name__}", (BaseSettings,), namespace)()  # type: ignore[no-any-return]


ENVIRONMENTS = [
    {},
    {"DOSING_DATABASE_URL": "postgresql+psycopg://dosing@db/trial", "DOSING_WEIGHT_MAX_KG": "250.5"},
    {"dosing_weight_min_kg": "35", "Dosing_Latest_Year": "2090"},  # names in any case
    {"DOSING_SESSION_IDLE_MINUTES": "30", "DOSING_CLOCK_SKEW_MINUTES": "0", "DOSING_MAX_FAILED_LOGINS": "3"},
    {"DOSING_LABEL_PATIENT_NAME": "yes", "DOSING_BAG_USE_HOURS": "12.5", "DOSING_FACILITY": "Cell lab, B2"},
    {
        "DOSING_PRODUCT_CODES": '{"UC-MSC": "S1398V00", "MSC-EV": "S1399V00"}',
        "DOSING_DO_NOT_DISPENSE_DAYS": "2",
    },
    {"DOSING_LABEL_PATIENT_NAME": "0", "DOSING_UNRELATED": "x", "OTHER_WEIGHT_MAX_KG": "1"},
]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
@pytest.mark.parametrize("kind", KINDS)
def test_the_environment_is_read_as_pydantic_settings_read_it(
    monkeypatch: pytest.MonkeyPatch, kind: type[EnvironmentSettings], environment: dict[str, str]
) -> None:
    monkeypatch.setenv("HOME", "/home/pharmacist")
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    for name in [name for name in os.environ if name.upper().startswith("DOSING_")]:
        monkeypatch.delenv(name)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert load_settings(kind).model_dump() == reference(kind).model_dump()


@pytest.mark.parametrize(
    ("variable", "value", "words"),
    [
        ("DOSING_SESSION_IDLE_MINUTES", "100000", "a whole number >= 1 and <= 1440, default 15"),
        ("DOSING_PRODUCT_CODES", "{UC-MSC: S1398V00}", "not JSON"),
        ("DOSING_PRODUCT_CODES", '{"UC-MSC": 5}', "a JSON object of texts"),
        ("DOSING_BAG_USE_HOURS", "", "a number > 0 and <= 720, default 24"),
    ],
)
def test_a_bad_value_is_refused_naming_its_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, words: str
) -> None:
    monkeypatch.setenv(variable, value)
    kind = AccessPolicy if "SESSION" in variable else PharmacySettings
    with pytest.raises(DosingError) as refusal:
        load_settings(kind)
    assert refusal.value.field == variable and words in str(refusal.value)
    # pydantic-settings refused the same values (a JSON one with its own SettingsError, a traceback).
    with pytest.raises((ValidationError, ValueError)):
        reference(kind)


def test_a_changed_variable_is_seen_by_the_next_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """The settings are remembered while the environment is unchanged; any change of a variable's
    value, name or presence (any case) is read on the next call, never an earlier value."""
    from dosing.settings import site_limits

    monkeypatch.delenv("DOSING_WEIGHT_MAX_KG", raising=False)
    default = site_limits().weight_max_kg
    assert site_limits() is site_limits()
    monkeypatch.setenv("DOSING_WEIGHT_MAX_KG", "250")
    assert site_limits().weight_max_kg == 250
    monkeypatch.setenv("DOSING_WEIGHT_MAX_KG", "251")  # same names, another value
    assert site_limits().weight_max_kg == 251
    monkeypatch.delenv("DOSING_WEIGHT_MAX_KG")
    monkeypatch.setenv("dosing_weight_max_kg", "252")  # another name's case
    assert site_limits().weight_max_kg == 252
    monkeypatch.delenv("dosing_weight_max_kg")
    assert site_limits().weight_max_kg == default
