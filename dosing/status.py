"""Status of a planned dose against its window, as of a moment, in the site's local calendar days.

A window is open from the start of its earliest local day to the end of its latest local day. A dose
with nothing recorded after its window closed is *missed*; one given after it is *given late*, with the
number of days past the window's last day.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Literal

import pendulum
from pydantic import BaseModel, ConfigDict

from dosing.errors import DosingError


class DoseState(StrEnum):
    UPCOMING = "upcoming"
    WINDOW_OPEN = "window_open"
    GIVEN_ON_TIME = "given_on_time"
    GIVEN_LATE = "given_late"
    GIVEN_EARLY = "given_early"
    PARTIAL = "partial"
    SKIPPED = "skipped"
    MISSED = "missed"
    NOT_APPLICABLE = "not_applicable"

    @property
    def needs_attention(self) -> bool:
        """What a coordinator's overdue list shows: doses missed or given late."""
        return self in {DoseState.MISSED, DoseState.GIVEN_LATE}


class DoseWindow(BaseModel):
    model_config = ConfigDict(frozen=True)

    target_date: date
    earliest: date
    latest: date


class DoseRecord(BaseModel):
    """The effective record of a planned dose (after corrections), as the status rules need it."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["given", "skipped"]
    local_date: date
    partial: bool = False
    reason: str | None = None


class DoseStatus(BaseModel):
    model_config = ConfigDict(frozen=True)

    state: DoseState
    #: Days past the window's last day (late or missed); None otherwise.
    days_late: int | None = None
    #: Days before the window's first day (given early); None otherwise.
    days_early: int | None = None
    reason: str | None = None


def local_date(moment: datetime, timezone: str) -> date:
    """The site-local calendar day of an aware instant."""
    if moment.tzinfo is None:
        raise DosingError("as of", "date-time with a UTC offset", f"{moment.isoformat()} has no offset")
    local = pendulum.instance(moment).in_timezone(timezone)
    return date(local.year, local.month, local.day)


def dose_status(
    window: DoseWindow, record: DoseRecord | None, as_of: date, *, applicable: bool = True
) -> DoseStatus:
    """The state of one planned dose on the local day ``as_of``."""
    if not applicable:
        return DoseStatus(state=DoseState.NOT_APPLICABLE)
    if record is not None:
        if record.kind == "skipped":
            return DoseStatus(state=DoseState.SKIPPED, reason=record.reason)
        given = record.local_date
        if given > window.latest:
            late = DoseStatus(state=DoseState.GIVEN_LATE, days_late=(given - window.latest).days)
            return late.model_copy(update={"reason": "partial dose"}) if record.partial else late
        if record.partial:
            return DoseStatus(state=DoseState.PARTIAL, reason=record.reason)
        if given < window.earliest:
            return DoseStatus(state=DoseState.GIVEN_EARLY, days_early=(window.earliest - given).days)
        return DoseStatus(state=DoseState.GIVEN_ON_TIME)
    if as_of < window.earliest:
        return DoseStatus(state=DoseState.UPCOMING)
    if as_of <= window.latest:
        return DoseStatus(state=DoseState.WINDOW_OPEN)
    return DoseStatus(state=DoseState.MISSED, days_late=(as_of - window.latest).days)
