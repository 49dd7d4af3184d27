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


#: Plausible values of what is typed at enrollment (a value outside is a typo, not a patient).
AGE_RANGE_YEARS = (0, 120)
LAB_RANGES: dict[str, tuple[Decimal, Decimal, str]] = {
    "creatinine": (Decimal("0.1"), Decimal(25), "mg/dL"),
    "bilirubin": (Decimal("0.1"), Decimal(80), "mg/dL"),
    "INR": (Decimal("0.5"), Decimal(15), "{INR}"),
    "albumin": (Decimal("0.5"), Decimal(7), "g/dL"),
}


class EligibilityInputs(BaseModel):
    """What the coordinator types at enrollment for the protocol's inclusion criteria."""

    model_config = ConfigDict(frozen=True)

    age_years: int | None = None
    creatinine: LabValue | None = None
    bilirubin: LabValue | None = None
    inr: LabValue | None = None
    albumin: LabValue | None = None
    ascites: Literal["none", "mild", "moderate_severe"] | None = None
    encephalopathy: Literal["none", "grade_1_2", "grade_3_4"] | None = None


class EligibilityAssessment(BaseModel):
    """The inputs and the scores computed from them, stored with the enrollment."""

    model_config = ConfigDict(frozen=True)

    inputs: EligibilityInputs
    meld: Decimal | None = None
    child_pugh: ChildPughScore | None = None


def needed_inputs(eligibility: Eligibility) -> list[str]:
    """The inputs a protocol's inclusion criteria need, as the options are named."""
    needed: list[str] = []
    if eligibility.age_min is not None or eligibility.age_max is not None:
        needed.append("age")
    if eligibility.meld_min is not None or eligibility.meld_max is not None:
        needed += ["creatinine", "bilirubin", "INR"]
    if eligibility.child_pugh_classes is not None:
        needed += [
            name
            for name in ("bilirubin", "albumin", "INR", "ascites", "encephalopathy")
            if name not in needed
        ]
    return needed


def _lab_in_mg_dl(name: str, lab: LabValue) -> Decimal:
    if name == "bilirubin":
        return bilirubin_mg_dl(lab)
    if name == "albumin" and lab.unit == "g/L":
        return lab.value / 10
    return _require(lab, name, LAB_RANGES[name][2])


def check_plausible(inputs: EligibilityInputs) -> None:
    """Refuse values no patient has (age 250, INR 40): typos, before any score is computed."""
    low_age, high_age = AGE_RANGE_YEARS
    if inputs.age_years is not None and not low_age <= inputs.age_years <= high_age:
        raise DosingError("age", f"age {low_age}-{high_age} years", f"{inputs.age_years} is not an age")
    labs = {"creatinine": inputs.creatinine, "bilirubin": inputs.bilirubin, "INR": inputs.inr}
    labs["albumin"] = inputs.albumin
    for name, lab in labs.items():
        if lab is None:
            continue
        value = _lab_in_mg_dl(name, lab)
        low, high, unit = LAB_RANGES[name]
        if not low <= value <= high:
            raise DosingError(
                name,
                f"{name} {low}-{high} {unit} (a plausible result)",
                f"{lab.value} {lab.unit} is not plausible",
            )


def assess(eligibility: Eligibility, inputs: EligibilityInputs) -> EligibilityAssessment:
    """Check every inclusion criterion the protocol states against the inputs; all needed inputs given.

    Refuses (DosingError) a missing input, an implausible one, or a patient outside a criterion.
    """
    given = {
        "age": inputs.age_years,
        "creatinine": inputs.creatinine,
        "bilirubin": inputs.bilirubin,
        "INR": inputs.inr,
        "albumin": inputs.albumin,
        "ascites": inputs.ascites,
        "encephalopathy": inputs.encephalopathy,
    }
    for name in needed_inputs(eligibility):
        if given[name] is None:
            raise DosingError(
                name, "the inputs of every inclusion criterion are given at enrollment", f"give the {name}"
            )
    check_plausible(inputs)
    if inputs.age_years is not None:
        check_age(inputs.age_years, eligibility)
    score = None
    if inputs.creatinine is not None and inputs.bilirubin is not None and inputs.inr is not None:
        score = meld(inputs.creatinine, inputs.bilirubin, inputs.inr)
        check_meld(score, eligibility)
    pugh = None
    if (
        inputs.bilirubin is not None
        and inputs.albumin is not None
        and inputs.inr is not None
        and inputs.ascites is not None
        and inputs.encephalopathy is not None
    ):
        pugh = child_pugh(
            ChildPughInputs(
                bilirubin=inputs.bilirubin,
                albumin=inputs.albumin,
                inr=inputs.inr,
                ascites=inputs.ascites,
                encephalopathy=inputs.encephalopathy,
            )
        )
        check_child_pugh(pugh, eligibility)
    return EligibilityAssessment(inputs=inputs, meld=score, child_pugh=pugh)


def parse_lab(text: str, field: str, units: tuple[str, ...]) -> LabValue:
    """A lab result typed with its unit, e.g. ``1.2 mg/dL``, ``34 umol/L``, ``1.8`` for INR."""
    parts = text.replace("µ", "u").split()
    if len(parts) == 1 and units == ("{INR}",):
        parts = [parts[0], "{INR}"]
    if len(parts) == 1:
        import re

        match = re.fullmatch(r"([0-9]*\.?[0-9]+)([^0-9.]\S*)", parts[0])
        parts = [match.group(1), match.group(2)] if match else parts
    if len(parts) != 2:
        raise DosingError(field, f"{field} with its unit ({' or '.join(units)})", f"{text!r} has no unit")
    number, unit = parts
    unit = "{INR}" if unit.upper() == "INR" else unit
    if unit not in units:
        raise DosingError(field, f"{field} in {' or '.join(units)}", f"{text!r}: unit {unit!r} not accepted")
    try:
        value = Decimal(number)
    except ArithmeticError as error:
        raise DosingError(field, f"{field} as a number with its unit", f"{text!r} is not a number") from error
    if not value.is_finite() or value <= 0:
        raise DosingError(field, f"{field} > 0", f"{text!r} is not a lab result")
    return LabValue(value=value, unit=unit)
