"""The coordinator's list of missed and late doses, filtered, and as CSV for a spreadsheet."""

from __future__ import annotations

import csv
import io

from dosing.app import reads
from dosing.app.context import Context
from dosing.store.models import OverdueRow

CSV_COLUMNS = (
    "subject_code",
    "protocol_id",
    "site",
    "sequence",
    "label",
    "target_date",
    "latest",
    "state",
    "days_late",
    "given_on",
)


def overdue(
    ctx: Context, *, site: str | None = None, protocol_id: str | None = None, state: str | None = None
) -> list[OverdueRow]:
    rows = reads.overdue(ctx)
    return [
        row
        for row in rows
        if (not site or row.site == site)
        and (not protocol_id or row.protocol_id == protocol_id)
        and (not state or row.state == state)
    ]


def as_csv(rows: list[OverdueRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        data = row.model_dump(mode="json")
        writer.writerow(["" if data.get(name) is None else data[name] for name in CSV_COLUMNS])
    return out.getvalue()
