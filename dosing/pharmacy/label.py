"""The bag label, laid out once, drawn twice (PDF and ZPL): ISBT 128 ST-004 base label, 100 x 100 mm.

Pure. :func:`bag_label` gathers what the label says from the worksheet of a prepared bag;
:func:`layout` places it in the four quadrants of ST-004 as text, boxes and Code 128 symbols, in
millimetres from the top-left corner. :mod:`dosing.pharmacy.render` draws the layout as a PDF page and
:mod:`dosing.pharmacy.zpl` writes it for a thermal printer, so both carry the same fields.

- upper left: the DIN (ISBT 128 data structure 001: ``=`` + DIN + two flag characters), eye-readable
  in its groups with the flags and the boxed check character; a lot number when the lot has no DIN.
- upper right: the product code (data structure 003, ``=<`` + the 8-character code a licensed site takes
  from the ICCBBA database: site configuration) and the product's description.
- lower left: the expiry date and time of *this bag* (data structure 005, ``&>`` + ``cyyjjjhhmm``:
  century digit, year, day of the year, hour and minute, local time), eye-readable.
- lower right, special information: the investigational-use statement, storage and handling, subject,
  dose, final volume, prepared by and verified by, and the bag identifier (Code 128) scanned at the bedside.

Barcode modules are whole printer dots (2 dots at 203 dpi, 0.25 mm) so every symbol decodes at 203 dpi.
"""

from __future__ import annotations

import textwrap
from datetime import datetime
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict

from dosing.pharmacy.worksheet import Worksheet

#: The base label of ST-004 is 100 x 100 mm.
LABEL_MM = 100.0
QUADRANT_MM = 50.0
#: Printer resolution the symbols are sized for, and the module width in dots.
DPI = 203
MODULE_DOTS = 2
MODULE_MM = MODULE_DOTS * 25.4 / DPI

#: 21 CFR 312.6(a): the label of an investigational new drug carries this statement.
INVESTIGATIONAL_USE = "CAUTION: New Drug - Limited by Federal (or United States) law to investigational use."
STORAGE = "Store at 15-25 C. Do not refrigerate, freeze or irradiate. Do not use a leukocyte filter."
BLINDED_DESCRIPTION = "Investigational product or placebo (blinded)"


class BagLabel(BaseModel):
    """Every field printed on a bag label."""

    model_config = ConfigDict(frozen=True)

    bag_id: str
    protocol_id: str
    subject_code: str
    dose_text: str
    final_volume: str
    din: str | None
    flags: str = "00"
    check_character: str | None
    lot_number: str | None
    product_code: str | None
    product_description: str
    use_by: datetime
    timezone: str
    prepared_by: str
    verified_by: str
    facility: str
    investigational_statement: str = INVESTIGATIONAL_USE
    storage: str = STORAGE
    #: A masked protocol's label (product or placebo): the bag identifier stands where the DIN would,
    #: and nothing names the product or the amount (see :mod:`dosing.pharmacy.placebo`).
    blinded: bool = False

    @property
    def local_use_by(self) -> datetime:
        return self.use_by.astimezone(ZoneInfo(self.timezone))

    @property
    def din_data(self) -> str:
        """The symbol under the DIN: ISBT 128 ``=`` DIN flags, or the lot number as it is (a blinded
        label: the bag identifier)."""
        if self.blinded:
            return self.bag_id
        if self.din is not None:
            return f"={self.din}{self.flags}"
        assert self.lot_number is not None
        return self.lot_number

    @property
    def product_data(self) -> str | None:
        return f"=<{self.product_code}" if self.product_code else None

    @property
    def use_by_data(self) -> str:
        """ISBT 128 expiration date and time (005): ``&>cyyjjjhhmm`` in local time."""
        local = self.local_use_by
        century = (local.year // 100) - 20
        return f"&>{century}{local.year % 100:02d}{local.timetuple().tm_yday:03d}{local:%H%M}"

    @property
    def use_by_text(self) -> str:
        # The offset, not the zone's abbreviation: "CST" is both China and US Central time.
        return f"{self.local_use_by:%Y-%m-%d %H:%M} UTC{self.local_use_by:%z}"

    @property
    def din_text(self) -> str:
        if self.blinded:
            return f"Bag {self.bag_id}"
        if self.din is not None:
            return f"{self.din[:5]} {self.din[5:7]} {self.din[7:]} {self.flags}"
        return f"Lot {self.lot_number}"


def bag_label(
    worksheet: Worksheet,
    *,
    verified_by: str,
    product_code: str | None,
    facility: str,
    blinded: bool = False,
) -> BagLabel:
    """The label of a prepared bag (``worksheet.bag_id`` and ``bag_use_by`` are set). A blinded label
    (masked protocol) describes the product as "investigational product or placebo", the same on
    both kinds of bag; the worksheet says what is in the bag."""
    if worksheet.bag_id is None or worksheet.bag_use_by is None:
        raise ValueError("a label is printed for a prepared bag")
    p = worksheet.preparation
    description = (
        BLINDED_DESCRIPTION
        if blinded
        else f"{worksheet.product}: {p.volume_to_draw} in {p.diluent} {worksheet.diluent}"
    )
    return BagLabel(
        bag_id=worksheet.bag_id,
        protocol_id=worksheet.protocol_id,
        subject_code=worksheet.subject_code,
        dose_text=f"Dose {worksheet.dose_sequence}" + ("" if blinded else f": {p.delivered_dose}"),
        final_volume=str(p.final_volume),
        din=worksheet.din,
        check_character=None if blinded else worksheet.check_character,
        lot_number=worksheet.lot_number,
        product_code=None if blinded else product_code,
        product_description=description,
        use_by=worksheet.bag_use_by,
        timezone=worksheet.timezone,
        prepared_by=worksheet.prepared_by,
        verified_by=verified_by,
        facility=facility,
        blinded=blinded,
    )


class Text(BaseModel):
    model_config = ConfigDict(frozen=True)

    x: float
    y: float
    size: float
    text: str
    bold: bool = False


class Barcode(BaseModel):
    """A Code 128 symbol; ``x``, ``y`` is the top-left of its quiet zone."""

    model_config = ConfigDict(frozen=True)

    x: float
    y: float
    height: float
    data: str


class Box(BaseModel):
    model_config = ConfigDict(frozen=True)

    x: float
    y: float
    width: float
    height: float
    thickness: float = 0.3


Element = Text | Barcode | Box


def _lines(x: float, y: float, size: float, text: str, width: float, bold: bool = False) -> list[Text]:
    # Helvetica averages about 0.55 of its height per character.
    per_line = max(8, int(width / (size * 0.55)))
    return [
        Text(x=x, y=y + index * size * 1.2, size=size, text=line, bold=bold)
        for index, line in enumerate(textwrap.wrap(text, per_line))
    ]


def layout(label: BagLabel) -> list[Element]:
    """The label as elements in mm from the top-left corner, quadrant by quadrant."""
    q = QUADRANT_MM
    pad = 2.5
    inner = q - 2 * pad
    elements: list[Element] = [
        Box(x=0, y=0, width=LABEL_MM, height=LABEL_MM, thickness=0.4),
        Box(x=q, y=0, width=0.01, height=LABEL_MM),
        Box(x=0, y=q, width=LABEL_MM, height=0.01),
    ]
    # upper left: DIN (or lot)
    elements += [
        Text(
            x=pad, y=pad, size=2.4, text="BAG" if label.blinded else "DIN" if label.din else "LOT", bold=True
        ),
        Barcode(x=pad, y=pad + 4, height=12, data=label.din_data),
        Text(x=pad, y=pad + 18, size=3.6, text=label.din_text, bold=True),
    ]
    if label.check_character is not None:
        elements += [
            Box(x=pad + 39, y=pad + 17.5, width=5, height=5),
            Text(x=pad + 40.2, y=pad + 18, size=3.6, text=label.check_character, bold=True),
        ]
    elements += _lines(pad, pad + 26, 2.4, label.facility, inner)
    elements += _lines(pad, pad + 32, 2.4, f"Trial {label.protocol_id}", inner)
    # upper right: product code and description
    x = q + pad
    elements.append(Text(x=x, y=pad, size=2.4, text="PRODUCT", bold=True))
    if label.product_data is not None:
        elements.append(Barcode(x=x, y=pad + 4, height=12, data=label.product_data))
        elements.append(Text(x=x, y=pad + 18, size=3.2, text=f"Product code {label.product_code}", bold=True))
    elif label.blinded:
        elements.append(Text(x=x, y=pad + 18, size=2.4, text="Product code: blinded (pharmacy worksheet)"))
    else:
        elements.append(Text(x=x, y=pad + 18, size=2.4, text="Product code: not configured for this site"))
    elements += _lines(x, pad + 24, 2.8, label.product_description, inner, bold=True)
    elements += _lines(x, pad + 36, 2.4, f"Final volume {label.final_volume}", inner)
    # lower left: this bag's expiry
    y = q + pad
    elements += [
        Text(x=pad, y=y, size=2.4, text="USE BY (this bag)", bold=True),
        Barcode(x=pad, y=y + 4, height=12, data=label.use_by_data),
        Text(x=pad, y=y + 18, size=3.6, text=label.use_by_text, bold=True),
    ]
    elements += _lines(pad, y + 25, 2.2, label.storage, inner)
    # lower right: special information
    elements += [
        Text(x=x, y=y, size=2.6, text=f"Subject {label.subject_code}", bold=True),
        Text(x=x, y=y + 3.4, size=2.4, text=label.dose_text),
        Text(x=x, y=y + 6.4, size=2.2, text=f"Prepared by {label.prepared_by}"),
        Text(x=x, y=y + 9.2, size=2.2, text=f"Verified by {label.verified_by}"),
        Barcode(x=x, y=y + 12.5, height=8, data=label.bag_id),
        Text(x=x, y=y + 21.5, size=2.6, text=f"Bag {label.bag_id}", bold=True),
    ]
    elements += _lines(x, y + 26, 2.0, label.investigational_statement, inner, bold=True)
    return elements


def printed_text(elements: list[Element]) -> list[str]:
    """The eye-readable lines of a layout, in order (what a test finds on the PDF and in the ZPL)."""
    return [item.text for item in elements if isinstance(item, Text)]


def symbols(elements: list[Element]) -> list[str]:
    return [item.data for item in elements if isinstance(item, Barcode)]
