"""The roster's columns and parsing live in the application layer (``dosing.app.roster``), shared by
the roster flow and ``dosing enroll --roster``; re-exported here for the flow's existing callers."""

from __future__ import annotations

from dosing.app.roster import (
    REQUIRED_COLUMNS,
    RejectedRow,
    Roster,
    RosterRow,
    check_roster_header,
    parse_roster,
    read_roster_text,
)

__all__ = [
    "REQUIRED_COLUMNS",
    "RejectedRow",
    "Roster",
    "RosterRow",
    "check_roster_header",
    "parse_roster",
    "read_roster_text",
]
