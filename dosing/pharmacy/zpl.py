"""A bag label in ZPL II for thermal label printers (203 dpi), from the same layout as the PDF.

Pure. Positions are whole dots (``^FO`` from the top-left), text uses the scalable font 0, symbols are
Code 128 in automatic mode (``^BC...,A``) with a 2-dot module (``^BY2``), matching the PDF.
"""

from __future__ import annotations

from dosing.pharmacy.label import DPI, LABEL_MM, MODULE_DOTS, Barcode, Box, Element, Text


def dots(mm: float) -> int:
    return round(mm * DPI / 25.4)


def _field_data(text: str) -> str:
    # ^FH lets hexadecimal escapes stand for the characters ZPL reserves (^ and ~).
    return text.replace("_", "_5F").replace("^", "_5E").replace("~", "_7E")


def write_zpl(elements: list[Element]) -> str:
    size = dots(LABEL_MM)
    lines = ["^XA", "^CI28", f"^PW{size}", f"^LL{size}", "^LH0,0"]
    for item in elements:
        if isinstance(item, Box):
            thickness = max(1, dots(item.thickness))
            width = max(dots(item.width), thickness)
            height = max(dots(item.height), thickness)
            lines.append(f"^FO{dots(item.x)},{dots(item.y)}^GB{width},{height},{thickness}^FS")
        elif isinstance(item, Text):
            height = dots(item.size)
            width = height if item.bold else round(height * 0.9)
            lines.append(
                f"^FO{dots(item.x)},{dots(item.y)}^A0N,{height},{width}^FH^FD{_field_data(item.text)}^FS"
            )
        elif isinstance(item, Barcode):
            lines.append(
                f"^FO{dots(item.x)},{dots(item.y)}^BY{MODULE_DOTS}^BCN,{dots(item.height)},N,N,N,A"
                f"^FH^FD{_field_data(item.data)}^FS"
            )
    lines.append("^XZ")
    return "\n".join(lines) + "\n"
