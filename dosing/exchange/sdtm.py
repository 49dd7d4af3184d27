"""What SDTM and FHIR both read off a dose: its treatment, quantity, dose form, and the study day.

Pure: a :class:`DoseView` and its protocol in, values out. The datasets themselves are built in
:mod:`dosing.exchange.sdtm_package` and the FHIR resources in :mod:`dosing.exchange.fhir`.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from dosing.protocol import Protocol
from dosing.units import Amount, AmountUnit, Volume

if TYPE_CHECKING:
    # Only the views' shapes: importing the store package would pull SQLAlchemy into the core.
    from dosing.store.models import DoseView, GivenView, SubjectView


def study_day(day: date, reference: date) -> int:
    """SDTM study day: the reference date (DM.RFSTDTC's) is day 1, the day before it day -1; no day 0.

    >>> study_day(date(2026, 12, 1), date(2026, 12, 1)), study_day(date(2026, 11, 30), date(2026, 12, 1))
    (1, -1)
    """
    delta = (day - reference).days
    return delta + 1 if delta >= 0 else delta


def usubjid(view: SubjectView) -> str:
    return f"{view.protocol_id}-{view.subject_code}"


def treatment(dose: DoseView, protocol: Protocol) -> str:
    # SDTM names a placebo "PLACEBO"; the product by the name the protocol gives it.
    return "PLACEBO" if dose.intervention == "placebo" else protocol.product.name


def dosage_form(quantity: Amount | Volume | None, protocol: Protocol) -> str:
    # Living cells are given suspended in their carrier; particles, mg of protein and saline dissolve.
    if isinstance(quantity, Volume):
        return "SOLUTION"
    unit = quantity.unit if quantity is not None else protocol.product.kind.amount_unit
    return "SUSPENSION" if unit is AmountUnit.CELLS else "SOLUTION"


def quantity(dose: DoseView, given: GivenView | None) -> Amount | Volume | None:
    """What a dose is counted in: the amount of product, or a placebo's volume."""
    if given is not None:
        if given.amount is not None:
            return given.amount
        if dose.intervention == "placebo" and given.volume is not None:
            return given.volume
        # A given dose recorded without an amount was the ordered dose (the ledger's default).
        if dose.ordered_dose is not None and not given.partial:
            return dose.ordered_dose
        return None
    if dose.ordered_dose is not None:
        return dose.ordered_dose
    return dose.final_volume if dose.intervention == "placebo" else None


def administered(dose: DoseView) -> bool:
    """Doses a subject could be given: a control arm with nothing to give has none."""
    return dose.planned_id is not None and dose.intervention != "none"
