"""The SDTM package read back as a reviewer would: .xpt through pyreadstat, define.xml against its XSD.

Checked against the conformance rules the issue names (hand-checked: the CDISC rules engine needs the
CDISC Library): ECOCCUR only with ECPRESP "Y" (CORE-000015/16), study days from DM.RFSTDTC without a
day 0, units and routes as CDISC terms, VISIT/VISITNUM/EPOCH the same across TV, SV, EC and EX.
"""

from __future__ import annotations

import json
import math
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from dosing.app.context import Context
from dosing.errors import DosingError
from dosing.exchange.datasets import SPECS
from dosing.exchange.define_xml import schema_errors
from dosing.exchange.exports import ExportOptions, ExportResult, export_sdtm
from dosing.exchange.sdtm import study_day
from dosing.exchange.terminology import DOSE_FORMS, EPOCHS, ROUTES, UNITS, unit_term
from dosing.store import Store, ledger, open_store
from dosing.store.models import GivenRequest, SkipRequest
from tests.exchange.conftest import AS_OF, accounts, at, enrollment, signed_in

STUDY = "NCT04822922"
ODM = "{http://www.cdisc.org/ns/odm/v1.3}"


def _export(ctx: Context, folder: Path, **options: Any) -> ExportResult:
    return export_sdtm(ctx, ExportOptions(output=folder, as_of=at(AS_OF), **options))


def read(folder: Path, name: str) -> tuple[list[dict[str, Any]], Any]:
    """A dataset's rows (missing values as None) and pyreadstat's metadata."""
    import pyreadstat

    frame, meta = pyreadstat.read_xport(str(folder / STUDY / f"{name.lower()}.xpt"))
    rows = []
    for record in frame.to_dict("records"):
        row: dict[str, Any] = {}
        for key, value in record.items():
            missing = value == "" or (isinstance(value, float) and math.isnan(value))
            row[key] = None if missing else value
        rows.append(row)
    return rows, meta


@pytest.fixture
def package(manager: Context, tmp_path: Path) -> tuple[Path, ExportResult]:
    return tmp_path, _export(manager, tmp_path)


def test_every_dataset_has_its_required_variables_in_order_with_labels(
    package: tuple[Path, ExportResult],
) -> None:
    folder, result = package
    names = sorted(path.name for path in result.files)
    assert names == sorted(
        [f"{n.lower()}.xpt" for n in SPECS] + [f"{n.lower()}.json" for n in SPECS] + ["define.xml"]
    )
    for name, (label, _, _, variables) in SPECS.items():
        # SAS transport version 5 (version 8 files start with a LIBV8 header).
        assert (
            (folder / STUDY / f"{name.lower()}.xpt")
            .read_bytes()
            .startswith(b"HEADER RECORD*******LIBRARY HEADER RECORD!!!!!!!")
        )
        rows, meta = read(folder, name)
        assert meta.table_name == name and meta.file_label == label
        assert meta.column_names == [v.name for v in variables]
        assert meta.column_names[:2] == ["STUDYID", "DOMAIN"]
        assert all(len(column) <= 8 for column in meta.column_names)
        assert meta.column_labels == [v.label for v in variables]
        assert all(0 < len(text) <= 40 for text in meta.column_labels)
        for row in rows:
            assert row["DOMAIN"] == name and row["STUDYID"] == STUDY
            for variable in variables:
                if variable.required:
                    assert row[variable.name] is not None, (name, variable.name)
    dm_rows, _ = read(folder, "DM")
    ec_rows, _ = read(folder, "EC")
    ex_rows, _ = read(folder, "EX")
    assert (len(dm_rows), len(ec_rows), len(ex_rows)) == (2, 16, 3)
    assert [v for v in SPECS["EC"][3] if v.name.startswith("EC")][:5] == [
        v for v in SPECS["EC"][3] if v.name in ("ECSEQ", "ECLNKID", "ECTRT", "ECMOOD", "ECPRESP")
    ]


def test_ec_says_occurrence_only_for_pre_specified_performed_doses(
    package: tuple[Path, ExportResult],
) -> None:
    rows, _ = read(package[0], "EC")
    for row in rows:
        if row["ECOCCUR"] is not None:  # CORE-000015/16: ECOCCUR needs ECPRESP = "Y"
            assert row["ECPRESP"] == "Y"
        if row["ECMOOD"] == "SCHEDULED":
            assert (row["ECOCCUR"], row["ECREASOC"], row["ECLOT"]) == (None, None, None)
            assert row["ECDOSE"] is not None
        else:
            assert row["ECOCCUR"] in ("Y", "N")
        if row["ECOCCUR"] == "N":
            assert row["ECREASOC"] and row["ECDOSE"] is None and row["ECDOSU"] is None
        else:
            assert row["ECREASOC"] is None
    performed = [
        (r["USUBJID"][-5:], r["VISITNUM"], r["ECOCCUR"], r["ECREASOC"])
        for r in rows
        if r["ECMOOD"] == "PERFORMED"
    ]
    assert performed == [
        ("S-001", 1, "Y", None),
        ("S-001", 2, "N", "adverse event"),
        ("S-001", 3, "Y", None),
        ("S-001", 4, "N", "MISSED: window closed 2026-12-11"),
        ("S-002", 1, "N", "refused, see Dr. Wang"),
        ("S-002", 2, "Y", None),
        ("S-002", 3, "N", "MISSED: window closed 2026-12-08"),
        ("S-002", 4, "N", "MISSED: window closed 2026-12-11"),
    ]  # fmt: skip
    assert [r["ECSEQ"] for r in rows if r["USUBJID"].endswith("S-002")] == list(range(1, 9))


def test_a_partial_dose_exports_what_was_delivered_and_why(package: tuple[Path, ExportResult]) -> None:
    ex, _ = read(package[0], "EX")
    partial = next(row for row in ex if row["USUBJID"].endswith("S-001") and row["VISITNUM"] == 3)
    assert partial["EXDOSE"] == 12400000.5  # delivered, not the 24800000 ordered
    assert partial["EXADJ"] == "Partial dose: infusion reaction (fever 39.1 C, infusion stopped)"
    assert (partial["EXLOT"], partial["EXSEQ"], partial["EXLNKID"]) == ("L124", 2, "3")
    full = next(row for row in ex if row["USUBJID"].endswith("S-001") and row["VISITNUM"] == 1)
    assert (full["EXDOSE"], full["EXADJ"]) == (24800000, None)
    ec, _ = read(package[0], "EC")
    performed = next(
        r for r in ec if r["ECLNKID"] == "3" and r["ECMOOD"] == "PERFORMED" and r["USUBJID"].endswith("1")
    )
    assert (performed["ECDOSE"], performed["ECADJ"]) == (12400000.5, partial["EXADJ"])  # fmt: skip
    # Missed and skipped doses are in EC only: EX holds what was given.
    assert sorted((r["USUBJID"][-5:], r["VISITNUM"]) for r in ex) == [
        ("S-001", 1),
        ("S-001", 3),
        ("S-002", 2),
    ]


def _day(iso: str) -> date:
    return datetime.fromisoformat(iso).date()


def test_study_days_count_from_dm_rfstdtc_without_day_zero(package: tuple[Path, ExportResult]) -> None:
    dm, _ = read(package[0], "DM")
    reference = {row["USUBJID"]: _day(row["RFSTDTC"]) for row in dm}
    for name, prefix in (("EC", "EC"), ("EX", "EX"), ("SV", "SV")):
        rows, _ = read(package[0], name)
        for row in rows:
            for which in ("ST", "EN"):
                stamp, day = row[f"{prefix}{which}DTC"], row[f"{prefix}{which}DY"]
                if stamp is None:
                    assert day is None
                    continue
                assert day != 0
                assert day == study_day(_day(stamp), reference[row["USUBJID"]])
    ec, _ = read(package[0], "EC")
    # S-002's first dose given was dose 2 (4 December): the skipped dose 1 (1 December) is day -3.
    s002 = {(r["VISITNUM"], r["ECMOOD"]): r["ECSTDY"] for r in ec if r["USUBJID"].endswith("S-002")}
    assert (s002[(1, "SCHEDULED")], s002[(2, "PERFORMED")], s002[(3, "SCHEDULED")]) == (-3, 1, 4)


def test_dm_reference_dates_and_arms(package: tuple[Path, ExportResult]) -> None:
    dm, _ = read(package[0], "DM")
    first = dm[0]
    assert (first["USUBJID"], first["SUBJID"], first["SITEID"], first["COUNTRY"]) == (
        "NCT04822922-S-001", "S-001", "renji-shanghai", "CHN",
    )  # fmt: skip
    assert (first["RFSTDTC"], first["RFXSTDTC"], first["RFXENDTC"]) == (
        "2026-12-01T09:30:00+08:00", "2026-12-01T09:30:00+08:00", "2026-12-08T09:10:00+08:00",
    )  # fmt: skip
    assert (first["ARMCD"], first["ARM"], first["ACTARMCD"], first["ACTARM"], first["ARMNRS"]) == (
        "LOW", "Experimental: low dose", "LOW", "Experimental: low dose", None,
    )  # fmt: skip
    assert dm[1]["RFSTDTC"] == "2026-12-04T09:15:00+08:00"


def test_a_subject_not_dosed_yet_is_assigned_not_treated(sqlite_url: str, tmp_path: Path) -> None:
    store = open_store(sqlite_url)
    try:
        ledger.enroll(store, enrollment(arm="low"))
        accounts(store)
        export_sdtm(signed_in(store), ExportOptions(output=tmp_path, as_of=at("2026-12-01T09:00:00+08:00")))
    finally:
        store.dispose()
    dm, _ = read(tmp_path, "DM")
    assert [(r["ARMCD"], r["ACTARMCD"], r["ACTARM"], r["ARMNRS"]) for r in dm] == [
        ("LOW", None, None, "ASSIGNED, NOT TREATED")
    ]
    # Not dosed: study days count from the enrolment (08:30 local on 1 December).
    assert [(r["RFSTDTC"], r["RFXSTDTC"]) for r in dm] == [("2026-12-01T08:30:00+08:00", None)]
    ec, _ = read(tmp_path, "EC")
    assert {r["ECMOOD"] for r in ec} == {"SCHEDULED"}
    assert [r["ECSTDY"] for r in ec] == [1, 4, 7, 10]
    assert read(tmp_path, "EX")[0] == [] and read(tmp_path, "SV")[0] == []


def test_units_routes_forms_and_epochs_are_controlled_terms(package: tuple[Path, ExportResult]) -> None:
    units = {term.submission_value for term in UNITS.values()}
    routes = {term.submission_value for term in ROUTES.values()}
    forms = {term.submission_value for term in DOSE_FORMS.values()}
    ta, _ = read(package[0], "TA")
    epochs = {row["EPOCH"] for row in ta}
    assert epochs <= set(EPOCHS)
    for name, prefix in (("EC", "EC"), ("EX", "EX")):
        rows, _ = read(package[0], name)
        assert {r[f"{prefix}DOSU"] for r in rows} - {None} == {"CELLS"} <= units
        assert {r[f"{prefix}ROUTE"] for r in rows} == {"INTRAVENOUS"} <= routes
        assert {r[f"{prefix}DOSFRM"] for r in rows} == {"SUSPENSION"} <= forms
        assert {r["EPOCH"] for r in rows} <= epochs
    ts, _ = read(package[0], "TS")
    route = next(r for r in ts if r["TSPARMCD"] == "ROUTE")
    assert (route["TSVAL"], route["TSVALCD"], route["TSVCDREF"]) == ("INTRAVENOUS", "C38276", "CDISC CT")


def test_visits_and_epochs_agree_across_tv_sv_ec_and_ex(package: tuple[Path, ExportResult]) -> None:
    tv, _ = read(package[0], "TV")
    planned = {(r["VISITNUM"], r["VISIT"]) for r in tv}
    assert planned == {(n, f"UC-MSC INFUSION {n}") for n in range(1, 5)}
    for name in ("SV", "EC", "EX"):
        rows, _ = read(package[0], name)
        assert {(r["VISITNUM"], r["VISIT"]) for r in rows} <= planned
        assert {r["EPOCH"] for r in rows} == {"TREATMENT"}
    sv, _ = read(package[0], "SV")
    ex, _ = read(package[0], "EX")
    # A visit happened where a dose was given, at the time it was given.
    assert [(r["USUBJID"], r["VISITNUM"], r["SVSTDTC"]) for r in sv] == [
        (r["USUBJID"], r["VISITNUM"], r["EXSTDTC"]) for r in ex
    ]


def test_define_xml_validates_and_describes_the_transport_files(package: tuple[Path, ExportResult]) -> None:
    document = (package[0] / STUDY / "define.xml").read_bytes()
    assert schema_errors(document) == []
    # The schema is real: a broken document does not pass.
    assert schema_errors(document.replace(b'Mandatory="Yes"', b'Mandatory="Always"', 1))
    root = etree.fromstring(document)
    for name in SPECS:
        group = root.find(f".//{ODM}ItemGroupDef[@OID='IG.{name}']")
        assert group is not None
        refs = [ref.get("ItemOID").split(".")[-1] for ref in group.findall(f"{ODM}ItemRef")]
        _, meta = read(package[0], name)
        assert refs == meta.column_names
    route = root.find(f".//{ODM}CodeList[@OID='CL.ROUTE']")
    assert route is not None
    items = route.findall(f"{ODM}EnumeratedItem")
    aliases = {item.get("CodedValue"): item.find(f"{ODM}Alias").get("Name") for item in items}
    assert aliases["INTRAVENOUS"] == "C38276"
    cells = root.find(f".//{ODM}CodeList[@OID='CL.UNIT']/{ODM}EnumeratedItem[@CodedValue='CELLS']")
    assert cells is not None and cells.get("{http://www.cdisc.org/ns/def/v2.1}ExtendedValue") == "Yes"


def test_dataset_json_matches_the_transport_files(package: tuple[Path, ExportResult]) -> None:
    for name in SPECS:
        document = json.loads((package[0] / STUDY / f"{name.lower()}.json").read_text(encoding="utf-8"))
        rows, meta = read(package[0], name)
        assert document["datasetJSONVersion"].startswith("1.1")
        assert (document["name"], document["records"], document["itemGroupOID"]) == (
            name,
            len(rows),
            f"IG.{name}",
        )
        assert [c["name"] for c in document["columns"]] == meta.column_names
        for exported, read_back in zip(document["rows"], rows, strict=True):
            assert exported == [read_back[column] for column in meta.column_names]
    ex = json.loads((package[0] / STUDY / "ex.json").read_text(encoding="utf-8"))
    dose = [c["name"] for c in ex["columns"]].index("EXDOSE")
    assert [row[dose] for row in ex["rows"]] == [24800000, 12400000.5, 24800000]  # numbers, not text


def test_an_unmapped_route_is_refused_and_nothing_is_written(
    dosed_store: Store, manager: Context, tmp_path: Path
) -> None:
    ledger.record_given(
        dosed_store,
        GivenRequest(
            subject_code="S-002", sequence=3, started_at=at("2026-12-07T09:00+08:00"), lot="L123",
            route="intraosseous", actor="nurse-a", as_of=at("2026-12-07T10:00+08:00"),
        ),
    )  # fmt: skip
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(DosingError) as refused:
        _export(manager, out)
    assert refused.value.field == "route" and "intraosseous" in refused.value.message
    assert list(out.iterdir()) == []  # refused before the first file
    with pytest.raises(DosingError, match="unmapped unit"):
        unit_term("{vials}")


def test_free_text_is_cut_to_sdtm_length_and_identities_are_flagged(
    dosed_store: Store, manager: Context, tmp_path: Path
) -> None:
    long_reason = "the infusion pump failed and a replacement could not be found " * 6
    ledger.record_skipped(
        dosed_store,
        SkipRequest(
            subject_code="S-002", sequence=3, reason=long_reason, actor="nurse-a",
            as_of=at("2026-12-07T08:00+08:00"),
        ),
    )  # fmt: skip
    result = _export(manager, tmp_path)
    ec, _ = read(tmp_path, "EC")
    reason = next(
        r["ECREASOC"] for r in ec if r["USUBJID"].endswith("S-002") and r["VISITNUM"] == 3 and r["ECOCCUR"]
    )
    assert reason == long_reason.strip()[:200]
    assert any("cut to 200 characters" in w and "S-002 dose 3" in w for w in result.warnings)
    assert any("may name a person" in w and "S-002 dose 1" in w for w in result.warnings)
    assert not any("MISSED" in w for w in result.warnings)  # the project's own wording is not flagged


def test_site_and_protocol_select_and_an_unknown_site_is_refused(
    dosed_store: Store, manager: Context, tmp_path: Path
) -> None:
    result = _export(manager, tmp_path, protocol="NCT04822922", site="renji-shanghai")
    assert result.subjects == 2
    with pytest.raises(DosingError) as refused:
        _export(manager, tmp_path, site="nowhere")
    assert refused.value.field == "site" and "renji-shanghai" in refused.value.rule
    other = tmp_path / "other"
    other.mkdir()
    result = _export(manager, other, protocol="SYSU3-MSCEV-LT")
    assert result.subjects == 0
    dm, _ = read_other(other, "SYSU3-MSCEV-LT")
    assert dm == []


def read_other(folder: Path, study: str) -> tuple[list[dict[str, Any]], Any]:
    import pyreadstat

    frame, meta = pyreadstat.read_xport(str(folder / study / "dm.xpt"))
    return frame.to_dict("records"), meta


def test_a_partial_dose_without_a_recorded_reason_is_flagged(
    dosed_store: Store, manager: Context, tmp_path: Path
) -> None:
    from decimal import Decimal

    from dosing.units import Amount, AmountUnit

    ledger.record_given(
        dosed_store,
        GivenRequest(
            subject_code="S-002", sequence=3, started_at=at("2026-12-07T09:00+08:00"), lot="L123",
            amount=Amount(value=Decimal("20000000"), unit=AmountUnit.CELLS), partial=True,
            actor="nurse-a", as_of=at("2026-12-07T10:00+08:00"),
        ),
    )  # fmt: skip
    result = _export(manager, tmp_path)
    ex, _ = read(tmp_path, "EX")
    row = next(r for r in ex if r["USUBJID"].endswith("S-002") and r["VISITNUM"] == 3)
    assert (row["EXDOSE"], row["EXADJ"]) == (20000000, "Partial dose: reason not recorded")
    assert any("S-002 dose 3 EXADJ: partial dose recorded without a reason" in w for w in result.warnings)


@pytest.mark.parametrize(
    "study", ["MSC-ACLF-WEEKLY", "NCT04822922", "NCT05871463", "NCT05940610", "SYSU3-MSCEV-LT"]
)
def test_every_shipped_protocol_has_a_valid_trial_design_and_define(study: str) -> None:
    from dosing.catalog import get_protocol
    from dosing.exchange.define_xml import define_document
    from dosing.exchange.sdtm_package import build_package

    protocol = get_protocol(study)
    warnings: list[str] = []
    datasets = build_package(protocol, [], warnings)
    assert warnings == []
    document = define_document(study, protocol.title, datasets, created=at(AS_OF), source_version="0")
    assert schema_errors(document) == []
    design = {data.name: data.rows for data in datasets}
    assert len(design["TV"]) == len(protocol.administrations)
    assert {row["ARMCD"] for row in design["TA"]} == {
        arm.id.upper().replace("-", "_") for arm in protocol.arms
    }
    dosu = next(row for row in design["TS"] if row["TSPARMCD"] == "DOSU")
    assert dosu["TSVAL"] in {term.submission_value for term in UNITS.values()}


def test_only_an_account_that_may_export_does_and_a_refusal_is_audited(
    dosed_store: Store, tmp_path: Path
) -> None:
    nurse = signed_in(dosed_store, "nina")
    with pytest.raises(DosingError) as refused:
        _export(nurse, tmp_path / "absent")  # refused before the folder is even looked at
    assert refused.value.field == "authority" and "data-manager" in refused.value.rule
    last = ledger.audit_trail(dosed_store)[-1]
    assert (last.actor, last.action) == ("nina", "refused")


def test_a_text_longer_than_transport_v5_holds_is_refused_not_cut() -> None:
    from dosing.exchange.datasets import dataset

    row = {
        "STUDYID": STUDY,
        "DOMAIN": "TE",
        "ETCD": "TRT01",
        "ELEMENT": "x" * 201,
        "TESTRL": "a",
        "TEENRL": None,
    }
    with pytest.raises(DosingError) as refused:
        dataset("TE", [row])
    assert refused.value.field == "TE.ELEMENT" and "201 characters" in refused.value.message
    assert dataset("TE", [{**row, "ELEMENT": "x" * 200}]).rows[0]["ELEMENT"] == "x" * 200
