"""The dose ledger as CDISC SDTM rows: EC (exposure as collected) and EX (exposure, doses given).

EC carries planned versus administered: one ``SCHEDULED`` row per planned dose, and one ``PERFORMED``
row per dose with an outcome (given, skipped, or missed when its window closed with nothing recorded).
EX carries only the doses given. Pure: a :class:`SubjectView` and its protocol in, rows out.

Dates are ISO 8601 with the site's UTC offset; quantities are exact decimals written as plain decimal
text (``24800000``), never floats, with the units the project writes (``{cells}``, ``mg``, ``mL``).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict

from dosing.protocol import Protocol
from dosing.status import DoseState
from dosing.units import Amount, AmountUnit, Volume, format_decimal

if TYPE_CHECKING:
    # Only the views' shapes: importing the store package would pull SQLAlchemy into the core.
    from dosing.store.models import DoseView, GivenView, SubjectView

#: CDISC controlled terminology (ROUTE) for the route codes protocols and nurses write.
_ROUTES = {
    "IV": "INTRAVENOUS",
    "INTRAVENOUS": "INTRAVENOUS",
    "IT": "INTRATHECAL",
    "IM": "INTRAMUSCULAR",
    "SC": "SUBCUTANEOUS",
    "SUBCUTANEOUS": "SUBCUTANEOUS",
    "IA": "INTRA-ARTERIAL",
    "INTRA-ARTERIAL": "INTRA-ARTERIAL",
}

_NOT_GIVEN = {DoseState.SKIPPED, DoseState.MISSED}


class _Row(BaseModel):
    model_config = ConfigDict(frozen=True)


class ECRow(_Row):
    """One EC record; fields in the order of the exported columns."""

    STUDYID: str
    DOMAIN: Literal["EC"] = "EC"
    USUBJID: str
    ECSEQ: int
    ECTRT: str
    ECMOOD: Literal["SCHEDULED", "PERFORMED"]
    ECOCCUR: Literal["Y", "N"] | None
    ECREASOC: str | None
    ECDOSE: str | None
    ECDOSU: str | None
    ECDOSFRM: str
    ECROUTE: str
    ECLOT: str | None
    ECSTDTC: str
    ECENDTC: str | None
    ECSTDY: int
    ECENDY: int | None
    ECADJ: str | None
    VISITNUM: int


class EXRow(_Row):
    """One EX record (a dose given); fields in the order of the exported columns."""

    STUDYID: str
    DOMAIN: Literal["EX"] = "EX"
    USUBJID: str
    EXSEQ: int
    EXTRT: str
    EXDOSE: str | None
    EXDOSU: str | None
    EXDOSFRM: str
    EXROUTE: str
    EXLOT: str | None
    EXSTDTC: str
    EXENDTC: str | None
    EXSTDY: int
    EXENDY: int | None
    EXADJ: str | None
    VISITNUM: int


EC_COLUMNS: list[str] = list(ECRow.model_fields)
EX_COLUMNS: list[str] = list(EXRow.model_fields)


def study_day(day: date, reference: date) -> int:
    """SDTM study day: the reference date (the anchor) is day 1, the day before it day -1; no day 0.

    >>> study_day(date(2026, 12, 1), date(2026, 12, 1)), study_day(date(2026, 11, 30), date(2026, 12, 1))
    (1, -1)
    """
    delta = (day - reference).days
    return delta + 1 if delta >= 0 else delta


def usubjid(view: SubjectView) -> str:
    return f"{view.protocol_id}-{view.subject_code}"


def _local(moment: datetime, timezone: str) -> datetime:
    return moment.astimezone(ZoneInfo(timezone))


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _treatment(dose: DoseView, protocol: Protocol) -> str:
    # SDTM names a placebo "PLACEBO"; the product by the name the protocol gives it.
    return "PLACEBO" if dose.intervention == "placebo" else protocol.product.name


def _dosage_form(quantity: Amount | Volume | None, protocol: Protocol) -> str:
    # Living cells are given suspended in their carrier; particles, mg of protein and saline dissolve.
    if isinstance(quantity, Volume):
        return "SOLUTION"
    unit = quantity.unit if quantity is not None else protocol.product.kind.amount_unit
    return "SUSPENSION" if unit is AmountUnit.CELLS else "SOLUTION"


def _route(recorded: str | None, protocol: Protocol) -> str:
    code = (recorded or protocol.route.code).strip().upper()
    return _ROUTES.get(code, code)


def _quantity(dose: DoseView, given: GivenView | None) -> Amount | Volume | None:
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


def _value(quantity: Amount | Volume | None) -> str | None:
    return None if quantity is None else format_decimal(quantity.value)


def _unit(quantity: Amount | Volume | None) -> str | None:
    if quantity is None:
        return None
    return quantity.unit.value if isinstance(quantity, Amount) else quantity.unit


def _administered(dose: DoseView) -> bool:
    """Doses a subject could be given: a control arm with nothing to give has none."""
    return dose.planned_id is not None and dose.intervention != "none"


def _not_given_reason(dose: DoseView) -> str:
    if dose.status.state is DoseState.MISSED:
        # The window closes at the end of its last local day.
        return f"MISSED: window closed {dose.latest.isoformat()}"
    return dose.status.reason or "SKIPPED"


def ec_rows(view: SubjectView, protocol: Protocol) -> list[ECRow]:
    """Every planned dose (SCHEDULED) and every outcome (PERFORMED: given, skipped or missed)."""
    rows: list[ECRow] = []
    for dose in view.doses:
        if not _administered(dose):
            continue
        planned_start = _local(dose.planned_start, view.timezone)
        planned = _quantity(dose, None)
        scheduled = ECRow(
            STUDYID=view.protocol_id,
            USUBJID=usubjid(view),
            ECSEQ=len(rows) + 1,
            ECTRT=_treatment(dose, protocol),
            ECMOOD="SCHEDULED",
            ECOCCUR=None,
            ECREASOC=None,
            ECDOSE=_value(planned),
            ECDOSU=_unit(planned),
            ECDOSFRM=_dosage_form(planned, protocol),
            ECROUTE=_route(None, protocol),
            ECLOT=None,
            ECSTDTC=_iso(planned_start),
            ECENDTC=None,
            ECSTDY=study_day(planned_start.date(), view.anchor_date),
            ECENDY=None,
            ECADJ=None,
            VISITNUM=dose.sequence,
        )
        rows.append(scheduled)
        given = dose.given
        if given is not None:
            rows.append(_performed_given(view, protocol, dose, given, len(rows) + 1))
        elif dose.status.state in _NOT_GIVEN:
            # Not given: no dose, no lot; the date is the planned one the outcome belongs to.
            not_given = {"ECMOOD": "PERFORMED", "ECOCCUR": "N", "ECREASOC": _not_given_reason(dose)}
            rows.append(
                scheduled.model_copy(
                    update={**not_given, "ECSEQ": len(rows) + 1, "ECDOSE": None, "ECDOSU": None}
                )
            )
    return rows


def _performed_given(
    view: SubjectView, protocol: Protocol, dose: DoseView, given: GivenView, sequence: int
) -> ECRow:
    row = _given_row(view, protocol, dose, given)
    return ECRow(
        STUDYID=row.STUDYID,
        USUBJID=row.USUBJID,
        ECSEQ=sequence,
        ECTRT=row.EXTRT,
        ECMOOD="PERFORMED",
        ECOCCUR="Y",
        ECREASOC=None,
        ECDOSE=row.EXDOSE,
        ECDOSU=row.EXDOSU,
        ECDOSFRM=row.EXDOSFRM,
        ECROUTE=row.EXROUTE,
        ECLOT=row.EXLOT,
        ECSTDTC=row.EXSTDTC,
        ECENDTC=row.EXENDTC,
        ECSTDY=row.EXSTDY,
        ECENDY=row.EXENDY,
        ECADJ=row.EXADJ,
        VISITNUM=row.VISITNUM,
    )


def _given_row(view: SubjectView, protocol: Protocol, dose: DoseView, given: GivenView) -> EXRow:
    """A given dose as EX writes it (EXSEQ 0 until numbered)."""
    started = _local(given.started_at, view.timezone)
    ended = _local(given.ended_at, view.timezone) if given.ended_at is not None else None
    quantity = _quantity(dose, given)
    return EXRow(
        STUDYID=view.protocol_id,
        USUBJID=usubjid(view),
        EXSEQ=0,
        EXTRT=_treatment(dose, protocol),
        EXDOSE=_value(quantity),
        EXDOSU=_unit(quantity),
        EXDOSFRM=_dosage_form(quantity, protocol),
        EXROUTE=_route(given.route, protocol),
        EXLOT=given.lot or given.din,
        EXSTDTC=_iso(started),
        EXENDTC=_iso(ended) if ended is not None else None,
        EXSTDY=study_day(started.date(), view.anchor_date),
        EXENDY=study_day(ended.date(), view.anchor_date) if ended is not None else None,
        EXADJ="PARTIAL DOSE" if given.partial else None,
        VISITNUM=dose.sequence,
    )


def ex_rows(view: SubjectView, protocol: Protocol) -> list[EXRow]:
    """The doses given, numbered 1..n for the subject."""
    rows: list[EXRow] = []
    for dose in view.doses:
        if _administered(dose) and dose.given is not None:
            row = _given_row(view, protocol, dose, dose.given)
            rows.append(row.model_copy(update={"EXSEQ": len(rows) + 1}))
    return rows
