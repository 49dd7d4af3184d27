"""Issue 9: a viability typo (9.5% for 95%) and lot concentrations no product has."""

from __future__ import annotations

import json

import pytest

from tests.safety.conftest import Run, enroll_low, refused, register_lot

SQLITE_ONLY = pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)


@SQLITE_ONLY
def test_plan_refuses_a_viability_below_the_release_minimum(dosing: Run) -> None:
    result = dosing(
        "plan", "NCT04822922", "--arm", "low", "--weight", "62kg", "--anchor", "2026-12-01",
        "--viability", "9.5%", ok=False,
    )  # fmt: skip
    refused(result, "viability", "9.5% is below the release minimum", "release_viability_minimum")


@SQLITE_ONLY
def test_plan_refuses_a_concentration_outside_the_products_range(dosing: Run) -> None:
    result = dosing(
        "plan", "NCT04822922", "--arm", "low", "--weight", "62kg", "--anchor", "2026-12-01",
        "--concentration", "2e9/mL", "--viability", "95%", ok=False,
    )  # fmt: skip
    refused(result, "concentration", "not a plausible concentration of UC-MSC", "concentration_range")


def test_lots_add_refuses_a_concentration_outside_the_products_range(dosing: Run) -> None:
    result = dosing(
        "lots", "add", "--lot-number", "L9", "--product", "UC-MSC", "--concentration", "2e12/mL",
        "--viability", "95%", "--volume", "50mL", "--expiry", "2027-12-31", ok=False,
    )  # fmt: skip
    refused(result, "concentration", "not a plausible concentration")
    assert json.loads(dosing("lots", "list", "--json").stdout) == []


def test_lots_add_warns_on_a_viability_below_release_and_prep_skips_the_lot(dosing: Run, tmp_path) -> None:  # type: ignore[no-untyped-def]
    typo = register_lot(dosing, "L-TYPO", viability="9.5%")
    assert "warning: viability: 9.5% is below the release minimum" in typo.stderr
    assert "prep will not use this lot" in typo.stderr
    enroll_low(dosing)
    out = str(tmp_path / "sheets")
    # Named explicitly, the lot is refused at prep (the queue's per-dose refusal, exit 2).
    named = dosing(
        "prep", "S-001", "2", "--lot", "L-TYPO", "-o", out, "--as-of", "2026-12-03T00:00:00+00:00", ok=False
    )
    assert named.returncode == 2 and "Traceback" not in named.stderr
    assert "REFUSED S-001 dose 2: viability: 9.5% is below the release minimum" in named.stderr
    # The automatic choice skips it for a good lot that expires later.
    register_lot(dosing, "L-GOOD")
    chosen = dosing("prep", "S-001", "2", "-o", out, "--as-of", "2026-12-03T00:00:00+00:00", "--json")
    assert [row["lot"] for row in json.loads(chosen.stdout)] == ["L-GOOD"]


@pytest.mark.parametrize(
    ("volume", "expiry", "field", "rule"),
    [
        ("50L", "2027-12-31", "volume", "at most 1000 mL per container"),  # 50 L for 50 mL
        ("5000mL", "2027-12-31", "volume", "DOSING_LOT_CONTAINER_MAX_ML"),  # an extra zero, twice
        ("50mL", "2072-12-31", "expiry", "DOSING_LOT_SHELF_LIFE_MAX_YEARS"),  # 2072 for 2027
    ],
)
def test_lots_add_refuses_a_container_or_an_expiry_no_lot_has(
    dosing: Run, volume: str, expiry: str, field: str, rule: str
) -> None:
    result = dosing(
        "lots", "add", "--lot-number", "L9", "--product", "UC-MSC", "--concentration", "2e6/mL",
        "--viability", "95%", "--volume", volume, "--expiry", expiry, ok=False,
    )  # fmt: skip
    refused(result, field, "", rule)
    assert json.loads(dosing("lots", "list", "--json").stdout) == []


@SQLITE_ONLY
def test_a_site_may_receive_larger_containers_when_it_says_so(dosing: Run) -> None:
    dosing(
        "lots", "add", "--lot-number", "L9", "--product", "UC-MSC", "--concentration", "2e6/mL",
        "--viability", "95%", "--volume", "1500mL", "--expiry", "2027-12-31",
        extra_env={"DOSING_LOT_CONTAINER_MAX_ML": "2000"},
    )  # fmt: skip
    assert [lot["volume"] for lot in json.loads(dosing("lots", "list", "--json").stdout)] == [
        {"value": 1500, "unit": "mL"}
    ]


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("variable", "value", "rule"),
    [
        ("DOSING_SESSION_IDLE_MINUTES", "100000", "a whole number >= 1 and <= 1440, default 15"),
        ("DOSING_WEIGHT_MAX_KG", "abc", "a number, default 300"),
        ("DOSING_LOT_CONTAINER_MAX_ML", "-3", "a number > 0 and <= 10000, default 1000"),
        ("DOSING_RELEASE_MIN_VIABILITY", "700", "<= 100"),
        # JSON: pydantic-settings let a malformed value out as a SettingsError traceback.
        ("DOSING_PRODUCT_CODES", '{"UC-MSC": S1398V00}', "JSON"),
        ("DOSING_PRODUCT_CODES", '["S1398V00"]', "a JSON object of texts"),
    ],
)
def test_a_bad_site_setting_is_named_never_a_traceback(
    dosing: Run, variable: str, value: str, rule: str
) -> None:
    # Before: a traceback (exit 1), or the refusal blamed the first value typed (``anchor: not a date``).
    assert json.loads(dosing("lots", "list", "--json").stdout) == []  # logged in, before the bad setting
    refusals = 0
    for args in (
        ("plan", "NCT04822922", "--arm", "low", "--weight", "62kg", "--anchor", "2026-12-01"),
        ("lots", "add", "--lot-number", "L9", "--product", "UC-MSC", "--concentration", "2e6/mL",
         "--viability", "95%", "--volume", "50mL", "--expiry", "2027-12-31"),
        ("whoami",),
    ):  # fmt: skip
        result = dosing(*args, ok=False, extra_env={variable: value})
        if result.returncode == 0:
            continue  # this command does not read that setting
        refusals += 1
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        assert result.stderr.startswith(f"error: {variable}: {value!r}: "), result.stderr
        assert f"(rule: site setting {variable}: " in result.stderr and rule in result.stderr
    assert refusals >= 1, f"no command read {variable}"
    assert json.loads(dosing("lots", "list", "--json").stdout) == []


def test_a_lot_number_typed_in_another_case_is_the_same_lot_and_refused(dosing: Run) -> None:
    register_lot(dosing, "L123")
    # The same lot keyed again in lower case, with a tenfold concentration: a second register entry would
    # give one lot two concentrations and two stocks, and a bedside "l123" would pick one by its case.
    twin = dosing(
        "lots", "add", "--lot-number", "l123", "--product", "UC-MSC", "--concentration", "2e7/mL",
        "--viability", "95%", "--volume", "50mL", "--expiry", "2027-12-31", ok=False,
        clock="2026-11-01T00:00:00+00:00",
    )  # fmt: skip
    refused(twin, "lot", "lot l123 is the registered L123 written in another case", "differ only in upper")
    assert [row["identifier"] for row in json.loads(dosing("lots", "list", "--json").stdout)] == ["L123"]


@SQLITE_ONLY
def test_a_lot_received_already_expired_is_registered_with_a_warning(dosing: Run) -> None:
    received = dosing(
        "lots", "add", "--lot-number", "L-OLD", "--product", "UC-MSC", "--concentration", "2e6/mL",
        "--viability", "95%", "--volume", "50mL", "--expiry", "2026-10-31",
        clock="2026-11-01T09:00:00+00:00",
    )  # fmt: skip
    assert "registered lot L-OLD" in received.stdout
    assert "warning: expiry: 2026-10-31 is already past (2026-11-01): the lot is expired" in received.stderr
    # Through its expiry date a lot is usable: no warning on the day itself.
    today = dosing(
        "lots", "add", "--lot-number", "L-TODAY", "--product", "UC-MSC", "--concentration", "2e6/mL",
        "--viability", "95%", "--volume", "50mL", "--expiry", "2026-11-01",
        clock="2026-11-01T09:00:00+00:00",
    )  # fmt: skip
    assert "warning" not in today.stderr
