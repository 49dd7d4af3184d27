"""Dates of planned administrations and assessments, in the site's local calendar days.

Days are counted on the site's calendar (pendulum), never as multiples of 24 hours: a dose on "day 4"
stays on the fourth local day across a DST change, and "1 month after" the 31st of January is the last
day of February (29th in a leap year).
"""

from __future__ import annotations

from datetime import MAXYEAR, MINYEAR, UTC, date, datetime, time
from functools import cache, lru_cache

import pendulum
from pendulum.tz.timezone import Timezone
from pydantic import BaseModel, ConfigDict

from dosing.errors import DosingError
from dosing.protocol import (
    AdministrationSpec,
    DayNumbering,
    Offset,
    ReschedulePolicy,
    TargetWindow,
    WindowDays,
)


class AdministrationDates(BaseModel):
    """When one planned administration is due, as local calendar dates."""

    model_config = ConfigDict(frozen=True)

    sequence: int
    label: str
    study_day: str
    target_date: date
    earliest: date
    latest: date


def study_day_label(spec: AdministrationSpec, numbering: DayNumbering) -> str:
    if numbering is DayNumbering.ANCHOR_IS_WEEK_0:
        return f"week {spec.week}"
    return f"day {spec.day}"


def days_from_anchor(spec: AdministrationSpec, numbering: DayNumbering) -> int:
    """Calendar days between the anchor day and the target day, under the protocol's convention."""
    if numbering is DayNumbering.ANCHOR_IS_WEEK_0:
        assert spec.week is not None
        return 7 * spec.week
    assert spec.day is not None
    return _day_offset(spec.day, numbering)


def _day_offset(day: int, numbering: DayNumbering) -> int:
    return day - 1 if numbering is DayNumbering.ANCHOR_IS_DAY_1 else day


def window_offsets(
    spec: AdministrationSpec, numbering: DayNumbering, site_default: WindowDays
) -> tuple[int, int]:
    """(earliest, latest) as days from the anchor; the site's default where the protocol gives none."""
    target = days_from_anchor(spec, numbering)
    window = spec.window or site_default
    if isinstance(window, TargetWindow):
        return _day_offset(window.earliest_day, numbering), _day_offset(window.latest_day, numbering)
    return target - window.before, target + window.after


def add_days(day: date, days: int) -> date:
    """``day`` moved by whole calendar days (plain date arithmetic: no clock, no zone).

    Always a plain :class:`date`, even for a pendulum ``Date`` (a subclass with its own arithmetic).
    A plan that runs off the calendar (an anchor of 9999-12-31) is bad input, refused by its rule.
    """
    ordinal = day.toordinal() + days
    if not 1 <= ordinal <= _LAST_ORDINAL:
        raise DosingError(
            "anchor",
            "every planned date between 0001-01-01 and 9999-12-31",
            f"{day.isoformat()} moved by {days} days is off the calendar",
        )
    return day_of_ordinal(ordinal)


_LAST_ORDINAL = date.max.toordinal()
#: Dates are immutable: thousands of plans name the same few thousand days, so they share them.
_DAYS: dict[int, date] = {}


def day_of_ordinal(ordinal: int) -> date:
    """``date.fromordinal(ordinal)``, one shared object per day."""
    day = _DAYS.get(ordinal)
    if day is None:
        if len(_DAYS) >= 100_000:
            _DAYS.clear()
        day = _DAYS[ordinal] = date.fromordinal(ordinal)
    return day


@cache
def _zone(name: str) -> Timezone:
    zone = pendulum.timezone(name)
    if not isinstance(zone, Timezone):  # pragma: no cover - pendulum gives a Timezone for IANA names
        raise DosingError("timezone", "an IANA time zone name", f"{name!r} is not one")
    return zone


_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _month_length(year: int, month: int) -> int:
    # calendar.monthrange also computes the weekday of the 1st, which this hot path never needs.
    if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        return 29
    return _MONTH_DAYS[month - 1]


def _add_months(day: date, months: int) -> date:
    """Calendar months; a day that the target month lacks clamps to its last day (Jan 31 -> Feb 29)."""
    if not months:
        return date(day.year, day.month, day.day)
    year, month = divmod(day.month - 1 + months, 12)
    year += day.year
    if not MINYEAR <= year <= MAXYEAR:
        raise DosingError(
            "anchor",
            "every planned date between 0001-01-01 and 9999-12-31",
            f"{day.isoformat()} moved by {months} months is off the calendar",
        )
    return date(year, month + 1, min(day.day, _month_length(year, month + 1)))


def _resolve(naive: datetime, zone: Timezone) -> pendulum.DateTime:
    """A local wall-clock time in ``zone``: a gap moves forward by its length, an ambiguous time is its
    first occurrence (PEP 495 fold=0 read through UTC does both)."""
    return _resolve_instant(naive.replace(tzinfo=zone, fold=0).astimezone(UTC), zone)


def planned_dates(
    administrations: list[AdministrationSpec],
    numbering: DayNumbering,
    anchor: date,
    site_default: WindowDays,
) -> list[AdministrationDates]:
    planned = []
    for sequence, spec in enumerate(administrations, start=1):
        target = days_from_anchor(spec, numbering)
        earliest, latest = window_offsets(spec, numbering, site_default)
        planned.append(
            AdministrationDates(
                sequence=sequence,
                label=spec.label,
                study_day=study_day_label(spec, numbering),
                target_date=add_days(anchor, target),
                earliest=add_days(anchor, earliest),
                latest=add_days(anchor, latest),
            )
        )
    return planned


def local_anchor_date(anchor: date | datetime, timezone: str) -> date:
    """The local calendar day of an anchor event; an aware instant is read in the site's zone."""
    if isinstance(anchor, datetime):
        if anchor.tzinfo is None:
            raise DosingError(
                "anchor",
                "date, or date-time with a UTC offset",
                "a bare local time is ambiguous; add an offset",
            )
        try:
            local = pendulum.instance(anchor).in_timezone(timezone)
        except OverflowError as error:
            raise DosingError(
                "anchor",
                "every planned date between 0001-01-01 and 9999-12-31",
                f"{anchor.isoformat()} is off the calendar in {timezone}",
            ) from error
        return date(local.year, local.month, local.day)
    return anchor


def local_start(day: date, at: time, timezone: str) -> pendulum.DateTime:
    """The local start of an event on ``day`` at wall-clock ``at``.

    A wall-clock time that does not exist (02:30 on a spring-forward day) moves forward by the gap,
    to 03:30, as pendulum does; an ambiguous one (01:30 on a fall-back day) takes the first, summer
    occurrence. Both are the readings a nurse looking at the ward clock would make.
    """
    # (pendulum.datetime's default, fold=1, would read an ambiguous time as its second occurrence.)
    return _local_start(date(day.year, day.month, day.day), at.hour, at.minute, timezone)


@lru_cache(maxsize=16384)
def _local_start(day: date, hour: int, minute: int, timezone: str) -> pendulum.DateTime:
    # Every patient planned on the same day at the same site starts at the same instant: one immutable
    # DateTime shared by all their plans (time and memory when planning thousands of patients).
    return _resolve(datetime(day.year, day.month, day.day, hour, minute), _zone(timezone))


def offset_date(start: date, offset: Offset) -> date:
    """``start`` moved by calendar months and days (month-end clamps: Jan 31 + 1 month = Feb 28/29)."""
    return add_days(_add_months(start, offset.months), offset.days)


def offset_datetime(start: pendulum.DateTime, offset: Offset) -> pendulum.DateTime:
    """Months and days move on the local calendar and keep the wall-clock time (resolved as in
    :func:`local_start`); hours are elapsed time (the 24 h toxicity check)."""
    zone = start.tzinfo
    if not isinstance(zone, Timezone):  # a fixed offset or another tzinfo: let pendulum do it
        return start.add(months=offset.months, days=offset.days).add(hours=offset.hours)
    if not (offset.months or offset.days or offset.hours):
        return start
    return due_and_day(start, offset)[0]


def due_and_day(start: pendulum.DateTime, offset: Offset) -> tuple[pendulum.DateTime, date]:
    """:func:`offset_datetime` for a start in an IANA zone, with the local date it falls on.

    Patients whose doses fall on the same day (in any protocol at a site in the same zone) share
    their follow-up instants: computed once, one immutable DateTime and date in every plan.
    """
    zone = start.tzinfo
    if not isinstance(zone, Timezone) or not (offset.months or offset.days or offset.hours):
        due = offset_datetime(start, offset)
        return due, day_of_ordinal(due.toordinal())
    # Equal aware datetimes in one zone object compare by wall clock and ignore the fold: the fold
    # and the zone complete the key (its id: ``start`` in the key keeps the zone alive).
    key = (start, start.fold, id(zone))
    moved = _MOVED.get(key)
    if moved is None:
        if len(_MOVED) >= 50_000:
            _MOVED.clear()
        moved = _MOVED[key] = {}
    text = offset.describe()  # names the months, days and hours
    found = moved.get(text)
    if found is None:
        due = _offset_moment(start, zone, offset.months, offset.days, offset.hours)
        found = moved[text] = (due, day_of_ordinal(due.toordinal()))
    return found


_MOVED: dict[tuple[datetime, int, int], dict[str, tuple[pendulum.DateTime, date]]] = {}


def _offset_moment(start: datetime, zone: Timezone, months: int, days: int, hours: int) -> pendulum.DateTime:
    moved: datetime = start
    if months or days:
        day = add_days(_add_months(start, months), days)
        wall = datetime(
            day.year, day.month, day.day, start.hour, start.minute, start.second, start.microsecond
        )
        moved = _resolve(wall, zone)
        if not hours:
            return moved
    # Elapsed time: the instant ``hours`` later, read on the local clock (stdlib, exact seconds).
    later = datetime.fromtimestamp(moved.timestamp() + hours * 3600, UTC)
    return _resolve_instant(later, zone)


def _resolve_instant(moment: datetime, zone: Timezone) -> pendulum.DateTime:
    local = moment.astimezone(zone)
    return pendulum.DateTime(
        local.year,
        local.month,
        local.day,
        local.hour,
        local.minute,
        local.second,
        local.microsecond,
        tzinfo=zone,
        fold=local.fold,
    )


class Rescheduled(BaseModel):
    """One planned administration moved by a reschedule (for the preview and the audit trail)."""

    model_config = ConfigDict(frozen=True)

    sequence: int
    old_target: date
    new_target: date
    old_window: tuple[date, date]
    new_window: tuple[date, date]


def reschedule(
    planned: list[AdministrationDates], sequence: int, given_on: date, policy: ReschedulePolicy
) -> list[Rescheduled]:
    """Changes to the doses after ``sequence`` when it was given on ``given_on``, under ``policy``.

    Returns only the doses that move; applying them is the caller's (audited) decision.
    """
    by_sequence = {dates.sequence: dates for dates in planned}
    if sequence not in by_sequence:
        raise DosingError("dose", f"one of doses 1-{len(planned)}", f"there is no dose {sequence}")
    delay = (given_on - by_sequence[sequence].target_date).days
    if delay == 0 or policy is ReschedulePolicy.KEEP_ORIGINAL:
        return []
    changes = []
    for dates in planned:
        if dates.sequence <= sequence:
            continue
        new_target = add_days(dates.target_date, delay)
        new_window = (add_days(dates.earliest, delay), add_days(dates.latest, delay))
        if policy is ReschedulePolicy.CLAMP_TO_WINDOW:
            new_target = min(max(new_target, dates.earliest), dates.latest)
            new_window = (dates.earliest, dates.latest)
        if new_target != dates.target_date or new_window != (dates.earliest, dates.latest):
            changes.append(
                Rescheduled(
                    sequence=dates.sequence,
                    old_target=dates.target_date,
                    new_target=new_target,
                    old_window=(dates.earliest, dates.latest),
                    new_window=new_window,
                )
            )
    return changes


def apply_reschedule(
    planned: list[AdministrationDates], changes: list[Rescheduled]
) -> list[AdministrationDates]:
    moved = {change.sequence: change for change in changes}
    result = []
    for dates in planned:
        change = moved.get(dates.sequence)
        if change is None:
            result.append(dates)
        else:
            result.append(
                dates.model_copy(
                    update={
                        "target_date": change.new_target,
                        "earliest": change.new_window[0],
                        "latest": change.new_window[1],
                    }
                )
            )
    return result
