"""The pharmacy's pages: the queue by shift with worksheets and labels (PDF), the bag of each dose
prepared, verified by a second pharmacist and released to the ward (each signed), and the lot register
with each container's stock and its thaw.

Every step is a custody use case of :mod:`dosing.app.preparation` or :mod:`dosing.app.stock`: the rules
(two pharmacists, the lot scanned, the volume drawn, use-by times) live there, not here.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import RedirectResponse, Response

from dosing.app import clock, pharmacy_queue, preparation, stock
from dosing.app.feeds import known_sites
from dosing.app.ward import site_zone
from dosing.units import parse_volume
from dosing.web.rendering import page
from dosing.web.security import check_csrf, context
from dosing.web.typed import optional_day

if TYPE_CHECKING:
    from dosing.store.preparations import Bag

router = APIRouter(prefix="/pharmacy", dependencies=[Depends(check_csrf)])

#: Shifts of the pharmacy's day, in the site's zone: (first hour, hours long).
SHIFTS = {"day": (7, 12), "night": (19, 12), "all": (0, 24)}


def shift_range(day: date, shift: str, zone: str) -> tuple[datetime, datetime]:
    first_hour, hours = SHIFTS.get(shift, SHIFTS["all"])
    start = datetime.combine(day, time(first_hour), tzinfo=ZoneInfo(zone))
    # Whole hours in UTC across a DST change: a shift is so many hours of work, not of wall clock.
    end = (start.astimezone(ZoneInfo("UTC")) + timedelta(hours=hours)).astimezone(ZoneInfo(zone))
    return start, end


@router.get("")
def queue(
    request: Request,
    site: str | None = None,
    day: str | None = None,
    shift: str = "all",
    done: str | None = None,
) -> Response:
    ctx = context(request)
    sites = known_sites()
    chosen = site if site in sites else sites[0]
    zone = site_zone(chosen)
    from dosing.status import local_date

    the_day = optional_day(day, "day") or local_date(clock.now(), zone)
    start, end = shift_range(the_day, shift, zone)
    items = [item for item in pharmacy_queue.queue(ctx, start, end) if item.dose.site == chosen]
    bags = preparation.live_bags(ctx, [(item.dose.subject_code, item.dose.sequence) for item in items])
    return page(
        request,
        "pharmacy.html",
        ctx,
        items=items,
        bags=bags,
        sites=sites,
        site=chosen,
        day=the_day,
        shift=shift if shift in SHIFTS else "all",
        shifts=list(SHIFTS),
        start=start,
        end=end,
        done=_shown(done),
    )


#: The confirmations these pages write; any other ``done`` text is not shown (a crafted link cannot
#: put words on the page).
_DONE = re.compile(
    r"(prepared|verified|released) B\d{7} for [A-Za-z0-9._-]{1,64} dose \d{1,5}"
    r"|thawed [A-Za-z0-9=._-]{1,40} container \d{1,4}"
)


def _shown(done: str | None) -> str | None:
    return done if done and _DONE.fullmatch(done) else None


def _queue_of(site: str, day: str, shift: str) -> dict[str, str]:
    """The queue a form was on (its site, day and shift), checked before the step is taken: a day that
    is not a date is refused with nothing done."""
    sites = known_sites()
    query = {"site": site if site in sites else sites[0], "shift": shift if shift in SHIFTS else "all"}
    the_day = optional_day(day, "day")
    if the_day is not None:
        query["day"] = the_day.isoformat()
    return query


def _back(queue: dict[str, str], done: str) -> RedirectResponse:
    """Back to the queue, saying what was done."""
    return RedirectResponse(f"/pharmacy?{urlencode({**queue, 'done': done})}", status_code=303)


def _done(step: str, bag: Bag) -> str:
    p = bag.preparation
    return f"{step} {p.bag_id} for {p.subject_code} dose {p.sequence}"


@router.post("/prepare")
def prepare(
    request: Request,
    site: str = Form(...),
    day: str = Form("", max_length=10),
    shift: str = Form("all", max_length=8),
    subject_code: str = Form(..., max_length=64),
    sequence: int = Form(..., ge=1, le=10_000),
    password: str = Form("", max_length=128),
) -> Response:
    """Prepare the dose's bag from the first-expiring lot that has it (signed "prepared by")."""
    queue = _queue_of(site, day, shift)
    bag = preparation.prepare(context(request), subject_code, sequence, password)
    return _back(queue, _done("prepared", bag))


@router.post("/verify")
def verify(
    request: Request,
    site: str = Form(...),
    day: str = Form("", max_length=10),
    shift: str = Form("all", max_length=8),
    bag_id: str = Form(..., max_length=16),
    drawn: str = Form(..., max_length=32),
    scanned_lot: str = Form("", max_length=64),
    password: str = Form("", max_length=128),
) -> Response:
    """The independent double check by a second pharmacist: the volume measured and the lot scanned."""
    queue = _queue_of(site, day, shift)
    volume = parse_volume(drawn, field="drawn")
    bag = preparation.verify(context(request), bag_id, volume, scanned_lot.strip() or None, password)
    return _back(queue, _done("verified", bag))


@router.post("/release")
def release(
    request: Request,
    site: str = Form(...),
    day: str = Form("", max_length=10),
    shift: str = Form("all", max_length=8),
    bag_id: str = Form(..., max_length=16),
    password: str = Form("", max_length=128),
) -> Response:
    """Release the verified bag to the ward (signed "released by")."""
    queue = _queue_of(site, day, shift)
    bag = preparation.release(context(request), bag_id, password)
    return _back(queue, _done("released", bag))


def _inline(filename: str) -> dict[str, str]:
    safe = "".join(c for c in filename if c.isalnum() or c in "-._")
    return {"Content-Disposition": f'inline; filename="{safe}"'}


@router.get("/worksheet/{subject_code}/{sequence}.pdf")
def worksheet_pdf(request: Request, subject_code: str, sequence: int) -> Response:
    from dosing.pharmacy.render import worksheet_pdf as render

    ctx = context(request)
    sheet = pharmacy_queue.worksheet(ctx, subject_code, sequence)
    return Response(
        render(sheet),
        media_type="application/pdf",
        headers=_inline(f"{subject_code}-{sequence}-worksheet.pdf"),
    )


@router.get("/label/{subject_code}/{sequence}.pdf")
def label_pdf(request: Request, subject_code: str, sequence: int) -> Response:
    from dosing.pharmacy.render import LabelOptions
    from dosing.pharmacy.render import label_pdf as render
    from dosing.store.lots import get_pharmacy_settings

    ctx = context(request)
    sheet = pharmacy_queue.worksheet(ctx, subject_code, sequence)
    options = LabelOptions(patient_name_line=get_pharmacy_settings().label_patient_name)
    return Response(
        render(sheet, options),
        media_type="application/pdf",
        headers=_inline(f"{subject_code}-{sequence}-label.pdf"),
    )


@router.get("/lots")
def lots(request: Request, done: str | None = None) -> Response:
    from dosing.status import local_date

    ctx = context(request)
    today = local_date(clock.now(), "UTC")
    return page(request, "lots.html", ctx, lots=stock.stock_list(ctx), today=today, done=_shown(done))


@router.post("/thaw")
def thaw(
    request: Request,
    lot: str = Form(..., max_length=40),
    container: int = Form(..., ge=1, le=1000),
) -> Response:
    """Record that a container was thawed now: it serves doses for its beyond-use time."""
    stock.thaw(context(request), lot, container)
    query = urlencode({"done": f"thawed {lot.strip()} container {container}"})
    return RedirectResponse(f"/pharmacy/lots?{query}", status_code=303)
