"""Enrollment as a person types it on a form (web page or API): text in, a validated form out.

The same translation as ``dosing enroll``: units are explicit in the text (``62kg``), the anchor
defaults to today at the site only when the protocol's anchor is enrollment itself, and a study that
takes no patients is refused before anything is stored.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import ValidationError

from dosing.app import clock
from dosing.app import enrollment as use_case
from dosing.app.context import Context
from dosing.errors import DosingError, from_validation_error
from dosing.store.models import Enrollment, EnrollmentForm


def _anchor(text: str | None, protocol: object, zone: str) -> date | datetime:
    from dosing.app.typed import parse_date_or_instant
    from dosing.status import local_date

    if text:
        return parse_date_or_instant(text, "anchor")
    if protocol.anchor.event.value == "transplant":  # type: ignore[attr-defined]
        raise DosingError(
            "anchor",
            "the transplant date",
            f"{protocol.id} is anchored on transplant: give the anchor date",  # type: ignore[attr-defined]
        )
    return local_date(clock.now(), zone)


def enroll_typed(
    ctx: Context,
    *,
    protocol_id: str,
    subject_code: str,
    weight: str,
    arm: str | None = None,
    anchor: str | None = None,
    site: str | None = None,
    dose_per_kg: str | None = None,
    weight_measured_on: str | None = None,
    override_allocation: bool = False,
    reason: str | None = None,
    age: str | None = None,
    creatinine: str | None = None,
    bilirubin: str | None = None,
    inr: str | None = None,
    albumin: str | None = None,
    ascites: str | None = None,
    encephalopathy: str | None = None,
) -> Enrollment:
    from dosing.app.typed import eligibility_inputs
    from dosing.catalog import get_protocol
    from dosing.plan import check_study_takes_patients
    from dosing.units import parse_dose_per_kg, parse_weight

    protocol = get_protocol(protocol_id)
    check_study_takes_patients(protocol)
    zone = protocol.site(site or None).timezone
    try:
        measured = date.fromisoformat(weight_measured_on) if weight_measured_on else None
    except ValueError as error:
        raise DosingError("weight measured on", "ISO 8601 date", f"{weight_measured_on!r}") from error
    try:
        form = EnrollmentForm(
            protocol_id=protocol.id,
            subject_code=subject_code.strip(),
            arm=arm or None,
            weight=parse_weight(weight),
            weight_measured_on=measured,
            anchor=_anchor(anchor, protocol, zone),
            site=site or None,
            dose_per_kg=parse_dose_per_kg(
                dose_per_kg, field="dose per kg", default_unit=protocol.product.amount_unit
            )
            if dose_per_kg
            else None,
            override_allocation=override_allocation,
            reason=reason or None,
            # The inputs of the protocol's inclusion criteria, typed as `dosing enroll` takes them.
            eligibility=eligibility_inputs(
                age=age, creatinine=creatinine, bilirubin=bilirubin, inr=inr, albumin=albumin,
                ascites=ascites, encephalopathy=encephalopathy,
            ),
        )  # fmt: skip
    except ValidationError as error:
        raise from_validation_error(error) from error
    return use_case.enroll(ctx, form)
