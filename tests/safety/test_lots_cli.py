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
