"""SDTM datasets as data: each variable's name, label, type and codelist, in the SDTMIG's order.

One description serves every writer: the .xpt files take names and labels from it, Dataset-JSON its
columns, define.xml its ItemDefs. Names are at most 8 characters and labels at most 40 (SAS transport
v5), checked here once rather than by each writer.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from dosing.errors import DosingError
from dosing.exchange.terminology import EPOCH, FRM, NY, ROUTE, UNIT, Codelist

#: SAS transport v5 limits on text values.
TEXT_LIMIT = 200

Value = str | int | float | None
Origin = Literal["Collected", "Derived", "Assigned", "Protocol"]
DataType = Literal["text", "integer", "float", "datetime", "date"]


class Variable(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str = Field(pattern=r"^[A-Z][A-Z0-9_]{0,7}$")
    label: str = Field(max_length=40)
    data_type: DataType = "text"
    codelist: Codelist | None = None
    origin: Origin = "Collected"
    #: Required variables may never be null (SDTMIG core "Req").
    required: bool = False
    #: Position in the dataset's natural key, when part of it.
    key: int | None = None

    @property
    def numeric(self) -> bool:
        return self.data_type in ("integer", "float")


class Dataset(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str = Field(pattern=r"^[A-Z]{2}$")
    label: str = Field(max_length=40)
    sdtm_class: str
    structure: str
    variables: list[Variable]
    rows: list[dict[str, Value]]

    @property
    def file_stem(self) -> str:
        return self.name.lower()

    def _values(self, variable: Variable) -> list[Value]:
        return [row[variable.name] for row in self.rows if row.get(variable.name) is not None]

    def length(self, variable: Variable) -> int:
        """define.xml's Length: the longest text, or the most digits of a number (at least 1)."""
        if variable.numeric:
            return max([1, *(len(_digits(value).replace(".", "")) for value in self._values(variable))])
        return max([1, *(len(str(value)) for value in self._values(variable))])

    def significant_digits(self, variable: Variable) -> int:
        """define.xml's SignificantDigits of a float: the most digits after the point."""
        return max([0, *(len(_digits(value).partition(".")[2]) for value in self._values(variable))])


def _digits(value: Value) -> str:
    text = repr(value).lstrip("-")
    return text[:-2] if text.endswith(".0") else text


def _v(name: str, label: str, **more: object) -> Variable:
    return Variable(name=name, label=label, **more)


def _identifiers(domain: str, seq: str | None) -> list[Variable]:
    found = [
        _v("STUDYID", "Study Identifier", origin="Protocol", required=True, key=1),
        _v("DOMAIN", "Domain Abbreviation", origin="Assigned", required=True),
        _v("USUBJID", "Unique Subject Identifier", origin="Assigned", required=True, key=2),
    ]
    if seq is not None:
        found.append(_v(seq, "Sequence Number", data_type="integer", origin="Derived", required=True))
    return found


DM = [
    *_identifiers("DM", None),
    _v("SUBJID", "Subject Identifier for the Study", required=True),
    _v("RFSTDTC", "Subject Reference Start Date/Time", data_type="datetime", origin="Derived"),
    _v("RFENDTC", "Subject Reference End Date/Time", data_type="datetime", origin="Derived"),
    _v("RFXSTDTC", "Date/Time of First Study Treatment", data_type="datetime", origin="Derived"),
    _v("RFXENDTC", "Date/Time of Last Study Treatment", data_type="datetime", origin="Derived"),
    _v("SITEID", "Study Site Identifier", origin="Assigned", required=True),
    _v("SEX", "Sex", origin="Assigned", required=True),
    _v("ARMCD", "Planned Arm Code", origin="Assigned"),
    _v("ARM", "Description of Planned Arm", origin="Assigned"),
    _v("ACTARMCD", "Actual Arm Code", origin="Derived"),
    _v("ACTARM", "Description of Actual Arm", origin="Derived"),
    _v("ARMNRS", "Reason Arm and/or Actual Arm is Null", origin="Derived"),
    _v("COUNTRY", "Country", origin="Assigned", required=True),
]

EC = [
    *_identifiers("EC", "ECSEQ"),
    _v("ECLNKID", "Link ID", origin="Assigned"),
    _v("ECTRT", "Name of Treatment", required=True),
    _v("ECMOOD", "Mood", origin="Assigned"),
    _v("ECPRESP", "Pre-specified", codelist=NY, origin="Assigned"),
    _v("ECOCCUR", "Occurrence", codelist=NY),
    _v("ECREASOC", "Reason for Occur Value"),
    _v("ECDOSE", "Dose", data_type="float"),
    _v("ECDOSU", "Dose Units", codelist=UNIT),
    _v("ECDOSFRM", "Dose Form", codelist=FRM, origin="Protocol"),
    _v("ECROUTE", "Route of Administration", codelist=ROUTE),
    _v("ECLOT", "Lot Number"),
    _v("ECADJ", "Reason for Dose Adjustment"),
    _v("VISITNUM", "Visit Number", data_type="integer", origin="Assigned"),
    _v("VISIT", "Visit Name", origin="Assigned"),
    _v("EPOCH", "Epoch", codelist=EPOCH, origin="Derived"),
    _v("ECSTDTC", "Start Date/Time of Treatment", data_type="datetime"),
    _v("ECENDTC", "End Date/Time of Treatment", data_type="datetime"),
    _v("ECSTDY", "Study Day of Start of Treatment", data_type="integer", origin="Derived"),
    _v("ECENDY", "Study Day of End of Treatment", data_type="integer", origin="Derived"),
]

EX = [
    *_identifiers("EX", "EXSEQ"),
    _v("EXLNKID", "Link ID", origin="Assigned"),
    _v("EXTRT", "Name of Treatment", required=True),
    _v("EXDOSE", "Dose", data_type="float"),
    _v("EXDOSU", "Dose Units", codelist=UNIT),
    _v("EXDOSFRM", "Dose Form", codelist=FRM, origin="Protocol"),
    _v("EXROUTE", "Route of Administration", codelist=ROUTE),
    _v("EXLOT", "Lot Number"),
    _v("EXADJ", "Reason for Dose Adjustment"),
    _v("VISITNUM", "Visit Number", data_type="integer", origin="Assigned"),
    _v("VISIT", "Visit Name", origin="Assigned"),
    _v("EPOCH", "Epoch", codelist=EPOCH, origin="Derived"),
    _v("EXSTDTC", "Start Date/Time of Treatment", data_type="datetime"),
    _v("EXENDTC", "End Date/Time of Treatment", data_type="datetime"),
    _v("EXSTDY", "Study Day of Start of Treatment", data_type="integer", origin="Derived"),
    _v("EXENDY", "Study Day of End of Treatment", data_type="integer", origin="Derived"),
]

SV = [
    *_identifiers("SV", None),
    _v("VISITNUM", "Visit Number", data_type="integer", origin="Assigned", required=True, key=3),
    _v("VISIT", "Visit Name", origin="Assigned"),
    _v("EPOCH", "Epoch", codelist=EPOCH, origin="Derived"),
    _v("SVSTDTC", "Start Date/Time of Visit", data_type="datetime"),
    _v("SVENDTC", "End Date/Time of Visit", data_type="datetime"),
    _v("SVSTDY", "Study Day of Start of Visit", data_type="integer", origin="Derived"),
    _v("SVENDY", "Study Day of End of Visit", data_type="integer", origin="Derived"),
]

_TRIAL = [
    _v("STUDYID", "Study Identifier", origin="Protocol", required=True, key=1),
    _v("DOMAIN", "Domain Abbreviation", origin="Assigned", required=True),
]

TS = [
    *_TRIAL,
    _v("TSSEQ", "Sequence Number", data_type="integer", origin="Assigned", required=True),
    _v("TSPARMCD", "Trial Summary Parameter Short Name", origin="Assigned", required=True, key=2),
    _v("TSPARM", "Trial Summary Parameter", origin="Assigned", required=True),
    _v("TSVAL", "Parameter Value", origin="Protocol"),
    _v("TSVALCD", "Parameter Value Code", origin="Assigned"),
    _v("TSVCDREF", "Name of the Reference Terminology", origin="Assigned"),
    _v("TSVCDVER", "Version of the Reference Terminology", origin="Assigned"),
]

TE = [
    *_TRIAL,
    _v("ETCD", "Element Code", origin="Assigned", required=True, key=2),
    _v("ELEMENT", "Description of Element", origin="Protocol", required=True),
    _v("TESTRL", "Rule for Start of Element", origin="Protocol", required=True),
    _v("TEENRL", "Rule for End of Element", origin="Protocol"),
]

TA = [
    *_TRIAL,
    _v("ARMCD", "Planned Arm Code", origin="Assigned", required=True, key=2),
    _v("ARM", "Description of Planned Arm", origin="Protocol", required=True),
    _v("TAETORD", "Planned Order of Element within Arm", data_type="integer", origin="Assigned", key=3),
    _v("ETCD", "Element Code", origin="Assigned", required=True),
    _v("ELEMENT", "Description of Element", origin="Protocol"),
    _v("EPOCH", "Epoch", codelist=EPOCH, origin="Protocol", required=True),
]

TV = [
    *_TRIAL,
    _v("VISITNUM", "Visit Number", data_type="integer", origin="Assigned", required=True, key=2),
    _v("VISIT", "Visit Name", origin="Protocol"),
    _v("ARMCD", "Planned Arm Code", origin="Assigned"),
    _v("TVSTRL", "Visit Start Rule", origin="Protocol", required=True),
    _v("TVENRL", "Visit End Rule", origin="Protocol"),
]

#: Dataset name -> (label, SDTM class, structure, variables), in the order define.xml lists them.
SPECS: dict[str, tuple[str, str, str, list[Variable]]] = {
    "TA": ("Trial Arms", "TRIAL DESIGN", "One record per planned Element per Arm", TA),
    "TE": ("Trial Elements", "TRIAL DESIGN", "One record per planned Element", TE),
    "TV": ("Trial Visits", "TRIAL DESIGN", "One record per planned Visit per Arm", TV),
    "TS": ("Trial Summary", "TRIAL DESIGN", "One record per trial summary parameter value", TS),
    "DM": ("Demographics", "SPECIAL PURPOSE", "One record per subject", DM),
    "SV": ("Subject Visits", "SPECIAL PURPOSE", "One record per actual visit per subject", SV),
    "EC": (
        "Exposure as Collected",
        "INTERVENTIONS",
        "One record per protocol-specified study treatment, collected-dosing interval, per subject, per mood",
        EC,
    ),
    "EX": (
        "Exposure",
        "INTERVENTIONS",
        "One record per protocol-specified study treatment, constant-dosing interval, per subject",
        EX,
    ),
}


def dataset(name: str, rows: list[dict[str, Value]]) -> Dataset:
    """A dataset of ``rows`` (each holding every variable of ``name``) with its description.

    A text longer than SAS transport v5 holds is refused here, naming the variable, rather than cut
    silently by a writer (free text is cut, with a warning, before it gets here).
    """
    label, sdtm_class, structure, variables = SPECS[name]
    for row in rows:
        for variable in variables:
            value = row.get(variable.name)
            if isinstance(value, str) and len(value) > TEXT_LIMIT:
                raise DosingError(
                    f"{name}.{variable.name}",
                    f"at most {TEXT_LIMIT} characters (SAS transport v5)",
                    f"{len(value)} characters: {value[:40]!r}...",
                )
    return Dataset(
        name=name, label=label, sdtm_class=sdtm_class, structure=structure, variables=variables, rows=rows
    )
