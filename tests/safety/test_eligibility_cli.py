"""Issue 9: eligibility at enrollment (age, MELD, Child-Pugh) and studies that take no patients."""

from __future__ import annotations

import json

from tests.eligible import ELIGIBLE_OPTIONS
from tests.safety.conftest import Run, audit_count, refused

MELD_25 = ("--creatinine", "1.5 mg/dL", "--bilirubin", "10 mg/dL", "--inr", "1.8")


ARMS = {
    "NCT04822922": ("--arm", "low"),
    "MSC-ACLF-WEEKLY": ("--arm", "msc", "--override-allocation", "--reason", "test"),
    "NCT05871463": (),
}


def _enroll(dosing: Run, protocol: str, *options: str, ok: bool = True):  # type: ignore[no-untyped-def]
    arm = ARMS[protocol]
    per_kg = ("--dose-per-kg", "5 x10^5 cells/kg") if protocol == "MSC-ACLF-WEEKLY" else ()
    return dosing("enroll", protocol, "--subject", "S-001", *arm, *per_kg, "--weight", "62kg",
                  "--anchor", "2026-12-01", *options, ok=ok, clock="2026-12-01T08:00+08:00")  # fmt: skip


def test_age_is_required_where_the_protocol_has_an_age_criterion(dosing: Run) -> None:
    refused(_enroll(dosing, "NCT04822922", ok=False), "age", "give the age")
    assert audit_count(dosing) == 0


def test_an_age_outside_the_criterion_is_refused(dosing: Run) -> None:
    refused(_enroll(dosing, "NCT04822922", "--age", "80", ok=False), "age", "age <= 70 years")
    assert audit_count(dosing) == 0


def test_an_implausible_age_is_refused(dosing: Run) -> None:
    refused(_enroll(dosing, "NCT04822922", "--age", "250", ok=False), "age", "0-120")


def test_meld_labs_are_required_and_the_score_is_stored(dosing: Run) -> None:
    refused(_enroll(dosing, "MSC-ACLF-WEEKLY", ok=False), "creatinine", "give the creatinine")
    enrolled = json.loads(_enroll(dosing, "MSC-ACLF-WEEKLY", *MELD_25, "--json").stdout)
    assert enrolled["eligibility"]["meld"] == "25.6"
    entry = next(e for e in json.loads(dosing("audit", "--json").stdout) if e["action"] == "enroll")
    assert entry["after"]["eligibility"]["meld"] == "25.6"


def test_a_meld_outside_17_30_is_refused(dosing: Run) -> None:
    low = ("--creatinine", "1.0 mg/dL", "--bilirubin", "1.0 mg/dL", "--inr", "1.0")
    refused(_enroll(dosing, "MSC-ACLF-WEEKLY", *low, ok=False), "MELD", "MELD >= 17")
    assert audit_count(dosing) == 0


def test_child_pugh_class_a_is_refused_on_nct05871463(dosing: Run) -> None:
    class_a = ("--age", "50", "--bilirubin", "1.0 mg/dL", "--albumin", "4.0 g/dL", "--inr", "1.0",
               "--ascites", "none", "--encephalopathy", "none")  # fmt: skip
    refused(_enroll(dosing, "NCT05871463", *class_a, ok=False), "Child-Pugh", "class A is not eligible")
    assert audit_count(dosing) == 0


def test_child_pugh_class_b_is_enrolled_with_its_score(dosing: Run) -> None:
    class_b = ("--age", "50", "--bilirubin", "2.5 mg/dL", "--albumin", "3.0 g/dL", "--inr", "1.8",
               "--ascites", "mild", "--encephalopathy", "none")  # fmt: skip
    enrolled = json.loads(_enroll(dosing, "NCT05871463", *class_b, "--json").stdout)
    assert enrolled["eligibility"]["child_pugh"] == {"points": 9, "child_class": "B"}


def test_a_lab_without_its_unit_is_refused(dosing: Run) -> None:
    no_unit = ("--creatinine", "1.5", "--bilirubin", "10 mg/dL", "--inr", "1.8")
    refused(_enroll(dosing, "MSC-ACLF-WEEKLY", *no_unit, ok=False), "creatinine", "has no unit")


def test_a_withdrawn_study_takes_no_patients(dosing: Run) -> None:
    result = dosing("enroll", "NCT05940610", *ELIGIBLE_OPTIONS, "--subject", "W-1", "--weight", "60kg",
                    "--anchor", "2026-12-01", ok=False, clock="2026-12-01T08:00+08:00")  # fmt: skip
    refused(result, "study status", "withdrawn")
    assert audit_count(dosing) == 0
