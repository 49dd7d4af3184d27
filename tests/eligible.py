"""Inclusion inputs of an eligible patient for each protocol of the library, as a test enrolls them."""

from __future__ import annotations

from decimal import Decimal

from dosing.catalog import get_protocol
from dosing.eligibility import EligibilityInputs, LabValue, needed_inputs

#: An adult with decompensated cirrhosis: MELD 25.6 (within 17-30), Child-Pugh 10 points (class C).
ELIGIBLE = EligibilityInputs(
    age_years=50,
    creatinine=LabValue(value=Decimal("1.5"), unit="mg/dL"),
    bilirubin=LabValue(value=Decimal("10"), unit="mg/dL"),
    inr=LabValue(value=Decimal("1.8"), unit="{INR}"),
    albumin=LabValue(value=Decimal("3.0"), unit="g/dL"),
    ascites="mild",
    encephalopathy="none",
)

#: The same patient as the CLI takes it.
ELIGIBLE_OPTIONS = (
    "--age", "50", "--creatinine", "1.5 mg/dL", "--bilirubin", "10 mg/dL", "--inr", "1.8",
    "--albumin", "3.0 g/dL", "--ascites", "mild", "--encephalopathy", "none",
)  # fmt: skip


def eligible(protocol_id: str) -> EligibilityInputs | None:
    """The inputs the protocol's criteria need (None when it states none)."""
    return ELIGIBLE if needed_inputs(get_protocol(protocol_id).eligibility) else None
