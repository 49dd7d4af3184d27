"""The coordinator's pages: missed and late doses, subjects with their swimmer plot, enrollment,
rescheduling (preview, then a signed apply), cohorts and safety reviews, the audit trail."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import RedirectResponse, Response

from dosing.app import clock, cohort_review, overdue_list, reads, rescheduling
from dosing.app.authority import require
from dosing.app.enrollment_entry import enroll_typed
from dosing.catalog import library
from dosing.protocol import ReschedulePolicy
from dosing.store.models import CohortReviewForm, RescheduleForm
from dosing.web import plots
from dosing.web.rendering import page
from dosing.web.security import check_csrf, context
from dosing.web.typed import optional_day

router = APIRouter(prefix="/coordinator", dependencies=[Depends(check_csrf)])

SVG = "image/svg+xml"


def _protocols() -> list[str]:
    return sorted(library())


def _escalating() -> list[str]:
    return sorted(pid for pid, protocol in library().items() if protocol.escalation is not None)


@router.get("")
def overdue(
    request: Request, site: str | None = None, protocol: str | None = None, state: str | None = None
) -> Response:
    ctx = context(request)
    rows = overdue_list.overdue(ctx, site=site, protocol_id=protocol, state=state)
    return page(
        request,
        "coordinator.html",
        ctx,
        rows=rows,
        site=site or "",
        protocol=protocol or "",
        state=state or "",
        protocols=_protocols(),
        query=request.url.query,
    )


@router.get("/overdue.csv")
def overdue_csv(
    request: Request, site: str | None = None, protocol: str | None = None, state: str | None = None
) -> Response:
    ctx = context(request)
    rows = overdue_list.overdue(ctx, site=site, protocol_id=protocol, state=state)
    return Response(
        overdue_list.as_csv(rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="overdue.csv"'},
    )


@router.get("/subjects")
def subjects(request: Request) -> Response:
    ctx = context(request)
    views = reads.site_views(ctx, None, None, None)
    return page(request, "subjects.html", ctx, views=views)


@router.get("/study.svg")
def study_plot(request: Request) -> Response:
    ctx = context(request)
    return Response(plots.study_swimmer(reads.site_views(ctx, None, None, None)), media_type=SVG)


@router.get("/subjects/{subject_code}")
def subject(request: Request, subject_code: str) -> Response:
    ctx = context(request)
    view = reads.subject_view(ctx, subject_code)
    return page(request, "subject.html", ctx, view=view, policies=[p.value for p in ReschedulePolicy])


@router.get("/subjects/{subject_code}/swimmer.svg")
def subject_plot(request: Request, subject_code: str) -> Response:
    ctx = context(request)
    return Response(plots.subject_swimmer(reads.subject_view(ctx, subject_code)), media_type=SVG)


@router.get("/enroll")
def enroll_form(request: Request) -> Response:
    ctx = context(request)
    require(ctx, "enroll")
    return page(request, "enroll.html", ctx, protocols=_protocols())


@router.post("/enroll")
def enroll(
    request: Request,
    protocol_id: str = Form(..., max_length=64),
    subject_code: str = Form(..., max_length=64),
    weight: str = Form(..., max_length=32),
    arm: str = Form("", max_length=64),
    anchor: str = Form("", max_length=40),
    site: str = Form("", max_length=64),
    dose_per_kg: str = Form("", max_length=40),
    age: str = Form("", max_length=8),
    creatinine: str = Form("", max_length=32),
    bilirubin: str = Form("", max_length=32),
    inr: str = Form("", max_length=16),
    albumin: str = Form("", max_length=32),
    ascites: str = Form("", max_length=16),
    encephalopathy: str = Form("", max_length=16),
) -> Response:
    ctx = context(request)
    enrollment = enroll_typed(
        ctx,
        protocol_id=protocol_id,
        subject_code=subject_code,
        weight=weight,
        arm=arm or None,
        anchor=anchor or None,
        site=site or None,
        dose_per_kg=dose_per_kg or None,
        age=age, creatinine=creatinine, bilirubin=bilirubin, inr=inr, albumin=albumin,
        ascites=ascites, encephalopathy=encephalopathy,
    )  # fmt: skip
    return RedirectResponse(f"/coordinator/subjects/{enrollment.subject_code}", status_code=303)


def _reschedule_form(
    subject_code: str, sequence: int, given_on: str, policy: str, reason: str
) -> RescheduleForm:
    from dosing.app.typed import build_request

    return build_request(
        RescheduleForm,
        subject_code=subject_code,
        sequence=sequence,
        given_on=optional_day(given_on, "given on"),
        policy=ReschedulePolicy(policy) if policy else None,
        reason=reason or None,
    )


@router.post("/subjects/{subject_code}/reschedule")
def reschedule(
    request: Request,
    subject_code: str,
    sequence: int = Form(..., ge=1, le=10_000),
    given_on: str = Form("", max_length=10),
    policy: str = Form("", max_length=32),
    reason: str = Form("", max_length=500),
    password: str = Form("", max_length=128),
    apply: str = Form(""),
) -> Response:
    ctx = context(request)
    form = _reschedule_form(subject_code, sequence, given_on, policy, reason)
    if apply:
        result = rescheduling.apply(ctx, form, password)
    else:
        result = rescheduling.preview(ctx, form, clock.now())
    return page(request, "reschedule.html", ctx, result=result, form=form)


@router.get("/cohorts")
def cohorts(request: Request, protocol: str | None = None) -> Response:
    ctx = context(request)
    choices = _escalating()
    chosen = protocol if protocol in choices else (choices[0] if choices else None)
    states = cohort_review.cohorts(ctx, chosen, clock.now()) if chosen else []
    return page(
        request, "cohorts.html", ctx, protocols=choices, protocol=chosen, states=states, today=date.today()
    )


@router.post("/cohorts/review")
def review(
    request: Request,
    protocol_id: str = Form(..., max_length=64),
    cohort: int = Form(..., ge=1, le=1000),
    verdict: str = Form(..., pattern="^(safe|unsafe)$"),
    reviewed_on: str = Form(..., max_length=10),
    notes: str = Form("", max_length=2000),
    password: str = Form("", max_length=128),
) -> Response:
    ctx = context(request)
    from dosing.app.typed import build_request

    form = build_request(
        CohortReviewForm,
        protocol_id=protocol_id,
        cohort=cohort,
        safe=verdict == "safe",
        reviewed_on=optional_day(reviewed_on, "reviewed on"),
        notes=notes or None,
    )
    cohort_review.review(ctx, form, password)
    return RedirectResponse(f"/coordinator/cohorts?protocol={protocol_id}", status_code=303)


@router.get("/audit")
def audit(request: Request, subject: str | None = None, verify: str | None = None) -> Response:
    ctx = context(request)
    entries = reads.audit_trail(ctx, subject_code=subject or None, limit=200)
    report = reads.verify_audit(ctx) if verify else None
    return page(request, "audit.html", ctx, entries=entries, subject=subject or "", report=report)
