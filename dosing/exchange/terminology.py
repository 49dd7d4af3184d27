"""CDISC Controlled Terminology for what the exports write: units, routes, dose forms, epochs, Y/N.

One table, each term with its NCI C-code and its codelist's, so define.xml can cite them and a data
manager can check them against the CT release named in :data:`CT_VERSION`. A value that is not in the
table is refused (:class:`DosingError`), never passed through: a submission with an unmapped unit or
route fails the sponsor's conformance check far later and far more expensively.

Cell and particle counts have no term of their own in the UNIT codelist the project could cite with
confidence; UNIT is extensible, so they are sponsor extensions (``c_code`` None), which define.xml
marks with ``def:ExtendedValue="Yes"`` as Define-XML 2.1 requires. Check them against the current CT
release before a submission and replace them here if CDISC has published terms.

Provenance of the codes (no CT file could be downloaded here): mg C28253 and mL C28254 were read in the
NCI EVS CDASH terminology file; TREATMENT C101526 and FOLLOW-UP C99158 (codelist C99079) in public
CDISC tooling; the others (routes, dose forms, NY, kg) are from the SDTM CT as the author knows it and
must be checked against the release in :data:`CT_VERSION` like every sponsor's mapping table.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from dosing.errors import DosingError

#: The CT release the C-codes were taken from (SDTM CT); define.xml names it as its CT standard.
CT_VERSION = "2024-09-27"


class Codelist(BaseModel):
    model_config = ConfigDict(frozen=True)

    #: Short name used in OIDs (``CL.ROUTE``).
    short_name: str
    name: str
    c_code: str
    extensible: bool


class Term(BaseModel):
    model_config = ConfigDict(frozen=True)

    codelist: Codelist
    submission_value: str
    #: None only for a sponsor extension of an extensible codelist.
    c_code: str | None
    decode: str


UNIT = Codelist(short_name="UNIT", name="Unit", c_code="C71620", extensible=True)
ROUTE = Codelist(
    short_name="ROUTE", name="Route of Administration Response", c_code="C66729", extensible=True
)
FRM = Codelist(short_name="FRM", name="Pharmaceutical Dosage Form", c_code="C66726", extensible=True)
EPOCH = Codelist(short_name="EPOCH", name="Epoch", c_code="C99079", extensible=True)
NY = Codelist(short_name="NY", name="No Yes Response", c_code="C66742", extensible=False)

#: The project's unit codes (UCUM-style, see units.py) -> CDISC UNIT submission values.
UNITS: dict[str, Term] = {
    "mg": Term(codelist=UNIT, submission_value="mg", c_code="C28253", decode="Milligram"),
    "mL": Term(codelist=UNIT, submission_value="mL", c_code="C28254", decode="Milliliter"),
    "kg": Term(codelist=UNIT, submission_value="kg", c_code="C28252", decode="Kilogram"),
    "{cells}": Term(codelist=UNIT, submission_value="CELLS", c_code=None, decode="Cells (sponsor extension)"),
    "{particles}": Term(
        codelist=UNIT, submission_value="PARTICLES", c_code=None, decode="Particles (sponsor extension)"
    ),
}

_INTRAVENOUS = Term(
    codelist=ROUTE, submission_value="INTRAVENOUS", c_code="C38276", decode="Intravenous Route"
)
_INTRATHECAL = Term(
    codelist=ROUTE, submission_value="INTRATHECAL", c_code="C38277", decode="Intrathecal Route"
)
_INTRAMUSCULAR = Term(
    codelist=ROUTE, submission_value="INTRAMUSCULAR", c_code="C28161", decode="Intramuscular Route"
)
_SUBCUTANEOUS = Term(
    codelist=ROUTE, submission_value="SUBCUTANEOUS", c_code="C38299", decode="Subcutaneous Route"
)
_INTRA_ARTERIAL = Term(
    codelist=ROUTE, submission_value="INTRA-ARTERIAL", c_code="C38222", decode="Intraarterial Route"
)

#: Route codes protocols and nurses write (upper-cased) -> CDISC ROUTE terms.
ROUTES: dict[str, Term] = {
    "IV": _INTRAVENOUS,
    "INTRAVENOUS": _INTRAVENOUS,
    "IT": _INTRATHECAL,
    "INTRATHECAL": _INTRATHECAL,
    "IM": _INTRAMUSCULAR,
    "INTRAMUSCULAR": _INTRAMUSCULAR,
    "SC": _SUBCUTANEOUS,
    "SUBCUTANEOUS": _SUBCUTANEOUS,
    "IA": _INTRA_ARTERIAL,
    "INTRA-ARTERIAL": _INTRA_ARTERIAL,
}

DOSE_FORMS: dict[str, Term] = {
    "SUSPENSION": Term(codelist=FRM, submission_value="SUSPENSION", c_code="C42994", decode="Suspension"),
    "SOLUTION": Term(codelist=FRM, submission_value="SOLUTION", c_code="C42986", decode="Solution"),
}

EPOCHS: dict[str, Term] = {
    "TREATMENT": Term(
        codelist=EPOCH, submission_value="TREATMENT", c_code="C101526", decode="Treatment Epoch"
    ),
    "FOLLOW-UP": Term(
        codelist=EPOCH, submission_value="FOLLOW-UP", c_code="C99158", decode="Follow-up Epoch"
    ),
}

YES_NO: dict[str, Term] = {
    "Y": Term(codelist=NY, submission_value="Y", c_code="C49488", decode="Yes"),
    "N": Term(codelist=NY, submission_value="N", c_code="C49487", decode="No"),
}

#: Country names protocol files write -> ISO 3166-1 alpha-3 (DM.COUNTRY).
COUNTRIES: dict[str, str] = {"China": "CHN", "Iran": "IRN", "United States": "USA", "Germany": "DEU"}


def unit_term(unit: str) -> Term:
    """The CDISC UNIT term for a project unit code.

    >>> unit_term("mL").c_code
    'C28254'
    """
    term = UNITS.get(unit)
    if term is None:
        known = ", ".join(sorted(UNITS))
        raise DosingError(
            "unit", f"a unit in the CDISC UNIT mapping table ({known})", f"unmapped unit {unit!r}"
        )
    return term


def route_term(route: str) -> Term:
    """The CDISC ROUTE term for a route code (``IV``, ``iv``, ``INTRAVENOUS``).

    >>> route_term("iv").submission_value
    'INTRAVENOUS'
    """
    term = ROUTES.get(route.strip().upper())
    if term is None:
        known = ", ".join(sorted(ROUTES))
        raise DosingError(
            "route", f"a route in the CDISC ROUTE mapping table ({known})", f"unmapped route {route!r}"
        )
    return term


def country_code(country: str | None) -> str:
    code = COUNTRIES.get(country or "")
    if code is None:
        known = ", ".join(sorted(COUNTRIES))
        raise DosingError(
            "country", f"a country in the ISO 3166 mapping table ({known})", f"unmapped country {country!r}"
        )
    return code


def codelists() -> list[tuple[Codelist, list[Term]]]:
    """Every codelist with its distinct terms, in a stable order (define.xml writes them)."""
    grouped: dict[str, tuple[Codelist, list[Term]]] = {}
    for table in (UNITS, ROUTES, DOSE_FORMS, EPOCHS, YES_NO):
        for term in table.values():
            _codelist, terms = grouped.setdefault(term.codelist.short_name, (term.codelist, []))
            if term not in terms:
                terms.append(term)
    return list(grouped.values())
