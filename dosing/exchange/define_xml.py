"""define.xml (Define-XML 2.1) describing a study's package: datasets, variables, codelists, origins.

Written with lxml from the same :class:`Dataset` descriptions the .xpt and Dataset-JSON writers use,
so the three cannot disagree. Codelists cite their NCI C-codes; a sponsor extension of an extensible
codelist (the cell and particle units) is marked ``def:ExtendedValue="Yes"`` without a code.
:func:`schema_errors` checks a document against the Define-XML 2.1 XSD that odmlib ships.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from dosing.exchange.dataset_json import item_oid
from dosing.exchange.datasets import Dataset, Variable
from dosing.exchange.terminology import CT_VERSION, Codelist, Term, codelists

ODM = "http://www.cdisc.org/ns/odm/v1.3"
DEF = "http://www.cdisc.org/ns/def/v2.1"
XLINK = "http://www.w3.org/1999/xlink"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
SDTMIG_VERSION = "3.4"

_TYPES = {"text": "text", "integer": "integer", "float": "float", "datetime": "datetime", "date": "date"}

#: Why a derived or assigned variable holds what it holds (def:CommentDef), by variable name.
_COMMENTS = {
    "RFSTDTC": "Start of the first dose given; for a subject not dosed, the date and time of enrolment.",
    "RFXSTDTC": "Start of the first dose given (EX.EXSTDTC of EXSEQ 1).",
    "RFXENDTC": "End (or start, when no end was recorded) of the last dose given.",
    "SEX": "Not collected by the dosing engine: U until merged with the EDC's demographics.",
    "EXDOSE": "The amount delivered, as recorded at the bedside (a partial dose records what was given).",
    "ECREASOC": "The recorded skip reason; a missed dose states the day its window closed.",
}


def _q(namespace: str, name: str) -> str:
    return f"{{{namespace}}}{name}"


def _described(parent: Any, text: str) -> None:
    from lxml import etree

    description = etree.SubElement(parent, _q(ODM, "Description"))
    translated = etree.SubElement(description, _q(ODM, "TranslatedText"))
    translated.set(XML_LANG, "en")
    translated.text = text


def _codelist_oid(codelist: Codelist) -> str:
    return f"CL.{codelist.short_name}"


def define_document(
    study_id: str, study_title: str, datasets: list[Dataset], *, created: datetime, source_version: str
) -> bytes:
    """The define.xml bytes for a study's ``datasets`` (the .xpt files sit next to it)."""
    from lxml import etree

    odm = etree.Element(_q(ODM, "ODM"), nsmap={None: ODM, "def": DEF, "xlink": XLINK})
    for name, value in {
        "FileType": "Snapshot",
        "FileOID": f"DEFINE.{study_id}",
        "ODMVersion": "1.3.2",
        "CreationDateTime": created.isoformat(),
        "Originator": "cell-dosing",
        "SourceSystem": "cell-dosing",
        "SourceSystemVersion": source_version,
    }.items():
        odm.set(name, value)
    odm.set(_q(DEF, "Context"), "Submission")
    study = etree.SubElement(odm, _q(ODM, "Study"), OID=study_id)
    variables = etree.SubElement(study, _q(ODM, "GlobalVariables"))
    for tag, text in (("StudyName", study_id), ("StudyDescription", study_title), ("ProtocolName", study_id)):
        etree.SubElement(variables, _q(ODM, tag)).text = text
    version = etree.SubElement(
        study, _q(ODM, "MetaDataVersion"), OID=f"MDV.{study_id}", Name=f"{study_id} SDTM"
    )
    version.set(_q(DEF, "DefineVersion"), "2.1.0")
    standards = etree.SubElement(version, _q(DEF, "Standards"))
    etree.SubElement(
        standards, _q(DEF, "Standard"), OID="STD.SDTMIG", Name="SDTMIG", Type="IG",
        Version=SDTMIG_VERSION, Status="Final",
    )  # fmt: skip
    etree.SubElement(
        standards, _q(DEF, "Standard"), OID="STD.CT", Name="CDISC/NCI", Type="CT", PublishingSet="SDTM",
        Version=CT_VERSION, Status="Final",
    )  # fmt: skip

    used_codelists: dict[str, Codelist] = {}
    commented: list[str] = []
    for data in datasets:
        _item_group(version, data)
    for data in datasets:
        for variable in data.variables:
            _item_def(version, data, variable)
            if variable.codelist is not None:
                used_codelists[variable.codelist.short_name] = variable.codelist
            if variable.name in _COMMENTS and variable.name not in commented:
                commented.append(variable.name)
    for codelist, terms in codelists():
        if codelist.short_name in used_codelists:
            _codelist(version, codelist, terms)
    for name in commented:
        comment = etree.SubElement(version, _q(DEF, "CommentDef"), OID=f"COM.{name}")
        _described(comment, _COMMENTS[name])
    result: bytes = etree.tostring(odm, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return result


def _item_group(version: Any, data: Dataset) -> None:
    from lxml import etree

    group = etree.SubElement(
        version, _q(ODM, "ItemGroupDef"), OID=f"IG.{data.name}", Domain=data.name, Name=data.name,
        Repeating="No" if data.name == "DM" else "Yes",
        IsReferenceData="Yes" if data.sdtm_class == "TRIAL DESIGN" else "No",
        SASDatasetName=data.name, Purpose="Tabulation",
    )  # fmt: skip
    group.set(_q(DEF, "Structure"), data.structure)
    group.set(_q(DEF, "StandardOID"), "STD.SDTMIG")
    group.set(_q(DEF, "ArchiveLocationID"), f"LF.{data.name}")
    _described(group, data.label)
    for order, variable in enumerate(data.variables, start=1):
        ref = etree.SubElement(
            group, _q(ODM, "ItemRef"), ItemOID=item_oid(data, variable), OrderNumber=str(order),
            Mandatory="Yes" if variable.required else "No",
        )  # fmt: skip
        if variable.key is not None:
            ref.set("KeySequence", str(variable.key))
    etree.SubElement(group, _q(DEF, "Class"), Name=data.sdtm_class)
    leaf_ref = etree.SubElement(group, _q(DEF, "leaf"), ID=f"LF.{data.name}")
    leaf_ref.set(_q(XLINK, "href"), f"{data.file_stem}.xpt")
    etree.SubElement(leaf_ref, _q(DEF, "title")).text = f"{data.file_stem}.xpt"


def _item_def(version: Any, data: Dataset, variable: Variable) -> None:
    from lxml import etree

    item = etree.SubElement(
        version, _q(ODM, "ItemDef"), OID=item_oid(data, variable), Name=variable.name,
        DataType=_TYPES[variable.data_type], SASFieldName=variable.name,
    )  # fmt: skip
    if variable.data_type in ("text", "integer", "float"):
        item.set("Length", str(data.length(variable)))
    if variable.data_type == "float":
        item.set("SignificantDigits", str(data.significant_digits(variable)))
    if variable.name in _COMMENTS:
        item.set(_q(DEF, "CommentOID"), f"COM.{variable.name}")
    _described(item, variable.label)
    if variable.codelist is not None:
        etree.SubElement(item, _q(ODM, "CodeListRef"), CodeListOID=_codelist_oid(variable.codelist))
    origin = etree.SubElement(item, _q(DEF, "Origin"), Type=variable.origin)
    if variable.origin == "Collected":
        origin.set("Source", "Investigator")


def _codelist(version: Any, codelist: Codelist, terms: list[Term]) -> None:
    from lxml import etree

    element = etree.SubElement(
        version, _q(ODM, "CodeList"), OID=_codelist_oid(codelist), Name=codelist.name, DataType="text"
    )
    element.set(_q(DEF, "StandardOID"), "STD.CT")
    for order, term in enumerate(terms, start=1):
        item = etree.SubElement(
            element, _q(ODM, "EnumeratedItem"), CodedValue=term.submission_value, OrderNumber=str(order)
        )
        if term.c_code is None:
            item.set(_q(DEF, "ExtendedValue"), "Yes")
        else:
            etree.SubElement(item, _q(ODM, "Alias"), Context="nci:ExtCodeID", Name=term.c_code)
    etree.SubElement(element, _q(ODM, "Alias"), Context="nci:ExtCodeID", Name=codelist.c_code)


def schema_path() -> Path:
    """The Define-XML 2.1 schema odmlib ships (with the ODM 1.3.2 schemas it imports)."""
    import odmlib

    return Path(odmlib.__file__).parent / "schemas" / "define" / "2.1" / "define2-1-0.xsd"


def schema_errors(document: bytes) -> list[str]:
    """What the Define-XML 2.1 XSD finds wrong with ``document`` (empty when it validates)."""
    from lxml import etree

    schema = etree.XMLSchema(etree.parse(str(schema_path())))
    valid = schema.validate(etree.fromstring(document))
    return [] if valid else [f"line {error.line}: {error.message}" for error in schema.error_log]


def write_define(
    study_id: str, study_title: str, datasets: list[Dataset], folder: Path, *, created: datetime,
    source_version: str,
) -> Path:  # fmt: skip
    path = folder / "define.xml"
    path.write_bytes(
        define_document(study_id, study_title, datasets, created=created, source_version=source_version)
    )
    return path
