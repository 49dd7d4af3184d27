"""The pharmacy's pages: the queue by shift with worksheets and labels (PDF), and the lot register.

Preparation and its verification (signed, by two pharmacists) are the custody use cases
(``dosing.app.preparation``); these pages link to them where they exist.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from dosing.app import clock, pharmacy_queue
from dosing.app.authority import require
from dosing.app.feeds import known_sites
from dosing.app.ward import site_zone
from dosing.web.rendering import page
from dosing.web.security import check_csrf, context
from dosing.web.typed import optional_day

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
def queue(request: Request, site: str | None = None, day: str | None = None, shift: str = "all") -> Response:
    ctx = context(request)
    sites = known_sites()
    chosen = site if site in sites else sites[0]
    zone = site_zone(chosen)
    from dosing.status import local_date

    the_day = optional_day(day, "day") or local_date(clock.now(), zone)
    start, end = shift_range(the_day, shift, zone)
    items = [item for item in pharmacy_queue.queue(ctx, start, end) if item.dose.site == chosen]
    return page(
        request,
        "pharmacy.html",
        ctx,
        items=items,
        sites=sites,
        site=chosen,
        day=the_day,
        shift=shift,
        shifts=list(SHIFTS),
        start=start,
        end=end,
        preparation=_preparation_available(),
    )


def _preparation_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("dosing.app.preparation") is not None


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
def lots(request: Request) -> Response:
    from dosing.status import local_date
    from dosing.store.lots import list_lots

    ctx = context(request)
    require(ctx, "read_ledger")
    today = local_date(clock.now(), "UTC")
    registered = list_lots(ctx.store)
    return page(request, "lots.html", ctx, lots=registered, today=today)
