"""The protocol library: shipped files validate, broken ones are refused naming the field to fix."""

import json
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
import yaml

from dosing.catalog import get_protocol, json_schema, library, load_protocol_file
from dosing.errors import DosingError, ProtocolError
from tests.unit.helpers import load, plan, protocol_data

SHIPPED = sorted(
    entry.name for entry in resources.files("protocols").iterdir() if entry.name.endswith(".yaml")
)


def test_the_library_ships_the_five_seed_protocols():
    assert sorted(library()) == [
        "MSC-ACLF-WEEKLY",
        "NCT04822922",
        "NCT05871463",
        "NCT05940610",
        "SYSU3-MSCEV-LT",
    ]
    assert len(SHIPPED) == 5


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_protocol_file_validates(name):
    path = Path(str(resources.files("protocols").joinpath(name)))
    protocol = load_protocol_file(path)
    assert protocol.id == name.removesuffix(".yaml")
    assert protocol.provenance.source.startswith("shared/seeds/")


def test_protocols_are_found_by_study_code_or_registry_id():
    assert get_protocol("NCT04822922").id == "NCT04822922"
    assert get_protocol("SYSU3-MSCEV-LT").registry_id is None


def test_an_unknown_protocol_is_refused_naming_the_library():
    with pytest.raises(DosingError) as refused:
        get_protocol("NCT00000000")
    assert refused.value.field == "protocol"
    assert "NCT04822922" in refused.value.rule


def test_a_missing_file_is_refused(tmp_path):
    with pytest.raises(ProtocolError) as refused:
        load_protocol_file(tmp_path / "absent.yaml")
    assert refused.value.rule == "a readable protocol file"


def test_a_file_that_is_not_yaml_or_not_a_mapping_is_refused(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: [unclosed", encoding="utf-8")
    with pytest.raises(ProtocolError) as refused:
        load_protocol_file(bad)
    assert (refused.value.field, refused.value.rule) == ("bad.yaml", "valid YAML")
    bad.write_text("- a list\n", encoding="utf-8")
    with pytest.raises(ProtocolError) as refused:
        load_protocol_file(bad)
    assert refused.value.rule == "a mapping at the top level"


# --- the published JSON Schema -------------------------------------------------------------------------

SCHEMA_FILE = Path(str(resources.files("protocols").joinpath("schema.json")))


def test_schema_json_is_the_one_the_protocol_model_generates():
    assert SCHEMA_FILE.read_text(encoding="utf-8") == json_schema(), (
        "protocols/schema.json is out of date with dosing/protocol.py; run: python scripts/write_schema.py"
    )


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_protocol_validates_against_schema_json(name):
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    data = yaml.safe_load(resources.files("protocols").joinpath(name).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(data)


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (lambda d: d.pop("route"), "route"),
        (lambda d: d.__setitem__("colour", "red"), "colour"),
        (lambda d: d.__setitem__("rescheduling", "whenever"), "rescheduling"),
    ],
    ids=["missing route", "unknown key", "unknown policy"],
)
def test_schema_json_and_the_engine_both_refuse_a_broken_file(change, path):
    data = protocol_data("NCT04822922")
    change(data)
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert not jsonschema.Draft202012Validator(schema).is_valid(data)
    with pytest.raises(ProtocolError) as refused:
        load(data)
    assert refused.value.field == f"variant.yaml: {path}"


# --- broken variants, each naming the field ------------------------------------------------------------


def refused_field(protocol_id, change):
    data = protocol_data(protocol_id)
    change(data)
    with pytest.raises(ProtocolError) as refused:
        load(data, source=f"{protocol_id}.yaml")
    return refused.value


def test_a_misspelt_time_zone_is_refused():
    error = refused_field("NCT04822922", lambda d: d["sites"][0].update(timezone="Asia/Shangai"))
    assert error.field == "NCT04822922.yaml: sites.0.timezone"
    assert "unknown IANA time zone 'Asia/Shangai'" in error.message


def test_day_0_is_refused_when_the_anchor_is_day_1():
    error = refused_field("NCT04822922", lambda d: d["administrations"][0].update(day=0))
    assert error.field == "NCT04822922.yaml: administrations.0.day"
    assert "there is no day 0" in error.message


def test_a_window_that_does_not_contain_its_own_day_is_refused():
    error = refused_field("SYSU3-MSCEV-LT", lambda d: d["administrations"][0].update(day=7))
    assert error.field == "SYSU3-MSCEV-LT.yaml: administrations.0.window"
    assert "day 7 is outside its own window" in error.message


def test_a_window_ending_before_it_starts_is_refused():
    error = refused_field(
        "SYSU3-MSCEV-LT",
        lambda d: d["administrations"][0].update(window={"earliest_day": 5, "latest_day": 1}),
    )
    assert error.field == "SYSU3-MSCEV-LT.yaml: administrations.0.window.earliest_day"


def test_days_are_refused_where_the_protocol_counts_weeks():
    error = refused_field("MSC-ACLF-WEEKLY", lambda d: d["administrations"][1].update(week=None, day=8))
    assert error.field == "MSC-ACLF-WEEKLY.yaml: administrations.1.week"


def test_a_listed_split_that_does_not_add_up_to_the_total_is_refused():
    error = refused_field(
        "NCT05871463", lambda d: d["arms"][0]["dose"].update(amounts=["13.4 mg", "13.3 mg", "13.4 mg"])
    )
    assert error.field == "NCT05871463.yaml: arms.0.dose.amounts"
    assert "do not add up to the total 40 mg" in error.message


def test_a_listed_split_with_the_wrong_number_of_amounts_is_refused():
    error = refused_field("NCT05871463", lambda d: d["arms"][0]["dose"].update(amounts=["20 mg", "20 mg"]))
    assert error.field == "NCT05871463.yaml: arms.0.dose.amounts"


def test_an_equal_split_that_is_not_exact_is_refused():
    # 40 mg / 3 = 13.333... mg: the record's 40 mg cannot be split equally, so the file lists amounts.
    error = refused_field("NCT05871463", lambda d: d["arms"][0]["dose"].update(split="equal", amounts=None))
    assert error.field == "NCT05871463.yaml: arms.0.dose.split"


def test_an_equal_split_that_is_exact_is_accepted():
    data = protocol_data("NCT05871463")
    data["arms"][0]["dose"].update(total="39.9 mg", split="equal", amounts=None)
    protocol = load(data)
    assert str(protocol.arms[0].dose.total) == "39.9 mg"
    assert [
        str(a.ordered_dose) for a in plan("NCT05871463", "exosome", protocol=protocol).administrations
    ] == [
        "13.3 mg",
        "13.3 mg",
        "13.3 mg",
    ]


def test_a_dose_counted_in_another_unit_than_the_product_is_refused():
    error = refused_field("NCT04822922", lambda d: d["arms"][0]["dose"].update(level="4 x10^5 particles/kg"))
    assert error.field == "NCT04822922.yaml: arms.0.dose"
    assert "dose counted in particles but UC-MSC is counted in cells" in error.message


def test_a_reference_lot_in_another_unit_than_the_product_is_refused():
    error = refused_field("MSC-ACLF-WEEKLY", lambda d: d["product"].update(reference_concentration="5 mg/mL"))
    assert error.field == "MSC-ACLF-WEEKLY.yaml: product.reference_concentration"


def test_an_escalation_naming_an_unknown_arm_is_refused():
    error = refused_field("NCT04822922", lambda d: d["escalation"].update(order=["low", "medium", "high"]))
    assert error.field == "NCT04822922.yaml: escalation.order"
    assert "['medium']" in error.message


def test_a_control_arm_with_a_product_dose_is_refused():
    error = refused_field(
        "MSC-ACLF-WEEKLY", lambda d: d["arms"][1].update(dose={"type": "per_kg", "level": "1e5 cells/kg"})
    )
    assert error.field == "MSC-ACLF-WEEKLY.yaml: arms.1.dose"


def test_duplicate_arm_ids_are_refused():
    error = refused_field("MSC-ACLF-WEEKLY", lambda d: d["arms"][1].update(id="msc"))
    assert error.field == "MSC-ACLF-WEEKLY.yaml: arms"


def test_permuted_blocks_need_a_seed_and_a_block_size_that_fits_the_ratios():
    error = refused_field("MSC-ACLF-WEEKLY", lambda d: d["allocation"].pop("seed"))
    assert error.field == "MSC-ACLF-WEEKLY.yaml: allocation.seed"
    error = refused_field("MSC-ACLF-WEEKLY", lambda d: d["allocation"].update(block_size=3))
    assert error.field == "MSC-ACLF-WEEKLY.yaml: allocation.block_size"


def test_a_quantity_without_its_unit_is_refused():
    error = refused_field("MSC-ACLF-WEEKLY", lambda d: d["preparation"].update(final_volume="100"))
    assert error.field == "MSC-ACLF-WEEKLY.yaml: preparation.final_volume"


# --- issue 9: minimum interval and stopping rules --------------------------------------------------------


def test_every_file_states_a_minimum_interval_and_its_stopping_rules():
    for missing in ("minimum_interval_days", "stopping_rules"):
        error = refused_field("NCT05871463", lambda d, key=missing: d.pop(key))
        assert error.field == f"NCT05871463.yaml: {missing}"


def test_a_minimum_interval_longer_than_the_planned_spacing_is_refused():
    error = refused_field("NCT04822922", lambda d: d.update(minimum_interval_days=4))
    assert error.field == "NCT04822922.yaml: minimum_interval_days"
    assert "administrations 1 and 2 are planned 3 days apart" in error.message


def test_a_cohort_stopping_rule_needs_escalation_cohorts():
    rule = {"id": "sae", "trigger": "cohort_reviewed_unsafe", "action": "safety_hold", "record_says": "x"}
    error = refused_field("NCT05871463", lambda d: d.update(stopping_rules=[rule]))
    assert error.field == "NCT05871463.yaml: stopping_rules.0.trigger"
