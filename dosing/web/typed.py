"""What a person types into a web form, read the way the command line reads it."""

from __future__ import annotations

from datetime import date, datetime

from dosing.errors import DosingError


def local_moment(text: str, field: str, zone: str) -> datetime:
    """A date-time from a form (``2026-12-01T09:30`` from a datetime-local input): the site's wall clock."""
    from dosing.app.typed import parse_local_moment

    return parse_local_moment(text.strip(), field, zone)


def optional_day(text: str | None, field: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as error:
        raise DosingError(field, "ISO 8601 date (YYYY-MM-DD)", f"{text!r} is not a date") from error
