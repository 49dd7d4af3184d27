"""FHIR Bundles of the dose ledger: every resource validated by fhir.resources (R4B models).

The Bundles are read back from the files as an EHR would, parsed as a whole and resource by resource.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dosing.app.context import Context
from dosing.exchange.exports import ExportOptions, ExportResult, export_fhir
from tests.exchange.conftest import AS_OF, at

STUDY = "NCT04822922"


@pytest.fixture
def bundles(manager: Context, tmp_path: Path) -> tuple[dict[str, dict[str, Any]], ExportResult]:
    result = export_fhir(manager, ExportOptions(output=tmp_path, as_of=at(AS_OF)))
    read = {path.stem: json.loads(path.read_text(encoding="utf-8")) for path in result.files}
    return read, result


def _of(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [entry["resource"] for entry in bundle["entry"] if entry["resource"]["resourceType"] == kind]


def test_every_bundle_and_resource_validates(bundles: tuple[dict[str, dict[str, Any]], ExportResult]) -> None:
    from fhir.resources.R4B import get_fhir_model_class
    from fhir.resources.R4B.bundle import Bundle

    read, result = bundles
    assert sorted(read) == ["S-001", "S-002"]
    assert all(path.parent.name == STUDY for path in result.files)
    for bundle in read.values():
        Bundle.model_validate(bundle)
        assert bundle["type"] == "collection"
        urls = {entry["fullUrl"] for entry in bundle["entry"]}
        for entry in bundle["entry"]:
            resource = entry["resource"]
            get_fhir_model_class(resource["resourceType"]).model_validate(resource)
            assert entry["fullUrl"] == f"urn:uuid:{resource['id']}"
            # Every reference inside the Bundle resolves inside it (or to a contained resource).
            for reference in _references(resource):
                assert reference in urls or reference.startswith("#"), reference
        kinds = [entry["resource"]["resourceType"] for entry in bundle["entry"]]
        assert kinds.count("MedicationRequest") == 4 and kinds.count("CarePlan") == 1
        assert kinds.count("ResearchSubject") == 1 and kinds.count("Patient") == 1


def _references(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["reference"]] if isinstance(node.get("reference"), str) else []
        return found + [ref for value in node.values() for ref in _references(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _references(value)]
    return []


def test_a_request_per_planned_dose_with_the_ordered_amount_and_window(
    bundles: tuple[dict[str, dict[str, Any]], ExportResult],
) -> None:
    requests = _of(bundles[0]["S-001"], "MedicationRequest")
    assert [r["status"] for r in requests] == ["completed", "cancelled", "completed", "cancelled"]
    second = requests[1]["dosageInstruction"][0]
    assert second["doseAndRate"][0]["doseQuantity"] == {
        "value": 24800000, "unit": "cells", "system": "http://unitsofmeasure.org", "code": "{cells}",
    }  # fmt: skip
    assert second["timing"]["event"] == ["2026-12-04T09:00:00+08:00"]
    assert second["timing"]["repeat"]["boundsPeriod"] == {"start": "2026-12-04", "end": "2026-12-05"}
    assert second["route"]["coding"][0]["code"] == "C38276"
    assert requests[1]["statusReason"]["text"] == "adverse event"
    plan = _of(bundles[0]["S-001"], "CarePlan")[0]
    assert [a["reference"]["reference"] for a in plan["activity"]] == [
        f"urn:uuid:{r['id']}" for r in requests
    ]
    subject = _of(bundles[0]["S-001"], "ResearchSubject")[0]
    assert (subject["assignedArm"], subject["status"]) == ("low", "follow-up")


def test_administrations_completed_partial_skipped_and_missed(
    bundles: tuple[dict[str, dict[str, Any]], ExportResult],
) -> None:
    given = {a["request"]["reference"]: a for a in _of(bundles[0]["S-001"], "MedicationAdministration")}
    requests = _of(bundles[0]["S-001"], "MedicationRequest")
    first, skipped, partial, missed = (given[f"urn:uuid:{r['id']}"] for r in requests)
    assert first["status"] == "completed"
    assert first["dosage"]["dose"]["value"] == 24800000
    assert first["contained"][0]["batch"] == {"lotNumber": "L123"}
    assert first["effectivePeriod"] == {
        "start": "2026-12-01T09:30:00+08:00",
        "end": "2026-12-01T10:00:00+08:00",
    }
    assert first["performer"][0]["actor"]["identifier"]["value"] == "nurse-a"
    # The partial dose: what was delivered, its lot and the nurse who gave it.
    assert partial["status"] == "completed"
    assert partial["dosage"]["dose"]["value"] == 12400000.5
    assert partial["dosage"]["text"] == "Partial dose: fever 39.1 C, infusion stopped"
    assert partial["contained"][0]["batch"] == {"lotNumber": "L124"}
    assert partial["performer"][0]["actor"]["identifier"]["value"] == "nurse-b"
    assert (skipped["status"], skipped["statusReason"][0]["text"]) == ("not-done", "adverse event")
    assert missed["status"] == "not-done"
    assert missed["statusReason"][0]["text"] == "Missed: window closed 2026-12-11 with no dose recorded"
    assert missed["effectiveDateTime"] == "2026-12-10T09:00:00+08:00"
    assert "dosage" not in missed and "performer" not in missed


def test_patients_carry_the_study_code_only_and_ids_are_stable(
    manager: Context, tmp_path: Path, bundles: tuple[dict[str, dict[str, Any]], ExportResult]
) -> None:
    patient = _of(bundles[0]["S-002"], "Patient")[0]
    assert set(patient) == {"resourceType", "id", "identifier"}
    assert patient["identifier"][0]["value"] == "S-002"
    again = tmp_path / "again"
    again.mkdir()
    rerun = export_fhir(manager, ExportOptions(output=again, as_of=at(AS_OF)))
    assert [p.read_bytes() for p in rerun.files] == [p.read_bytes() for p in bundles[1].files]
    assert sum("may name a person" in w for w in bundles[1].warnings) == 1
