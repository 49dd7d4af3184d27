"""The ISBT 128 bag label read back as a scanner and a printer would: pdftotext, zxing-cpp on a 203 dpi
raster, and the ZPL parsed field by field; and the worksheet's CSV and JSON carrying every warning."""

from __future__ import annotations

import csv
import io
import json
import math
import re
import subprocess
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image

from dosing.catalog import get_protocol
from dosing.dose import weight_change_warning
from dosing.pharmacy.label import BagLabel, bag_label, layout, printed_text, symbols
from dosing.pharmacy.render import bag_label_pdf, worksheet_csv, worksheet_json, worksheet_pdf
from dosing.pharmacy.worksheet import Worksheet, build_worksheet
from dosing.pharmacy.zpl import write_zpl
from dosing.units import Percent, parse_weight
from tests.pharmacy.examples import high_dose_62kg, make_lot

USE_BY = datetime(2026, 12, 1, 2, 30, tzinfo=UTC)  # 10:30 in Shanghai


def prepared_sheet(**lot_changes: object) -> Worksheet:
    sheet = build_worksheet(
        get_protocol("NCT04822922"), high_dose_62kg()[0], make_lot(**lot_changes), do_not_dispense_days=0
    )
    return sheet.model_copy(
        update={"bag_id": "B0000042", "container": 1, "bag_use_by": USE_BY, "prepared_by": "Pat Preparer"}
    )


@pytest.fixture
def label() -> BagLabel:
    return bag_label(
        prepared_sheet(), verified_by="Vic Verifier", product_code="S1398V00", facility="Ward 5 pharmacy"
    )


def raster(pdf: bytes, folder: Path, dpi: int) -> Image.Image:
    (folder / "label.pdf").write_bytes(pdf)
    subprocess.run(
        [
            "pdftoppm",
            "-r",
            str(dpi),
            "-gray",
            "-png",
            "-singlefile",
            str(folder / "label.pdf"),
            str(folder / "label"),
        ],
        check=True,
    )
    return Image.open(folder / "label.png")


def test_every_barcode_decodes_at_203_dpi(label: BagLabel, tmp_path: Path) -> None:
    image = raster(bag_label_pdf(layout(label), "t"), tmp_path, 203)
    assert image.size == (math.ceil(100 / 25.4 * 203),) * 2  # poppler rounds a partial pixel up
    found = [(b.format.name, b.text) for b in zxingcpp.read_barcodes(image)]
    assert sorted(found) == sorted(("Code128", data) for data in symbols(layout(label)))
    assert {text for _, text in found} == {"=G12349865432100", "=<S1398V00", "&>0263351030", "B0000042"}


def test_the_use_by_symbol_is_isbt_128_cyyjjjhhmm_in_site_time(label: BagLabel) -> None:
    local = date(2026, 12, 1)
    day_of_year = local.toordinal() - date(2026, 1, 1).toordinal() + 1
    assert label.use_by_data == f"&>026{day_of_year:03d}1030"
    assert label.use_by_text == "2026-12-01 10:30 UTC+0800"


def test_the_label_prints_the_fields_the_bedside_needs(label: BagLabel, tmp_path: Path) -> None:
    pdf = bag_label_pdf(layout(label), "t")
    (tmp_path / "l.pdf").write_bytes(pdf)
    text = subprocess.run(["pdftotext", str(tmp_path / "l.pdf"), "-"], capture_output=True, text=True).stdout
    flat = " ".join(text.split())
    for line in printed_text(layout(label)):
        assert line in text, line
    for needed in (
        "Subject S-001",
        "Prepared by Pat Preparer",
        "Verified by Vic Verifier",
        "Bag B0000042",
        "G1234 98 654321 00",
        "USE BY (this bag)",
        "2026-12-01 10:30 UTC+0800",
        "Final volume 100 mL",
        "Product code S1398V00",
        "CAUTION: New Drug - Limited by Federal (or United States) law to investigational use.",
        "Store at 15-25 C.",
    ):
        assert needed in flat, needed
    # The check character stands apart, in its box, not run into the DIN.
    assert re.search(r"^H$", text, re.MULTILINE) or " H\n" in text


ZPL_FIELD = re.compile(
    r"\^FO(\d+),(\d+)(\^A0N,\d+,\d+|\^BY\d\^BCN,\d+,N,N,N,A|\^GB\d+,\d+,\d+)(?:\^FH\^FD(.*?))?\^FS"
)


def parse_zpl(zpl: str) -> tuple[list[str], list[str], list[tuple[int, int]]]:
    """(texts, barcode data, positions) of a ZPL label, with ^FH hex escapes decoded."""
    texts, codes, positions = [], [], []
    for x, y, command, data in ZPL_FIELD.findall(zpl):
        positions.append((int(x), int(y)))
        value = re.sub(r"_([0-9A-F]{2})", lambda m: chr(int(m.group(1), 16)), data)
        if command.startswith("^A0"):
            texts.append(value)
        elif command.startswith("^BY"):
            codes.append(value)
    return texts, codes, positions


def test_the_zpl_carries_the_same_fields_as_the_pdf(label: BagLabel) -> None:
    elements = layout(label)
    zpl = write_zpl(elements)
    assert zpl.startswith("^XA") and zpl.rstrip().endswith("^XZ")
    assert "^PW799" in zpl and "^LL799" in zpl  # 100 mm at 203 dpi
    texts, codes, positions = parse_zpl(zpl)
    assert texts == printed_text(elements)
    assert codes == symbols(elements)
    assert all(0 <= x < 799 and 0 <= y < 799 for x, y in positions)
    assert "^BY2" in zpl  # 2-dot modules: the size that decodes at 203 dpi


def test_zpl_escapes_the_characters_it_reserves() -> None:
    sheet = prepared_sheet()
    odd = bag_label(sheet, verified_by="A^B~C_D", product_code=None, facility="X")
    texts, _, _ = parse_zpl(write_zpl(layout(odd)))
    assert "Verified by A^B~C_D" in texts
    assert "Product code: not configured for this site" in texts


def test_a_lot_number_label_carries_the_lot_and_no_check_box(tmp_path: Path) -> None:
    sheet = prepared_sheet(din=None, check_character=None, lot_number="MSC-0612")
    lot_label = bag_label(sheet, verified_by="Vic Verifier", product_code=None, facility="X")
    assert "Lot MSC-0612" in printed_text(layout(lot_label))
    image = raster(bag_label_pdf(layout(lot_label), "t"), tmp_path, 203)
    assert sorted(b.text for b in zxingcpp.read_barcodes(image)) == sorted(
        ["MSC-0612", "&>0263351030", "B0000042"]
    )


def test_the_worksheet_csv_and_json_carry_every_warning_the_pdf_prints(tmp_path: Path) -> None:
    # A lot below the release viability is refused outright (issue 9); a weight change is a warning.
    sheet = prepared_sheet(viability="95%", volume="80 mL")
    moved = weight_change_warning(sheet.dosing_weight, parse_weight("70 kg"), Percent(value=Decimal(10)))
    assert moved is not None
    sheet = sheet.model_copy(update={"warnings": [*sheet.warnings, moved]})
    assert moved.field in {w.field for w in sheet.warnings}
    (tmp_path / "w.pdf").write_bytes(worksheet_pdf(sheet))
    page = " ".join(
        subprocess.run(
            ["pdftotext", str(tmp_path / "w.pdf"), "-"], capture_output=True, text=True
        ).stdout.split()
    )
    rows = dict(csv.reader(io.StringIO(worksheet_csv(sheet))))
    carried = json.loads(worksheet_json(sheet))["warnings"]
    for warning in sheet.warnings:
        assert f"WARNING {warning.field}: {warning.message}" in page
        assert rows[f"Warning: {warning.field}"] == f"{warning.message} (rule: {warning.rule})"
        assert {"field": warning.field, "rule": warning.rule, "message": warning.message} in carried
    assert rows["Bag"] == "B0000042"
    assert rows["Bag use-by"].startswith("2026-12-01 10:30")
