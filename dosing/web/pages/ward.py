"""The nurse's pages: the ward's doses today and tomorrow, recording by scanning, skipping, checks due."""

from __future__ import annotations

import re

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import RedirectResponse, Response

from dosing.app import clock, reads, ward
from dosing.app.authority import require
from dosing.app.feeds import known_sites
from dosing.errors import DosingError
from dosing.units import parse_volume
from dosing.web.rendering import page
from dosing.web.security import check_csrf, context
from dosing.web.typed import local_moment

router = APIRouter(dependencies=[Depends(check_csrf)])


_DONE = re.compile(r"(recorded|skipped|corrected) [A-Za-z0-9._-]{1,64} dose \d{1,5} \(record \d{1,12}\)")


def _site(site: str | None) -> str:
    sites = known_sites()
    return site if site in sites else sites[0]


@router.get("/ward")
def ward_page(request: Request, site: str | None = None, done: str | None = None) -> Response:
    ctx = context(request)
    require(ctx, "read_ledger")
    day = ward.ward_day(ctx, _site(site))
    template = "ward_list.html" if request.headers.get("hx-request") else "ward.html"
    # Only the confirmation this application writes is shown: a crafted link cannot put words on the page.
    shown = done if done and _DONE.fullmatch(done) else None
    return page(request, template, ctx, day=day, sites=known_sites(), done=shown)


@router.get("/ward/dose/{subject_code}/{sequence}")
def dose_page(request: Request, subject_code: str, sequence: int, site: str | None = None) -> Response:
    ctx = context(request)
    view = reads.subject_view(ctx, subject_code)
    dose = next((d for d in view.doses if d.sequence == sequence), None)
    if dose is None:
        raise DosingError("dose", "one of the subject's planned doses", f"no dose {sequence}")
    return page(
        request,
        "ward_dose.html",
        ctx,
        subject_code=view.subject_code,
        dose=dose,
        zone=view.timezone,
        site=_site(site or view.site),
    )


@router.post("/ward/record")
def record(
    request: Request,
    site: str = Form(...),
    subject_code: str = Form(..., max_length=64),
    sequence: int = Form(..., ge=1, le=10_000),
    scanned_subject: str = Form("", max_length=64),
    bag: str = Form("", max_length=64),
    started_at: str = Form("", max_length=32),
    ended_at: str = Form("", max_length=32),
    volume: str = Form("", max_length=32),
    partial: bool = Form(False),
    infusion_reaction: str = Form("", max_length=500),
    late_reason: str = Form("", max_length=500),
    password: str = Form("", max_length=128),
) -> Response:
    ctx = context(request)
    zone = ward.site_zone(_site(site))
    moment = local_moment(started_at, "at", zone) if started_at.strip() else clock.now()
    record_id = ward.record_scanned(
        ctx,
        subject_code,
        sequence,
        scanned_subject,
        bag,
        moment,
        password,
        late_reason or None,
        ended_at=local_moment(ended_at, "end", zone) if ended_at.strip() else None,
        volume=parse_volume(volume, field="volume") if volume.strip() else None,
        partial=partial,
        infusion_reaction=infusion_reaction,
    )
    return RedirectResponse(
        f"/ward?site={_site(site)}&done=recorded+{subject_code}+dose+{sequence}+(record+{record_id})",
        status_code=303,
    )


@router.post("/ward/correct")
def correct(
    request: Request,
    site: str = Form(...),
    subject_code: str = Form(..., max_length=64),
    sequence: int = Form(..., ge=1, le=10_000),
    record_id: int = Form(..., ge=1),
    reason: str = Form("", max_length=500),
    becomes: str = Form("given", max_length=16),
    started_at: str = Form("", max_length=32),
    ended_at: str = Form("", max_length=32),
    volume: str = Form("", max_length=32),
    partial: str = Form("", max_length=8),
    infusion_reaction: str = Form("", max_length=500),
    skip_reason: str = Form("", max_length=500),
    password: str = Form("", max_length=128),
) -> Response:
    ctx = context(request)
    if partial not in ("", "yes", "no"):
        raise DosingError("partial", "yes, no, or empty (as recorded)", f"{partial!r} is none of them")
    zone = ward.site_zone(_site(site))
    new_id = ward.correct(
        ctx,
        subject_code,
        sequence,
        record_id,
        reason,
        password,
        becomes=becomes,
        started_at=local_moment(started_at, "at", zone) if started_at.strip() else None,
        ended_at=local_moment(ended_at, "end", zone) if ended_at.strip() else None,
        volume=parse_volume(volume, field="volume") if volume.strip() else None,
        # "" leaves the partial flag as the record has it.
        partial={"yes": True, "no": False}.get(partial),
        infusion_reaction=infusion_reaction,
        skip_reason=skip_reason,
    )
    return RedirectResponse(
        f"/ward?site={_site(site)}&done=corrected+{subject_code}+dose+{sequence}+(record+{new_id})",
        status_code=303,
    )


@router.post("/ward/skip")
def skip(
    request: Request,
    site: str = Form(...),
    subject_code: str = Form(..., max_length=64),
    sequence: int = Form(..., ge=1, le=10_000),
    reason: str = Form("", max_length=500),
    password: str = Form("", max_length=128),
) -> Response:
    ctx = context(request)
    record_id = ward.skip(ctx, subject_code, sequence, reason, password)
    return RedirectResponse(
        f"/ward?site={_site(site)}&done=skipped+{subject_code}+dose+{sequence}+(record+{record_id})",
        status_code=303,
    )
