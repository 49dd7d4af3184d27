"""Shared output for CLI commands: readable tables by default, JSON (and CSV) for scripts."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import click
from pydantic import BaseModel

from dosing.status import DoseStatus

json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print JSON (ISO dates, quantities with units)."
)
csv_option = click.option("--csv", "as_csv", is_flag=True, help="Print CSV.")


def to_jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list | tuple):
        return [to_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {key: to_jsonable(item) for key, item in value.items()}
    return value


def emit_json(value: Any) -> None:
    click.echo(json.dumps(to_jsonable(value), indent=2, ensure_ascii=False))


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for index, row in enumerate(cells):
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)


def status_text(status: DoseStatus) -> str:
    """A dose's status as a coordinator reads it: state, days early or late, and the reason."""
    text = status.state.value.replace("_", " ")
    if status.days_late:
        text += f" ({status.days_late} d late)"
    if status.days_early:
        text += f" ({status.days_early} d early)"
    if status.reason:
        text += f": {status.reason}"
    return text
