"""The installed ``dosing`` command, run as a pharmacist would: protocols list/show/validate and plan."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest
import yaml

BIN = Path(sys.executable).parent
DOSING = BIN / "dosing"
HIGH_62KG = ["plan", "NCT04822922", "--arm", "high", "--weight", "62kg", "--anchor", "2026-12-01"]


@pytest.fixture
def env(tmp_path):
    return {
        **os.environ,
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "DOSING_DATABASE_URL": f"sqlite:///{tmp_path / 'unused.db'}",
        "DO_NOT_TRACK": "1",
        "NO_COLOR": "1",
    }


def dosing(env, *args, cwd=None):
    return subprocess.run(
        [str(DOSING), *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=60, check=False
    )


def test_the_entry_point_is_installed():
    assert DOSING.exists(), "pip install -e '.[dev]' installs the dosing command next to python"


# --- protocols ------------------------------------------------------------------------------------------


def test_protocols_list_shows_every_study(env):
    result = dosing(env, "protocols", "list")
    assert result.returncode == 0, result.stderr
    for study in ["NCT04822922", "NCT05871463", "NCT05940610", "SYSU3-MSCEV-LT", "MSC-ACLF-WEEKLY"]:
        assert study in result.stdout
    assert "withdrawn" in result.stdout


def test_protocols_list_json(env):
    result = dosing(env, "protocols", "list", "--json")
    assert result.returncode == 0, result.stderr
    listed = {row["id"]: row for row in json.loads(result.stdout)}
    assert listed["NCT04822922"]["arms"] == ["low", "middle", "high"]
    assert listed["NCT05940610"]["status"] == "withdrawn"


def test_protocols_show_prints_arms_schedule_and_decisions(env):
    result = dosing(env, "protocols", "show", "NCT04822922")
    assert result.returncode == 0, result.stderr
    assert "1.2 x10^6 cells/kg" in result.stdout
    assert "UC-MSC infusion 4" in result.stdout
    assert "Choices made where the record is silent" in result.stdout


def test_protocols_show_json_round_trips_the_protocol(env):
    result = dosing(env, "protocols", "show", "MSC-ACLF-WEEKLY", "--json")
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["id"] == "MSC-ACLF-WEEKLY"
    assert shown["allocation"]["seed"] == "MSC-ACLF-WEEKLY/2019-permuted-blocks-v1"


def test_protocols_show_unknown_study_exits_2_naming_the_field(env):
    result = dosing(env, "protocols", "show", "NCT00000000")
    assert result.returncode == 2
    assert "error: protocol: unknown protocol 'NCT00000000'" in result.stderr


def test_protocols_validate_a_shipped_file(env):
    path = str(resources.files("protocols").joinpath("NCT05871463.yaml"))
    result = dosing(env, "protocols", "validate", path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("ok ")
    assert "(NCT05871463)" in result.stdout


def test_protocols_validate_an_invalid_file_exits_1_naming_the_field(env, tmp_path):
    data = yaml.safe_load(resources.files("protocols").joinpath("NCT04822922.yaml").read_text())
    data["sites"][0]["timezone"] = "Asia/Shangai"
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(data), encoding="utf-8")
    good = str(resources.files("protocols").joinpath("NCT04822922.yaml"))

    result = dosing(env, "protocols", "validate", good, str(broken))
    assert result.returncode == 1
    assert "ok " in result.stdout
    assert "invalid" in result.stdout
    assert "broken.yaml: sites.0.timezone: unknown IANA time zone 'Asia/Shangai'" in result.stdout

    as_json = dosing(env, "protocols", "validate", str(broken), "--json")
    assert as_json.returncode == 1
    (row,) = json.loads(as_json.stdout)
    assert row["valid"] is False
    assert row["field"] == "broken.yaml: sites.0.timezone"


# --- plan -----------------------------------------------------------------------------------------------


def test_plan_table_shows_the_bag_for_the_high_dose(env):
    result = dosing(env, *HIGH_62KG, "--concentration", "2e6/mL", "--viability", "95%")
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith(("1 ", "2 ", "3 ", "4 "))]
    assert len(rows) == 4
    for row in rows:
        assert "7.44 x10^7 cells" in row
        assert "39.2 mL" in row
        assert "60.8 mL" in row
        assert "09:00 +0800" in row
    assert "2026-12-10" in result.stdout
    assert "follow-up assessments" in result.stdout


ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
ISO_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}$")


def quantities(value):
    """Every JSON object that carries a 'value' (a quantity), anywhere in the document."""
    if isinstance(value, dict):
        if "value" in value:
            yield value
        for item in value.values():
            yield from quantities(item)
    elif isinstance(value, list):
        for item in value:
            yield from quantities(item)


def test_plan_json_has_iso_dates_and_every_quantity_with_its_unit(env):
    result = dosing(env, *HIGH_62KG, "--json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["anchor_date"] == "2026-12-01"
    first = plan["administrations"][0]
    for key in ("target_date", "earliest", "latest"):
        assert ISO_DATE.match(first[key]), first[key]
    assert first["planned_start"] == "2026-12-01T09:00:00+08:00"
    assert all(ISO_INSTANT.match(a["due"]) for a in plan["assessments"])

    found = list(quantities(plan))
    assert len(found) > 20
    for quantity in found:
        assert set(quantity) <= {"value", "unit", "amount_unit"}, quantity
        assert isinstance(quantity["value"], int | float), quantity
        assert isinstance(quantity["unit"], str) and quantity["unit"], quantity
    assert first["ordered_dose"] == {"value": 74400000, "unit": "{cells}"}
    assert first["dose_per_kg"]["unit"] == "{cells}/kg"
    assert first["preparation"]["concentration"]["unit"] == "{cells}/mL"
    assert first["preparation"]["volume_to_draw"] == {"value": 39.2, "unit": "mL"}
    assert first["preparation"]["diluent"] == {"value": 60.8, "unit": "mL"}
    assert plan["weight"] == {"value": 62, "unit": "kg"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (["--weight", "62"], "weight"),
        (["--weight", "62 lbs"], "weight"),
        (["--weight", "0kg"], "weight"),
        (["--arm", "medium"], "arm"),
        (["--anchor", "01/12/2026"], "anchor"),
        (["--anchor", "2026-12-01T23:30"], "anchor"),
        (["--viability", "0%"], "viability"),
        (["--concentration", "0/mL"], "concentration"),
        (["--dose-per-kg", "8e5 cells/kg"], "dose per kg"),
    ],
)
def test_plan_with_bad_input_exits_2_naming_the_field(env, change, field):
    args = list(HIGH_62KG)
    option = change[0]
    if option in args:
        args[args.index(option) + 1] = change[1]
    else:
        args += change
    result = dosing(env, *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith(f"error: {field}: "), result.stderr
    assert "(rule: " in result.stderr
    assert result.stdout == ""


def test_plan_error_with_json_is_json_on_stderr(env):
    result = dosing(env, *HIGH_62KG[:-4], "--weight", "62", "--anchor", "2026-12-01", "--json")
    assert result.returncode == 2
    error = json.loads(result.stderr)
    assert (error["field"], error["rule"]) == ("weight", "weight in kg")


def test_plan_converts_pounds_only_when_allowed(env):
    args = [*HIGH_62KG[:4], "--weight", "150 lb", "--allow-pounds", "--anchor", "2026-12-01", "--json"]
    result = dosing(env, *args)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["weight"] == {"value": 68.0388555, "unit": "kg"}


def test_plan_of_a_withdrawn_study_exits_2(env):
    result = dosing(
        env, "plan", "NCT05940610", "--arm", "msc-ev", "--weight", "62kg", "--anchor", "2026-12-01"
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: study status: ")


def test_plan_of_a_control_arm_lists_only_follow_ups(env):
    result = dosing(
        env, "plan", "SYSU3-MSCEV-LT", "--arm", "control", "--weight", "62kg", "--anchor", "2026-12-01"
    )
    assert result.returncode == 0, result.stderr
    assert "no administrations on this arm" in result.stdout
    assert "Patient and graft survival" in result.stdout


# --- start-up stays light --------------------------------------------------------------------------------

CHECK_IMPORTS = """
import runpy, sys
sys.argv = ["dosing", *sys.argv[1:]]
try:
    runpy.run_module("dosing", run_name="__main__", alter_sys=True)
except SystemExit as done:
    code = done.code
HEAVY = {"prefect", "sqlalchemy", "sqlmodel", "alembic", "fastapi", "reportlab"}
heavy = sorted(name for name in sys.modules if name.split(".")[0] in HEAVY)
print("HEAVY=" + ",".join(heavy), file=sys.stderr)
"""


def test_dosing_plan_does_not_import_prefect_or_the_database(env):
    result = subprocess.run(
        [sys.executable, "-c", CHECK_IMPORTS, *HIGH_62KG],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert "7.44 x10^7 cells" in result.stdout, result.stderr
    heavy = result.stderr.rsplit("HEAVY=", 1)[1].strip()
    assert heavy == "", f"dosing plan imported {heavy}"


def test_importtime_of_python_m_dosing_plan_lists_no_prefect_module(env):
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "dosing", *HIGH_62KG],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    imported = [line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if "|" in line]
    assert "dosing.plan" in imported
    assert not [name for name in imported if name.startswith("prefect")]


def test_dosing_help_lists_the_commands(env):
    result = dosing(env, "--help")
    assert result.returncode == 0
    assert "plan" in result.stdout and "protocols" in result.stdout
