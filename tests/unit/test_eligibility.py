"""MELD (MSC-ACLF-WEEKLY inclusion 17-30) and Child-Pugh (NCT05871463 classes B and C)."""

from decimal import Decimal

import pytest
from pydantic import ValidationError

from dosing.catalog import get_protocol
from dosing.eligibility import (
    ChildPughInputs,
    LabValue,
    check_age,
    check_child_pugh,
    check_meld,
    child_pugh,
    meld,
)
from dosing.errors import DosingError

WEEKLY = get_protocol("MSC-ACLF-WEEKLY").eligibility
EXOSOME = get_protocol("NCT05871463").eligibility


def mg_dl(value):
    return LabValue(value=Decimal(str(value)), unit="mg/dL")


def inr(value):
    return LabValue(value=Decimal(str(value)), unit="{INR}")


def test_meld_worked_by_hand():
    # creatinine 1.9 mg/dL, bilirubin 4.2 mg/dL, INR 1.8:
    #   0.957 ln 1.9 = 0.957 x 0.64185 = 0.61425
    #   0.378 ln 4.2 = 0.378 x 1.43508 = 0.54246
    #   1.120 ln 1.8 = 1.120 x 0.58779 = 0.65832
    #   10 x (0.61425 + 0.54246 + 0.65832 + 0.643) = 24.58 -> 24.6
    assert meld(mg_dl(1.9), mg_dl(4.2), inr(1.8)) == Decimal("24.6")


def test_bilirubin_in_umol_per_litre_is_divided_by_17_1():
    # 71.82 umol/L / 17.1 = 4.2 mg/dL
    in_si = LabValue(value=Decimal("71.82"), unit="umol/L")
    assert meld(mg_dl(1.9), in_si, inr(1.8)) == meld(mg_dl(1.9), mg_dl(4.2), inr(1.8)) == Decimal("24.6")


def test_creatinine_is_capped_at_4_mg_dl():
    assert meld(mg_dl(6.5), mg_dl(20), inr(2.5)) == meld(mg_dl(4), mg_dl(20), inr(2.5)) == Decimal("41.3")


def test_values_below_1_are_set_to_1_so_the_floor_is_6_4():
    # ln 1 = 0: only the constant remains, 10 x 0.643 = 6.43
    assert meld(mg_dl(0.5), mg_dl(0.3), inr(0.9)) == Decimal("6.4")
    assert meld(mg_dl(1), mg_dl(1), inr(1)) == Decimal("6.4")


def test_meld_refuses_creatinine_in_other_units_naming_the_field():
    with pytest.raises(DosingError) as refused:
        meld(LabValue(value=Decimal(150), unit="umol/L"), mg_dl(4.2), inr(1.8))
    assert (refused.value.field, refused.value.rule) == ("creatinine", "creatinine in mg/dL")


def test_a_lab_value_must_be_positive():
    with pytest.raises(ValidationError):
        mg_dl(0)


@pytest.mark.parametrize(
    ("score", "eligible"), [("16.9", False), ("17", True), ("30", True), ("30.1", False)]
)
def test_msc_aclf_weekly_includes_meld_17_to_30_inclusive(score, eligible):
    if eligible:
        check_meld(Decimal(score), WEEKLY)
    else:
        with pytest.raises(DosingError) as refused:
            check_meld(Decimal(score), WEEKLY)
        assert refused.value.field == "MELD"
        assert refused.value.rule in {"MELD >= 17 (inclusion criteria)", "MELD <= 30 (inclusion criteria)"}


# --- Child-Pugh ---------------------------------------------------------------------------------------


def child_pugh_points(bilirubin="1", albumin="4", inr_value="1", ascites="none", encephalopathy="none"):
    return child_pugh(
        ChildPughInputs(
            bilirubin=mg_dl(bilirubin),
            albumin=LabValue(value=Decimal(albumin), unit="g/dL"),
            inr=inr(inr_value),
            ascites=ascites,
            encephalopathy=encephalopathy,
        )
    ).points


@pytest.mark.parametrize(("value", "points"), [("1.99", 5), ("2", 6), ("3", 6), ("3.01", 7)])
def test_child_pugh_bilirubin_below_2_is_1_point_2_to_3_is_2_above_3_is_3(value, points):
    assert child_pugh_points(bilirubin=value) == points


@pytest.mark.parametrize(("value", "points"), [("3.6", 5), ("3.5", 6), ("2.8", 6), ("2.79", 7)])
def test_child_pugh_albumin_above_3_5_is_1_point_2_8_to_3_5_is_2_below_2_8_is_3(value, points):
    assert child_pugh_points(albumin=value) == points


def test_child_pugh_albumin_in_g_per_litre_is_divided_by_10():
    by_litre = ChildPughInputs(
        bilirubin=mg_dl(1),
        albumin=LabValue(value=Decimal(30), unit="g/L"),
        inr=inr(1),
        ascites="none",
        encephalopathy="none",
    )
    assert child_pugh(by_litre).points == child_pugh_points(albumin="3.0") == 6


@pytest.mark.parametrize(("value", "points"), [("1.69", 5), ("1.7", 6), ("2.3", 6), ("2.31", 7)])
def test_child_pugh_inr_below_1_7_is_1_point_1_7_to_2_3_is_2_above_2_3_is_3(value, points):
    assert child_pugh_points(inr_value=value) == points


@pytest.mark.parametrize(
    ("kwargs", "points", "child_class"),
    [
        ({}, 5, "A"),
        ({"ascites": "mild"}, 6, "A"),
        ({"ascites": "mild", "encephalopathy": "grade_1_2"}, 7, "B"),
        ({"ascites": "moderate_severe", "encephalopathy": "grade_1_2", "inr_value": "2"}, 9, "B"),
        ({"ascites": "moderate_severe", "encephalopathy": "grade_3_4", "inr_value": "2"}, 10, "C"),
        (
            {
                "ascites": "moderate_severe",
                "encephalopathy": "grade_3_4",
                "inr_value": "3",
                "bilirubin": "5",
                "albumin": "2",
            },
            15,
            "C",
        ),
    ],
)
def test_child_pugh_class_a_is_5_6_b_is_7_9_c_is_10_15(kwargs, points, child_class):
    defaults = {"bilirubin": "1", "albumin": "4", "inr_value": "1"}
    score = child_pugh(
        ChildPughInputs(
            bilirubin=mg_dl(kwargs.get("bilirubin", defaults["bilirubin"])),
            albumin=LabValue(value=Decimal(kwargs.get("albumin", defaults["albumin"])), unit="g/dL"),
            inr=inr(kwargs.get("inr_value", defaults["inr_value"])),
            ascites=kwargs.get("ascites", "none"),
            encephalopathy=kwargs.get("encephalopathy", "none"),
        )
    )
    assert (score.points, score.child_class) == (points, child_class)


def test_nct05871463_takes_child_pugh_b_and_c_and_refuses_a():
    from dosing.eligibility import ChildPughScore

    check_child_pugh(ChildPughScore(points=7, child_class="B"), EXOSOME)
    check_child_pugh(ChildPughScore(points=12, child_class="C"), EXOSOME)
    with pytest.raises(DosingError) as refused:
        check_child_pugh(ChildPughScore(points=6, child_class="A"), EXOSOME)
    assert (refused.value.field, refused.value.rule) == ("Child-Pugh", "Child-Pugh class in B, C")


@pytest.mark.parametrize(("age", "eligible"), [(17, False), (18, True), (75, True), (76, False)])
def test_nct05871463_takes_ages_18_to_75(age, eligible):
    if eligible:
        check_age(age, EXOSOME)
    else:
        with pytest.raises(DosingError) as refused:
            check_age(age, EXOSOME)
        assert refused.value.field == "age"


@pytest.mark.parametrize(("umol_per_l", "points"), [("33.9", 1), ("34", 2), ("50", 2), ("50.1", 3)])
def test_child_pugh_bilirubin_in_umol_per_litre_scores_on_the_si_table(umol_per_l, points):
    # SI table: < 34 umol/L is 1 point, 34-50 is 2, > 50 is 3 (34 umol/L = 1.99 mg/dL would say 1).
    score = child_pugh(
        ChildPughInputs(
            bilirubin=LabValue(value=Decimal(umol_per_l), unit="umol/L"),
            albumin=LabValue(value=Decimal(4), unit="g/dL"),
            inr=LabValue(value=Decimal(1), unit="{INR}"),
            ascites="none",
            encephalopathy="none",
        )
    )
    assert score.points == 4 + points
