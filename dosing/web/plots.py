"""Swimmer plots as SVG, drawn by matplotlib's SVG backend (no pyplot: no global state between requests).

One lane per planned dose (a subject's plot) or per subject (the study's): the dose window as a bar
from its first to its last local day, and what happened as a marker: given on time, early, late,
partial, skipped, missed, or still to come. Colours are paired with marker shapes, so the plot reads
in grey print too.
"""

from __future__ import annotations

import hashlib
import io
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

import matplotlib

matplotlib.use("svg")
from matplotlib import dates as _dates
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from dosing.store.models import DoseView, SubjectView

# matplotlib.dates is untyped: its two functions used here, with their types.
date2num = cast("Callable[[date], float]", _dates.date2num)
DateFormatter = cast("Callable[[str], Any]", _dates.DateFormatter)

matplotlib.rcParams["svg.hashsalt"] = "cell-dosing"  # stable element ids: the same plot, the same bytes
matplotlib.rcParams["svg.fonttype"] = "none"  # text stays text (searchable, small)
_DRAWN_LOCK = threading.Lock()

#: state -> (label, marker, colour)
MARKERS: dict[str, tuple[str, str, str]] = {
    "given_on_time": ("given", "o", "#1a7f37"),
    "given_early": ("given early", "<", "#0969da"),
    "given_late": ("given late", ">", "#bc4c00"),
    "partial": ("partial", "D", "#8250df"),
    "skipped": ("skipped", "x", "#57606a"),
    "missed": ("missed", "X", "#cf222e"),
    "window_open": ("window open", "s", "#9a6700"),
    "upcoming": ("to come", "|", "#57606a"),
}


def _event_day(dose: DoseView, timezone: str) -> date:
    if dose.given is not None:
        # The day it was given at the site, not in UTC.
        return dose.given.started_at.astimezone(ZoneInfo(timezone)).date()
    if dose.status.state.value == "missed":
        return dose.latest
    return dose.target_date


def _svg(figure: Figure) -> bytes:
    out = io.BytesIO()
    figure.savefig(out, format="svg", bbox_inches="tight", metadata={"Date": None})
    return out.getvalue()


def _legend(axes: object, states: set[str]) -> None:
    handles = [
        Line2D(
            [], [], marker=MARKERS[state][1], color=MARKERS[state][2], linestyle="", label=MARKERS[state][0]
        )
        for state in MARKERS
        if state in states
    ]
    if handles:
        axes.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)  # type: ignore[attr-defined]


#: Drawn plots by the views they show (a view is everything a plot reads; the SVG bytes are stable:
#: fixed hash salt, no date), so an unchanged ledger serves the same bytes without drawing again.
_DRAWN: OrderedDict[bytes, bytes] = OrderedDict()
_DRAWN_MAX = 128


def _cached(kind: str, views: list[SubjectView], draw: Callable[[], bytes]) -> bytes:
    key = hashlib.sha256(
        kind.encode() + b"\0" + b"\0".join(view.model_dump_json().encode() for view in views)
    ).digest()
    with _DRAWN_LOCK:
        found = _DRAWN.get(key)
        if found is not None:
            _DRAWN.move_to_end(key)
            return found
    drawn = draw()
    with _DRAWN_LOCK:
        _DRAWN[key] = drawn
        while len(_DRAWN) > _DRAWN_MAX:
            _DRAWN.popitem(last=False)
    return drawn


def subject_swimmer(view: SubjectView) -> bytes:
    """The subject's doses on a timeline (drawn once per distinct view)."""
    return _cached("subject", [view], lambda: _draw_subject(view))


def study_swimmer(views: list[SubjectView]) -> bytes:
    """One lane per subject (drawn once per distinct set of views)."""
    return _cached("study", views, lambda: _draw_study(views))


def _draw_subject(view: SubjectView) -> bytes:
    doses = [dose for dose in view.doses if dose.status.state.value != "not_applicable"]
    figure = Figure(figsize=(8, 0.45 * max(len(doses), 2) + 1.2))
    axes = figure.add_subplot()
    states: set[str] = set()
    for lane, dose in enumerate(doses):
        start = date2num(dose.earliest)
        width = date2num(dose.latest + timedelta(days=1)) - start
        axes.barh(lane, width, left=start, height=0.5, color="#d0d7de", edgecolor="#8c959f")
        state = dose.status.state.value
        states.add(state)
        _label, marker, colour = MARKERS.get(state, (state, "o", "#24292f"))
        axes.plot(
            [date2num(_event_day(dose, view.timezone)) + 0.5],
            [lane],
            marker=marker,
            color=colour,
            markersize=9,
            linestyle="",
        )
    axes.set_yticks(range(len(doses)), [f"{d.sequence}. {d.label}" for d in doses])
    axes.invert_yaxis()
    axes.xaxis.set_major_formatter(DateFormatter("%Y-%m-%d"))
    figure.autofmt_xdate()
    axes.set_title(
        f"{view.subject_code} ({view.protocol_id}, arm {view.arm}): dose windows and what was given"
    )
    _legend(axes, states)
    return _svg(figure)


def _draw_study(views: list[SubjectView]) -> bytes:
    """One lane per subject: the span of its planned doses, and every dose's outcome on it."""
    figure = Figure(figsize=(9, 0.4 * max(len(views), 2) + 1.4))
    axes = figure.add_subplot()
    states: set[str] = set()
    for lane, view in enumerate(views):
        doses = [dose for dose in view.doses if dose.status.state.value != "not_applicable"]
        if not doses:
            continue
        first = min(dose.earliest for dose in doses)
        last = max(dose.latest for dose in doses)
        axes.barh(
            lane,
            date2num(last + timedelta(days=1)) - date2num(first),
            left=date2num(first),
            height=0.4,
            color="#eaeef2",
            edgecolor="#8c959f",
        )
        for dose in doses:
            state = dose.status.state.value
            states.add(state)
            _label, marker, colour = MARKERS.get(state, (state, "o", "#24292f"))
            axes.plot(
                [date2num(_event_day(dose, view.timezone)) + 0.5],
                [lane],
                marker=marker,
                color=colour,
                markersize=7,
                linestyle="",
            )
    axes.set_yticks(range(len(views)), [f"{v.subject_code} ({v.protocol_id})" for v in views])
    axes.invert_yaxis()
    axes.xaxis.set_major_formatter(DateFormatter("%Y-%m-%d"))
    figure.autofmt_xdate()
    axes.set_title("All subjects: planned doses and what was given")
    _legend(axes, states)
    return _svg(figure)
