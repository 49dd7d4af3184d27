"""Eligibility scores that bear on dosing: MELD (NCT MSC-ACLF-WEEKLY inclusion 17-30) and Child-Pugh.

    MELD = 10 x (0.957 ln(creatinine mg/dL) + 0.378 ln(bilirubin mg/dL) + 1.120 ln(INR) + 0.643)

with values below 1 set to 1 and creatinine capped at 4 mg/dL (UNOS convention). Bilirubin in umol/L
is divided by 17.1 to give mg/dL.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from dosing.errors import DosingError
from dosing.protocol import Eligibility

BILIRUBIN_UMOL_PER_MG_DL = Decimal("17.1")


class LabValue(BaseModel):
    """A lab result with its unit; MELD and Child-Pugh accept only the units listed."""

    model_config = ConfigDict(frozen=True)

    value: Decimal = Field(gt=0)
    unit: Literal["mg/dL", "umol/L", "g/dL", "g/L", "{INR}"]


def bilirubin_mg_dl(bilirubin: LabValue) -> Decimal:
    if bilirubin.unit == "mg/dL":
        return bilirubin.value
    if bilirubin.unit == "umol/L":
        return bilirubin.value / BILIRUBIN_UMOL_PER_MG_DL
    raise DosingError(
        "bilirubin", "bilirubin in mg/dL or umol/L", f"unit {bilirubin.unit} is not a bilirubin unit"
    )


def _require(lab: LabValue, field: str, unit: str) -> Decimal:
    if lab.unit != unit:
        raise DosingError(field, f"{field} in {unit}", f"unit {lab.unit} is not accepted")
    return lab.value


def meld(creatinine: LabValue, bilirubin: LabValue, inr: LabValue) -> Decimal:
    """MELD score rounded to one decimal (the whole-number score is its rounding)."""
    creat = min(max(_require(creatinine, "creatinine", "mg/dL"), Decimal(1)), Decimal(4))
    bili = max(bilirubin_mg_dl(bilirubin), Decimal(1))
    ratio = max(_require(inr, "INR", "{INR}"), Decimal(1))
    score = 10 * (0.957 * math.log(creat) + 0.378 * math.log(bili) + 1.120 * math.log(ratio) + 0.643)
    return Decimal(repr(score)).quantize(Decimal("0.1"))


class ChildPughInputs(BaseModel):
    model_config = ConfigDict(frozen=True)

    bilirubin: LabValue
    albumin: LabValue
    inr: LabValue
    ascites: Literal["none", "mild", "moderate_severe"]
    encephalopathy: Literal["none", "grade_1_2", "grade_3_4"]


class ChildPughScore(BaseModel):
    model_config = ConfigDict(frozen=True)

    points: int
    child_class: Literal["A", "B", "C"]


def _child_pugh_bilirubin_points(bilirubin: LabValue) -> int:
    # SI laboratories score on their own table (< 34, 34-50, > 50 umol/L), not on a converted
    # mg/dL value: 34 umol/L is 1.99 mg/dL and would score 1 point where the SI table gives 2.
    if bilirubin.unit == "umol/L":
        return 1 if bilirubin.value < 34 else 2 if bilirubin.value <= 50 else 3
    bili = bilirubin_mg_dl(bilirubin)
    return 1 if bili < 2 else 2 if bili <= 3 else 3


def child_pugh(inputs: ChildPughInputs) -> ChildPughScore:
    bili_points = _child_pugh_bilirubin_points(inputs.bilirubin)
    albumin = (
        inputs.albumin.value
        if inputs.albumin.unit == "g/dL"
        else _require(inputs.albumin, "albumin", "g/L") / 10
    )
    albumin_points = 1 if albumin > Decimal("3.5") else 2 if albumin >= Decimal("2.8") else 3
    inr = _require(inputs.inr, "INR", "{INR}")
    inr_points = 1 if inr < Decimal("1.7") else 2 if inr <= Decimal("2.3") else 3
    ascites_points = {"none": 1, "mild": 2, "moderate_severe": 3}[inputs.ascites]
    enceph_points = {"none": 1, "grade_1_2": 2, "grade_3_4": 3}[inputs.encephalopathy]
    points = bili_points + albumin_points + inr_points + ascites_points + enceph_points
    child_class: Literal["A", "B", "C"] = "A" if points <= 6 else "B" if points <= 9 else "C"
    return ChildPughScore(points=points, child_class=child_class)


def check_meld(score: Decimal, eligibility: Eligibility) -> None:
    if eligibility.meld_min is not None and score < eligibility.meld_min:
        raise DosingError(
            "MELD", f"MELD >= {eligibility.meld_min} (inclusion criteria)", f"MELD {score} is too low"
        )
    if eligibility.meld_max is not None and score > eligibility.meld_max:
        raise DosingError(
            "MELD", f"MELD <= {eligibility.meld_max} (inclusion criteria)", f"MELD {score} is too high"
        )


def check_age(age_years: int, eligibility: Eligibility) -> None:
    if eligibility.age_min is not None and age_years < eligibility.age_min:
        raise DosingError(
            "age", f"age >= {eligibility.age_min} years", f"{age_years} years is below the limit"
        )
    if eligibility.age_max is not None and age_years > eligibility.age_max:
        raise DosingError(
            "age", f"age <= {eligibility.age_max} years", f"{age_years} years is above the limit"
        )


def check_child_pugh(score: ChildPughScore, eligibility: Eligibility) -> None:
    allowed = eligibility.child_pugh_classes
    if allowed is not None and score.child_class not in allowed:
        raise DosingError(
            "Child-Pugh",
            f"Child-Pugh class in {', '.join(allowed)}",
            f"class {score.child_class} is not eligible",
        )
