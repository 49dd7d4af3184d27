"""The JSON API under ``/api``: the same use cases as the pages, the same accounts and sessions.

Authenticate with ``POST /api/session`` (username and password) and send the token back as
``Authorization: Bearer <token>``; or, from a page, with the session cookie and the page's CSRF token
in ``X-CSRF-Token``. Errors are ``{"error": {"field", "rule", "message"}}`` with 401 (log in), 403
(not your role), 404 or 422 (the value breaks a rule).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.security import HTTPBearer
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from dosing.app import (
    accounts,
    clock,
    cohort_review,
    feeds,
    overdue_list,
    pharmacy_queue,
    preparation,
    reads,
    rescheduling,
    stock,
    ward,
)
from dosing.app.enrollment_entry import enroll_typed
from dosing.escalation import CohortState
from dosing.protocol import ReschedulePolicy
from dosing.store.models import (
    AuditView,
    Enrollment,
    OverdueRow,
    RescheduleForm,
    ReschedulePreview,
    SubjectView,
)
from dosing.units import parse_volume
from dosing.web.security import check_csrf, context, session_token, store_of

bearer = HTTPBearer(auto_error=False, description="The token from POST /api/session")
router = APIRouter(prefix="/api", dependencies=[Depends(check_csrf)])
authenticated = [Depends(bearer)]

Code = Field(min_length=1, max_length=64)
#: A dose number in a path.
Sequence = Annotated[int, Path(ge=1, le=10_000)]


class RequestBody(BaseModel):
    """A request's JSON body: a name that is not one of its fields is refused, never ignored (a
    misspelled ``"Arm"`` would otherwise enroll by randomization, a misspelled ``"dose_per_kg"``
    at the protocol's default dose)."""

    model_config = ConfigDict(extra="forbid")


class Credentials(RequestBody):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=128)


class SessionOut(BaseModel):
    token: str
    username: str
    roles: list[str]


class Me(BaseModel):
    username: str
    full_name: str
    roles: list[str]


class GivenIn(RequestBody):
    scanned_subject: str = Field(max_length=64, description="The subject's code as scanned at the bedside")
    bag: str = Field(
        max_length=64,
        description="The bag number on the pharmacy's label (B0000001: the bedside check of the bag), or, "
        "where the pharmacy prepares no bags, the DIN as scanned (=G12349865432100) or the lot number",
    )
    started_at: AwareDatetime | None = Field(default=None, description="Default: now (server clock)")
    ended_at: AwareDatetime | None = None
    volume: str | None = Field(
        default=None,
        max_length=32,
        description="What was given of the bag, with its unit, when it was not all (default: the whole bag)",
    )
    partial: bool = Field(
        default=False, description="Confirms a partial dose (more than the tolerance under the order)"
    )
    infusion_reaction: str | None = Field(default=None, max_length=500)
    late_reason: str | None = Field(default=None, max_length=500)
    password: str = Field(max_length=128, description="The signature: your password again")


class CorrectionIn(RequestBody):
    record_id: int = Field(ge=1, description="The record corrected: still the dose's effective one")
    reason: str = Field(min_length=1, max_length=500)
    becomes: Literal["given", "skipped", "void"] = Field(
        default="given", description="given (details corrected), skipped, or void (entered in error)"
    )
    started_at: AwareDatetime | None = None
    ended_at: AwareDatetime | None = None
    volume: str | None = Field(default=None, max_length=32, description="What was given, with its unit")
    partial: bool | None = Field(default=None, description="Default: as recorded")
    infusion_reaction: str | None = Field(default=None, max_length=500)
    skip_reason: str | None = Field(default=None, max_length=500)
    password: str = Field(max_length=128, description="The signature (corrected by): your password again")


class SkipIn(RequestBody):
    reason: str = Field(max_length=500)
    password: str = Field(max_length=128)


class RecordOut(BaseModel):
    record_id: int


class EnrollIn(RequestBody):
    protocol_id: str = Code
    subject_code: str = Code
    weight: str = Field(max_length=32, description="With its unit, e.g. 62kg")
    arm: str | None = Field(default=None, max_length=64)
    anchor: str | None = Field(
        default=None, max_length=40, description="YYYY-MM-DD, or a date-time with offset"
    )
    site: str | None = Field(default=None, max_length=64)
    dose_per_kg: str | None = Field(default=None, max_length=40)
    #: The inputs of the protocol's inclusion criteria, with units as `dosing enroll` takes them.
    age: str | None = Field(default=None, max_length=8)
    creatinine: str | None = Field(default=None, max_length=32, description="e.g. 1.5 mg/dL")
    bilirubin: str | None = Field(default=None, max_length=32, description="e.g. 10 mg/dL")
    inr: str | None = Field(default=None, max_length=16)
    albumin: str | None = Field(default=None, max_length=32, description="e.g. 3.0 g/dL")
    ascites: str | None = Field(default=None, max_length=16)
    encephalopathy: str | None = Field(default=None, max_length=16)


class RescheduleIn(RequestBody):
    sequence: int = Field(ge=1, le=10_000)
    given_on: str | None = Field(default=None, max_length=10)
    policy: ReschedulePolicy | None = None
    reason: str | None = Field(default=None, max_length=500)


class RescheduleApplyIn(RescheduleIn):
    password: str = Field(max_length=128)


class FeedIn(RequestBody):
    scope: feeds.FeedScope
    target: str = Code


class FeedOut(BaseModel):
    id: int
    scope: str
    target: str
    created_at: datetime
    revoked_at: datetime | None
    url: str | None = None
    webcal: str | None = None


class QueueItemOut(BaseModel):
    subject_code: str
    protocol_id: str
    sequence: int
    planned_start: datetime
    lot: str | None
    refused: dict[str, str] | None


@router.post("/session", response_model=SessionOut, tags=["session"])
def login(credentials: Credentials, request: Request) -> SessionOut:
    token, actor = accounts.login(store_of(request), credentials.username, credentials.password, client="web")
    return SessionOut(token=token, username=actor.username, roles=sorted(r.value for r in actor.roles))


@router.delete("/session", status_code=204, tags=["session"], dependencies=authenticated)
def logout(request: Request) -> None:
    context(request)
    token = session_token(request)
    if token:
        accounts.logout(store_of(request), token)


@router.get("/me", response_model=Me, tags=["session"], dependencies=authenticated)
def me(request: Request) -> Me:
    actor = context(request).actor
    return Me(username=actor.username, full_name=actor.full_name, roles=sorted(r.value for r in actor.roles))


@router.get("/ward/{site}", response_model=ward.WardDay, tags=["ward"], dependencies=authenticated)
def ward_day(request: Request, site: str) -> ward.WardDay:
    return ward.ward_day(context(request), site)


@router.post(
    "/doses/{subject_code}/{sequence}/given",
    response_model=RecordOut,
    tags=["ward"],
    dependencies=authenticated,
)
def given(request: Request, subject_code: str, sequence: Sequence, body: GivenIn) -> RecordOut:
    ctx = context(request)
    record_id = ward.record_scanned(
        ctx,
        subject_code,
        sequence,
        body.scanned_subject,
        body.bag,
        body.started_at or clock.now(),
        body.password,
        body.late_reason,
        ended_at=body.ended_at,
        volume=parse_volume(body.volume, field="volume") if body.volume else None,
        partial=body.partial,
        infusion_reaction=body.infusion_reaction,
    )
    return RecordOut(record_id=record_id)


@router.post(
    "/doses/{subject_code}/{sequence}/corrections",
    response_model=RecordOut,
    tags=["ward"],
    dependencies=authenticated,
)
def correction(request: Request, subject_code: str, sequence: Sequence, body: CorrectionIn) -> RecordOut:
    """Correct a dose's record: a new signed record naming it; fields left out are carried over."""
    record_id = ward.correct(
        context(request),
        subject_code,
        sequence,
        body.record_id,
        body.reason,
        body.password,
        becomes=body.becomes,
        started_at=body.started_at,
        ended_at=body.ended_at,
        volume=parse_volume(body.volume, field="volume") if body.volume else None,
        partial=body.partial,
        infusion_reaction=body.infusion_reaction,
        skip_reason=body.skip_reason,
    )
    return RecordOut(record_id=record_id)


@router.post(
    "/doses/{subject_code}/{sequence}/skipped",
    response_model=RecordOut,
    tags=["ward"],
    dependencies=authenticated,
)
def skipped(request: Request, subject_code: str, sequence: Sequence, body: SkipIn) -> RecordOut:
    return RecordOut(
        record_id=ward.skip(context(request), subject_code, sequence, body.reason, body.password)
    )


@router.get(
    "/subjects/{subject_code}", response_model=SubjectView, tags=["coordinator"], dependencies=authenticated
)
def subject(request: Request, subject_code: str) -> SubjectView:
    return reads.subject_view(context(request), subject_code)


@router.get("/overdue", response_model=list[OverdueRow], tags=["coordinator"], dependencies=authenticated)
def overdue(
    request: Request,
    site: str | None = Query(default=None, max_length=64),
    protocol: str | None = Query(default=None, max_length=64),
    state: str | None = Query(default=None, max_length=32),
) -> list[OverdueRow]:
    return overdue_list.overdue(context(request), site=site, protocol_id=protocol, state=state)


@router.post("/enrollments", response_model=Enrollment, tags=["coordinator"], dependencies=authenticated)
def enroll(request: Request, body: EnrollIn) -> Enrollment:
    return enroll_typed(context(request), **body.model_dump())


def _reschedule_form(subject_code: str, body: RescheduleIn) -> RescheduleForm:
    from dosing.app.typed import build_request
    from dosing.web.typed import optional_day

    return build_request(
        RescheduleForm,
        subject_code=subject_code,
        sequence=body.sequence,
        given_on=optional_day(body.given_on, "given on"),
        policy=body.policy,
        reason=body.reason,
    )


@router.post(
    "/subjects/{subject_code}/reschedule/preview",
    response_model=ReschedulePreview,
    tags=["coordinator"],
    dependencies=authenticated,
)
def reschedule_preview(request: Request, subject_code: str, body: RescheduleIn) -> ReschedulePreview:
    return rescheduling.preview(context(request), _reschedule_form(subject_code, body), clock.now())


@router.post(
    "/subjects/{subject_code}/reschedule/apply",
    response_model=ReschedulePreview,
    tags=["coordinator"],
    dependencies=authenticated,
)
def reschedule_apply(request: Request, subject_code: str, body: RescheduleApplyIn) -> ReschedulePreview:
    return rescheduling.apply(context(request), _reschedule_form(subject_code, body), body.password)


@router.get(
    "/cohorts/{protocol_id}",
    response_model=list[CohortState],
    tags=["coordinator"],
    dependencies=authenticated,
)
def cohorts(request: Request, protocol_id: str) -> list[CohortState]:
    ctx = context(request)
    from dosing.catalog import get_protocol

    return cohort_review.cohorts(ctx, get_protocol(protocol_id).id, clock.now())


class CohortReviewIn(RequestBody):
    cohort: int = Field(ge=1, le=1000)
    safe: bool
    reviewed_on: date
    notes: str | None = Field(default=None, max_length=2000)
    password: str = Field(max_length=128, description="The signature: your password again")


@router.post(
    "/cohorts/{protocol_id}/reviews",
    response_model=RecordOut,
    status_code=201,
    tags=["coordinator"],
    dependencies=authenticated,
)
def cohort_review_create(request: Request, protocol_id: str, body: CohortReviewIn) -> RecordOut:
    from dosing.app.typed import build_request
    from dosing.catalog import get_protocol
    from dosing.store.models import CohortReviewForm

    ctx = context(request)
    form = build_request(
        CohortReviewForm,
        protocol_id=get_protocol(protocol_id).id,
        cohort=body.cohort,
        safe=body.safe,
        reviewed_on=body.reviewed_on,
        notes=body.notes,
    )
    return RecordOut(record_id=cohort_review.review(ctx, form, body.password))


class LotOut(BaseModel):
    identifier: str
    product: str
    concentration: str
    viability: str | None
    volume: str
    expiry: date


@router.get("/lots", response_model=list[LotOut], tags=["pharmacy"], dependencies=authenticated)
def lots(request: Request) -> list[LotOut]:
    from dosing.app.authority import require
    from dosing.store.lots import list_lots

    ctx = context(request)
    require(ctx, "read_ledger")
    return [
        LotOut(
            identifier=item.lot.identifier,
            product=item.lot.product,
            concentration=str(item.lot.concentration),
            viability=str(item.lot.viability) if item.lot.viability else None,
            volume=str(item.lot.volume),
            expiry=item.lot.expiry,
        )
        for item in list_lots(ctx.store)
    ]


class ThawOut(BaseModel):
    lot: str
    container: int
    thawed_at: datetime
    use_by: datetime


@router.post(
    "/lots/{lot}/containers/{container}/thawed",
    response_model=ThawOut,
    tags=["pharmacy"],
    dependencies=authenticated,
)
def thaw(
    request: Request,
    lot: Annotated[str, Path(min_length=1, max_length=40, description="The lot number or DIN")],
    container: Annotated[int, Path(ge=1, le=1000)],
) -> ThawOut:
    """Record that a container was thawed now: it serves doses for its beyond-use time."""
    done = stock.thaw(context(request), lot, container)
    return ThawOut(lot=lot, container=done.container, thawed_at=done.thawed_at, use_by=done.use_by)


class BagOut(BaseModel):
    """A bag's identity and where it stands in its custody (its figures are on the worksheet)."""

    bag_id: str
    subject_code: str
    sequence: int
    state: str
    prepared_by: str
    use_by: datetime


class PrepareIn(RequestBody):
    subject_code: str = Code
    sequence: int = Field(ge=1, le=10_000)
    password: str = Field(max_length=128, description="The signature (prepared by): your password again")


class VerifyIn(RequestBody):
    drawn: str = Field(max_length=32, description="The volume you measured in the syringe, with its unit")
    scanned_lot: str | None = Field(
        default=None, max_length=64, description="The lot or DIN scanned from the container"
    )
    password: str = Field(max_length=128, description="The signature (verified by): your password again")


class ReleaseIn(RequestBody):
    password: str = Field(max_length=128, description="The signature (released by): your password again")


BagId = Annotated[str, Path(min_length=1, max_length=16, description="The bag number, e.g. B0000001")]


def _bag_out(bag: Any) -> BagOut:
    p = bag.preparation
    return BagOut(
        bag_id=p.bag_id,
        subject_code=p.subject_code,
        sequence=p.sequence,
        state=bag.state.value,
        prepared_by=p.prepared_by,
        use_by=p.use_by,
    )


@router.post("/bags", response_model=BagOut, tags=["pharmacy"], dependencies=authenticated)
def prepare_bag(request: Request, body: PrepareIn) -> BagOut:
    """Prepare a dose's bag from the first-expiring lot that has it."""
    return _bag_out(preparation.prepare(context(request), body.subject_code, body.sequence, body.password))


@router.get("/bags/{bag_id}", response_model=BagOut, tags=["pharmacy"], dependencies=authenticated)
def bag(request: Request, bag_id: BagId) -> BagOut:
    return _bag_out(preparation.bag(context(request), bag_id))


@router.post("/bags/{bag_id}/verified", response_model=BagOut, tags=["pharmacy"], dependencies=authenticated)
def verify_bag(request: Request, bag_id: BagId, body: VerifyIn) -> BagOut:
    """The independent double check, by a pharmacist other than the one who prepared the bag."""
    drawn = parse_volume(body.drawn, field="drawn")
    return _bag_out(preparation.verify(context(request), bag_id, drawn, body.scanned_lot, body.password))


@router.post("/bags/{bag_id}/released", response_model=BagOut, tags=["pharmacy"], dependencies=authenticated)
def release_bag(request: Request, bag_id: BagId, body: ReleaseIn) -> BagOut:
    return _bag_out(preparation.release(context(request), bag_id, body.password))


@router.get("/audit", response_model=list[AuditView], tags=["coordinator"], dependencies=authenticated)
def audit(
    request: Request,
    subject: str | None = Query(default=None, max_length=64),
    limit: int = Query(default=100, ge=1, le=1000),
) -> list[AuditView]:
    return reads.audit_trail(context(request), subject_code=subject, limit=limit)


class AuditCheck(BaseModel):
    ok: bool
    entries: int
    head: str
    problems: list[str]


@router.get("/audit/verify", response_model=AuditCheck, tags=["coordinator"], dependencies=authenticated)
def audit_verify(request: Request) -> AuditCheck:
    report = reads.verify_audit(context(request))
    return AuditCheck(
        ok=report.ok,
        entries=report.entries,
        head=report.head,
        problems=[str(problem) for problem in report.problems],
    )


@router.get(
    "/pharmacy/queue", response_model=list[QueueItemOut], tags=["pharmacy"], dependencies=authenticated
)
def pharmacy(request: Request, start: AwareDatetime, end: AwareDatetime) -> list[QueueItemOut]:
    items = pharmacy_queue.queue(context(request), start, end)
    return [
        QueueItemOut(
            subject_code=item.dose.subject_code,
            protocol_id=item.dose.protocol_id,
            sequence=item.dose.sequence,
            planned_start=item.dose.planned_start,
            lot=item.worksheet.lot_identifier if item.worksheet else None,
            refused=item.refused,
        )
        for item in items
    ]


def _feed_out(row: object, request: Request, token: str | None = None) -> FeedOut:
    from dosing.store.feeds import CalendarFeed
    from dosing.web.pages.feeds import public_base

    assert isinstance(row, CalendarFeed) and row.id is not None
    url, webcal = feeds.urls(public_base(request), token) if token else (None, None)
    return FeedOut(
        id=row.id,
        scope=row.scope,
        target=row.target,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        url=url,
        webcal=webcal,
    )


@router.get("/feeds", response_model=list[FeedOut], tags=["feeds"], dependencies=authenticated)
def list_feeds(request: Request) -> list[FeedOut]:
    return [_feed_out(row, request) for row in feeds.mine(context(request))]


@router.post("/feeds", response_model=FeedOut, status_code=201, tags=["feeds"], dependencies=authenticated)
def create_feed(request: Request, body: FeedIn) -> FeedOut:
    new = feeds.create(context(request), body.scope, body.target)
    return _feed_out(new.feed, request, new.token)


@router.delete("/feeds/{feed_id}", response_model=FeedOut, tags=["feeds"], dependencies=authenticated)
def revoke_feed(request: Request, feed_id: Annotated[int, Path(ge=1, le=2**31 - 1)]) -> FeedOut:
    return _feed_out(feeds.revoke(context(request), feed_id), request)
