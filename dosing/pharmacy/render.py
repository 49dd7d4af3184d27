"""The I/O edge of the pharmacy: a worksheet as a PDF page, CSV and JSON, and a bag label as a PDF.

Nothing here computes a figure: every number printed comes from :class:`~dosing.pharmacy.worksheet.Worksheet`,
so the page, the CSV and the JSON cannot disagree.

Barcodes are Code 128. A DIN is encoded as the ISBT 128 Donation Identification Number data structure
(``=`` data identifier, the 13-character DIN, two flag characters ``00``), which is what ISBT 128 scanners
expect; a lot number is encoded as it is. The eye-readable DIN under the barcode is printed in its groups
with the check character boxed apart, as on ISBT 128 labels.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from pydantic import BaseModel, ConfigDict
from reportlab.graphics.barcode.code128 import Code128
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from dosing.pharmacy.label import LABEL_MM, MODULE_MM, BagLabel, Barcode, Box, Element, Text, layout
from dosing.pharmacy.placebo import PlaceboWorksheet
from dosing.pharmacy.worksheet import Worksheet
from dosing.pharmacy.zpl import write_zpl

#: A 100 x 70 mm label, a common size for infusion-bag label printers.
LABEL_SIZE = (100 * mm, 70 * mm)


class LabelOptions(BaseModel):
    """Site settings for bag labels. The store holds no patient names, so turning the name on only
    prints a blank line for the name to be written by hand at the bedside."""

    model_config = ConfigDict(frozen=True)

    patient_name_line: bool = False


def barcode_value(worksheet: Worksheet) -> str:
    """What the Code 128 symbol carries: the ISBT 128 DIN data structure, or the lot number."""
    if worksheet.din is not None:
        return f"={worksheet.din}00"
    return worksheet.lot_identifier


def eye_readable(worksheet: Worksheet) -> str:
    """``G1234 98 654321 H`` for a DIN; the lot number as it is otherwise."""
    if worksheet.din is not None:
        din = worksheet.din
        return f"{din[:5]} {din[5:7]} {din[7:]} {worksheet.check_character}"
    return worksheet.lot_identifier


def _barcode(worksheet: Worksheet, *, bar_height: float, bar_width: float) -> Code128:
    return Code128(barcode_value(worksheet), barHeight=bar_height, barWidth=bar_width, humanReadable=False)


def worksheet_csv(worksheet: Worksheet | PlaceboWorksheet) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["field", "value"])
    writer.writerows(worksheet.rows())
    return buffer.getvalue()


def worksheet_json(worksheet: Worksheet | PlaceboWorksheet) -> str:
    return worksheet.model_dump_json(indent=2) + "\n"


def worksheet_pdf(worksheet: Worksheet | PlaceboWorksheet) -> bytes:
    """One A4 page: the figures, the lot's barcode, and the boxes for the independent double check."""
    styles = getSampleStyleSheet()
    small = ParagraphStyle("small", parent=styles["Normal"], fontSize=8, leading=10)
    cell = ParagraphStyle("cell", parent=styles["Normal"], fontSize=9.5, leading=11.5)
    warning = ParagraphStyle("warning", parent=cell, textColor=colors.red)
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=16 * mm,
        rightMargin=16 * mm,
        topMargin=14 * mm,
        bottomMargin=14 * mm,
        title=f"Preparation worksheet {worksheet.file_stem}",
        author="dosing",
        subject=f"{worksheet.protocol_id} {worksheet.subject_code} dose {worksheet.dose_sequence}",
    )
    story: list[object] = [
        Paragraph("Pharmacy preparation worksheet", styles["Title"]),
        Paragraph(worksheet.trial_title, small),
        Spacer(1, 3 * mm),
    ]

    sign_off = {"Prepared by", "Checked by"}
    emphasised = {"Ordered dose", "Volume to draw", "Diluent", "Final volume", "Latest thaw time"}
    # Warnings are printed in red under the table (the CSV carries them as rows of their own).
    page_rows = [
        row for row in worksheet.rows() if row[0] not in sign_off and not row[0].startswith("Warning: ")
    ]
    data = []
    for field, value in page_rows:
        data.append([Paragraph(field, cell), Paragraph(_escape(value), cell)])
    table = Table(data, colWidths=[48 * mm, 130 * mm])
    style = [
        ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
        ("BACKGROUND", (0, 0), (0, -1), colors.Color(0.93, 0.93, 0.93)),
    ]
    for index, (field, _) in enumerate(page_rows):
        if field in emphasised:
            style.append(("BACKGROUND", (1, index), (1, index), colors.Color(1, 0.97, 0.8)))
    table.setStyle(TableStyle(style))
    story.append(table)

    for item in worksheet.warnings:
        story += [Spacer(1, 2 * mm), Paragraph(_escape(f"WARNING {item}"), warning)]

    if isinstance(worksheet, Worksheet):
        story += [
            Spacer(1, 4 * mm),
            Paragraph(f"{worksheet.lot_identifier_kind} barcode", small),
            _barcode(worksheet, bar_height=14 * mm, bar_width=0.33 * mm),
            Paragraph(_escape(eye_readable(worksheet)), cell),
        ]
    story.append(Spacer(1, 5 * mm))
    check = Table(
        [
            ["", "Name", "Signature", "Date and time"],
            ["Prepared by", worksheet.prepared_by, "", ""],
            ["Checked by (independent)", worksheet.checked_by, "", ""],
        ],
        colWidths=[44 * mm, 50 * mm, 42 * mm, 42 * mm],
        rowHeights=[6 * mm, 11 * mm, 11 * mm],
    )
    check.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.6, colors.black),
                ("FONTSIZE", (0, 0), (-1, -1), 9),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("BACKGROUND", (0, 0), (-1, 0), colors.Color(0.93, 0.93, 0.93)),
            ]
        )
    )
    story += [
        Paragraph("Independent double check: the checker recomputes the volume to draw from the lot", small),
        check,
    ]
    document.build(story)
    return buffer.getvalue()


def label_pdf(worksheet: Worksheet, options: LabelOptions | None = None) -> bytes:
    """A bag label: subject code, product, dose, volume, DIN (barcode and eye-readable), beyond-use time."""
    options = options or LabelOptions()
    width, height = LABEL_SIZE
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=LABEL_SIZE)
    canvas.setTitle(f"Bag label {worksheet.file_stem}")
    canvas.setAuthor("dosing")
    margin = 4 * mm
    y = height - margin - 3.5 * mm

    def line(text: str, size: float = 8, bold: bool = False, gap: float = 1.2) -> None:
        nonlocal y
        canvas.setFont("Helvetica-Bold" if bold else "Helvetica", size)
        canvas.drawString(margin, y, text)
        y -= size * gap

    p = worksheet.preparation
    line(f"{worksheet.product}  -  {worksheet.protocol_id}", 11, bold=True)
    line(
        f"Subject {worksheet.subject_code}   dose {worksheet.dose_sequence} ({worksheet.study_day})",
        9.5,
        True,
    )
    if options.patient_name_line:
        line("Patient name: ______________________________", 9)
    line(f"Dose: {p.delivered_dose} (ordered {worksheet.ordered_dose})", 9, bold=True)
    line(f"Volume: {p.final_volume} ({p.volume_to_draw} product + {p.diluent} {worksheet.diluent})", 8)
    line(
        f"Route: {worksheet.route}"
        + (f", over {worksheet.infusion_minutes} min" if worksheet.infusion_minutes else ""),
        8,
    )
    # The offset, not the zone's abbreviation: "CST" is both China and US Central time.
    start = worksheet.planned_start.strftime("%Y-%m-%d %H:%M UTC%z")
    line(f"Planned start: {start}", 8)
    if worksheet.beyond_use_hours is not None and worksheet.latest_thaw is not None:
        hours = f"{worksheet.beyond_use_hours.normalize():f}"
        line(
            f"Beyond use: {hours} h after thaw; latest thaw {worksheet.latest_thaw.strftime('%H:%M')}",
            8,
            True,
        )
        line("Thawed at: ________   Use by: ________", 8)
    else:
        line("Beyond use: see the product's instructions", 8)
    barcode = _barcode(worksheet, bar_height=10 * mm, bar_width=0.26 * mm)
    barcode.drawOn(canvas, margin - barcode.lquiet + 1, margin + 4 * mm)
    canvas.setFont("Helvetica-Bold", 9)
    canvas.drawString(margin, margin, f"{worksheet.lot_identifier_kind} {eye_readable(worksheet)}")
    canvas.setFont("Helvetica", 6)
    canvas.drawRightString(width - margin, margin, f"exp {worksheet.lot_expiry.isoformat()}")
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


class WrittenFiles(BaseModel):
    model_config = ConfigDict(frozen=True)

    worksheet_pdf: Path
    worksheet_csv: Path
    worksheet_json: Path
    label_pdf: Path


def write_worksheet_files(
    worksheet: Worksheet, folder: Path, options: LabelOptions | None = None
) -> WrittenFiles:
    """Worksheet PDF, CSV and JSON and the label PDF for one dose, named after trial, subject and dose."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = folder / worksheet.file_stem
    files = WrittenFiles(
        worksheet_pdf=stem.with_name(stem.name + "_worksheet.pdf"),
        worksheet_csv=stem.with_name(stem.name + "_worksheet.csv"),
        worksheet_json=stem.with_name(stem.name + "_worksheet.json"),
        label_pdf=stem.with_name(stem.name + "_label.pdf"),
    )
    files.worksheet_pdf.write_bytes(worksheet_pdf(worksheet))
    files.worksheet_csv.write_text(worksheet_csv(worksheet), encoding="utf-8")
    files.worksheet_json.write_text(worksheet_json(worksheet), encoding="utf-8")
    files.label_pdf.write_bytes(label_pdf(worksheet, options))
    return files


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --- the ISBT 128 bag label of a prepared bag (``dosing bag label``) ------------------------------------


def bag_label_pdf(elements: list[Element], title: str) -> bytes:
    """The ST-004 bag label layout (:func:`dosing.pharmacy.label.layout`) as a 100 x 100 mm PDF page."""
    side = LABEL_MM * mm
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=(side, side))
    canvas.setTitle(title)
    canvas.setAuthor("dosing")
    for item in elements:
        if isinstance(item, Box):
            canvas.setLineWidth(item.thickness * mm)
            canvas.rect(item.x * mm, side - (item.y + item.height) * mm, item.width * mm, item.height * mm)
        elif isinstance(item, Text):
            canvas.setFont("Helvetica-Bold" if item.bold else "Helvetica", item.size / 0.3528)
            # y is the top of the line; a baseline sits about 0.8 of the size lower.
            canvas.drawString(item.x * mm, side - (item.y + item.size * 0.8) * mm, item.text)
        elif isinstance(item, Barcode):
            symbol = Code128(
                item.data,
                barHeight=item.height * mm,
                barWidth=MODULE_MM * mm,
                humanReadable=False,
                quiet=True,
                lquiet=10 * MODULE_MM * mm,
                rquiet=10 * MODULE_MM * mm,
            )
            symbol.drawOn(canvas, item.x * mm, side - (item.y + item.height) * mm)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


class BagFiles(BaseModel):
    model_config = ConfigDict(frozen=True)

    worksheet_pdf: Path
    worksheet_csv: Path
    worksheet_json: Path
    label_pdf: Path
    label_zpl: Path


def write_bag_files(worksheet: Worksheet | PlaceboWorksheet, label: BagLabel, folder: Path) -> BagFiles:
    """A prepared bag's worksheet (PDF, CSV, JSON) and its ISBT 128 label (PDF, ZPL), named by the bag."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{worksheet.file_stem}_{label.bag_id}"
    files = BagFiles(
        worksheet_pdf=folder / f"{stem}_worksheet.pdf",
        worksheet_csv=folder / f"{stem}_worksheet.csv",
        worksheet_json=folder / f"{stem}_worksheet.json",
        label_pdf=folder / f"{stem}_label.pdf",
        label_zpl=folder / f"{stem}_label.zpl",
    )
    elements = layout(label)
    files.worksheet_pdf.write_bytes(worksheet_pdf(worksheet))
    files.worksheet_csv.write_text(worksheet_csv(worksheet), encoding="utf-8")
    files.worksheet_json.write_text(worksheet_json(worksheet), encoding="utf-8")
    files.label_pdf.write_bytes(bag_label_pdf(elements, f"Bag label {label.bag_id}"))
    files.label_zpl.write_text(write_zpl(elements), encoding="utf-8")
    return files
