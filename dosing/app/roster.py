"""A CSV roster of subjects to enroll, validated row by row.

Columns (header names are case-insensitive; aliases in brackets):

    subject_code [subject]  protocol [protocol_id]  arm [level, arm_or_level]  weight
    anchor [anchor_date]    site                    dose_per_kg (optional)
    weight_measured_on (optional, default: the day of enrollment)
    age, creatinine, bilirubin, inr, albumin, ascites, encephalopathy: the inclusion inputs the
    row's protocol needs (age; MELD labs; Child-Pugh labs and grades), as ``dosing enroll`` takes them

An empty ``arm`` asks the store to randomize the subject. ``weight`` carries its unit (``62 kg``);
``anchor`` is an ISO date, or an instant with its UTC offset. Each row is validated on its own: a bad
row becomes a :class:`RejectedRow` naming its line number (as an editor shows it, the header is line 1),
the field and the reason, and never stops or changes the others.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from dosing.app.typed import eligibility_inputs, parse_date, parse_date_or_instant
from dosing.catalog import get_protocol
from dosing.eligibility import EligibilityInputs
from dosing.errors import DosingError
from dosing.store.models import EnrollmentForm
from dosing.units import DosePerKg, Weight, parse_dose_per_kg, parse_weight

REQUIRED_COLUMNS = ("subject_code", "protocol", "arm", "weight", "anchor", "site")
#: Every column a roster may have. Another name is refused, never ignored: a misspelled
#: ``dose_per_kilo`` would enroll at no per-patient dose, ``weight measured`` without its date.
KNOWN_COLUMNS = (
    *REQUIRED_COLUMNS, "dose_per_kg", "weight_measured_on",
    "age", "creatinine", "bilirubin", "inr", "albumin", "ascites", "encephalopathy",
)  # fmt: skip
_ALIASES = {
    "subject": "subject_code",
    "subject code": "subject_code",
    "protocol_id": "protocol",
    "level": "arm",
    "arm_or_level": "arm",
    "arm or level": "arm",
    "anchor_date": "anchor",
    "anchor date": "anchor",
    "dose per kg": "dose_per_kg",
    "weight measured on": "weight_measured_on",
    "age_years": "age",
}


_VALIDATION_MOMENT = datetime(2000, 1, 1, tzinfo=UTC)


class RosterRow(BaseModel):
    """One subject to enroll, as typed in the roster, after validation (units explicit)."""

    model_config = ConfigDict(frozen=True)

    line: int = Field(ge=2)
    subject_code: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    protocol_id: str
    arm: str | None
    weight: Weight
    anchor: date | datetime
    site: str | None
    dose_per_kg: DosePerKg | None = None
    weight_measured_on: date | None = None
    #: Inclusion inputs (columns age, creatinine, bilirubin, inr, albumin, ascites, encephalopathy).
    eligibility: EligibilityInputs | None = None

    #: The form, once built: a roster's rows are checked against it when read, then enrolled with it.
    _form: EnrollmentForm | None = PrivateAttr(default=None)

    def to_form(self) -> EnrollmentForm:
        """The enrollment form for this row (validated again by the store's own model)."""
        if self._form is None:
            self._form = self._build_form()
        return self._form

    def _build_form(self) -> EnrollmentForm:
        return EnrollmentForm(
            protocol_id=self.protocol_id,
            subject_code=self.subject_code,
            arm=self.arm,
            weight=self.weight,
            anchor=self.anchor,
            site=self.site,
            dose_per_kg=self.dose_per_kg,
            weight_measured_on=self.weight_measured_on,
            eligibility=self.eligibility,
        )


class RejectedRow(BaseModel):
    """A roster row that was not enrolled, and why: a pharmacist can fix the file and run it again."""

    model_config = ConfigDict(frozen=True)

    line: int
    subject_code: str | None
    field: str
    reason: str

    def __str__(self) -> str:
        who = f" ({self.subject_code})" if self.subject_code else ""
        return f"line {self.line}{who}: {self.field}: {self.reason}"


class Roster(BaseModel):
    rows: list[RosterRow]
    rejected: list[RejectedRow]


def _normalise_header(name: str) -> str:
    key = name.strip().lower()
    return _ALIASES.get(key, key.replace(" ", "_"))


def _row_from_cells(line: int, cells: dict[str, str], allow_pounds: bool) -> RosterRow:
    def cell(name: str) -> str:
        return (cells.get(name) or "").strip()

    for name in ("subject_code", "protocol", "weight", "anchor"):
        if not cell(name):
            raise DosingError(name, "a value in every row", f"{name} is empty")
    protocol = get_protocol(cell("protocol"))
    unit = protocol.product.amount_unit
    dose_text = cell("dose_per_kg")
    values: dict[str, Any] = {
        "line": line,
        "subject_code": cell("subject_code"),
        "protocol_id": protocol.id,
        "arm": cell("arm") or None,
        "weight": parse_weight(cell("weight"), allow_pounds=allow_pounds),
        "anchor": parse_date_or_instant(cell("anchor"), "anchor"),
        "site": cell("site") or None,
        "dose_per_kg": parse_dose_per_kg(dose_text, default_unit=unit) if dose_text else None,
        "weight_measured_on": (
            parse_date(measured, "weight_measured_on") if (measured := cell("weight_measured_on")) else None
        ),
        "eligibility": eligibility_inputs(
            age=cell("age"),
            creatinine=cell("creatinine") or None,
            bilirubin=cell("bilirubin") or None,
            inr=cell("inr") or None,
            albumin=cell("albumin") or None,
            ascites=cell("ascites") or None,
            encephalopathy=cell("encephalopathy") or None,
        ),
    }
    row = RosterRow.model_validate(values)
    # The store's own request model has the last word on what a valid enrollment looks like.
    row.to_form()
    return row


def read_roster_text(path: Path) -> str:
    """The roster file's text; a file that is not UTF-8 text (a spreadsheet, a binary) is refused."""
    try:
        if not path.is_file():
            # /dev/zero, a FIFO: reading it would never end.
            raise DosingError("roster", "a readable CSV file", f"{path} is not a regular file")
        data = path.read_bytes()
    except OSError as error:
        raise DosingError("roster", "a readable CSV file", f"{path}: {error.strerror or error}") from error
    if b"\x00" in data:
        raise DosingError("roster", "a UTF-8 CSV text file", f"{path.name} is a binary file (NUL bytes)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise DosingError(
            "roster",
            "a UTF-8 CSV text file",
            f"{path.name}: byte {error.start} is not UTF-8 (save the roster as CSV UTF-8)",
        ) from error


def check_roster_header(text: str) -> None:
    """Refuse a roster whose header holds no roster (empty, a column named twice, a column missing):
    a DosingError naming ``header``, before any row is read."""
    first_line = text.splitlines()[0] if text.strip() else ""
    for rejected in parse_roster(first_line).rejected:
        raise DosingError(
            "header",
            f"a header line naming each of {', '.join(REQUIRED_COLUMNS)} once",
            rejected.reason,
        )


def parse_roster(text: str, *, allow_pounds: bool = False) -> Roster:
    """Every row of a roster, validated; bad rows are collected with their line numbers."""
    source = io.StringIO(text, newline="")
    reader = csv.reader(source)
    header = next(reader, None)
    if header is None:
        empty = RejectedRow(line=1, subject_code=None, field="header", reason="the roster is empty")
        return Roster(rows=[], rejected=[empty])
    columns = [_normalise_header(name) for name in header]
    repeated = sorted({name for name in columns if name and columns.count(name) > 1})
    if repeated:
        # Two `weight` columns: which one is the weight? Never pick one silently.
        where = "; ".join(
            f"{name} in columns {', '.join(str(i + 1) for i, c in enumerate(columns) if c == name)}"
            for name in repeated
        )
        return Roster(
            rows=[],
            rejected=[
                RejectedRow(
                    line=1, subject_code=None, field="header", reason=f"a column named twice: {where}"
                )
            ],
        )
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    unknown = [name for name in columns if name and name not in KNOWN_COLUMNS]
    if missing or unknown:
        reason = "; ".join(
            [f"missing column(s): {', '.join(missing)}"] * bool(missing)
            + [f"unknown column(s): {', '.join(unknown)} (the columns: {', '.join(KNOWN_COLUMNS)})"]
            * bool(unknown)
        )
        return Roster(
            rows=[], rejected=[RejectedRow(line=1, subject_code=None, field="header", reason=reason)]
        )

    rows: list[RosterRow] = []
    rejected: list[RejectedRow] = []
    first_line: dict[str, int] = {}
    line = reader.line_num
    while True:
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            # A cell over the csv module's limit (131,072 characters) or a NUL byte: this row only.
            start, line = line + 1, max(reader.line_num, line + 1)
            rejected.append(
                RejectedRow(
                    line=start,
                    subject_code=None,
                    field="row",
                    reason=f"not a CSV row: {error} (rule: text cells of at most {csv.field_size_limit()} "
                    "characters, no NUL bytes)",
                )
            )
            continue
        # A quoted cell may span lines: the row's number is the line it starts on.
        start, line = line + 1, reader.line_num
        if not any(value.strip() for value in values):
            continue
        cells = dict(zip(columns, values, strict=False))
        code = (cells.get("subject_code") or "").strip() or None
        if len(values) > len(columns):
            too_many = RejectedRow(
                line=start, subject_code=code, field="row", reason="more cells than columns in the header"
            )
            rejected.append(too_many)
            continue
        try:
            row = _row_from_cells(start, cells, allow_pounds)
        except DosingError as error:
            rejected.append(
                RejectedRow(
                    line=start,
                    subject_code=code,
                    field=error.field,
                    reason=f"{error.message} (rule: {error.rule})",
                )
            )
            continue
        except ValidationError as error:
            first = error.errors()[0]
            field = ".".join(str(part) for part in first["loc"]) or "row"
            rejected.append(RejectedRow(line=start, subject_code=code, field=field, reason=first["msg"]))
            continue
        if row.subject_code in first_line:
            rejected.append(
                RejectedRow(
                    line=start,
                    subject_code=row.subject_code,
                    field="subject_code",
                    reason=f"listed twice in the roster (first on line {first_line[row.subject_code]})",
                )
            )
            continue
        first_line[row.subject_code] = start
        rows.append(row)
    return Roster(rows=rows, rejected=rejected)
