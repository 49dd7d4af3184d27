"""Rows as CSV text, the one way every entry point writes a table for a spreadsheet or a pharmacy
system (an empty cell for a missing value)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any


def csv_text(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(headers)
    writer.writerows(["" if c is None else c for c in row] for row in rows)
    return buffer.getvalue()
