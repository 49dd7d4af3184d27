"""Calendar feeds: the page where a person creates, lists and revokes subscription URLs, and the
feed itself (``GET /feeds/{token}.ics``), read by calendar clients without a login."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import RedirectResponse, Response

from dosing.app import feeds
from dosing.web.rendering import page
from dosing.web.security import check_csrf, context, store_of

router = APIRouter(dependencies=[Depends(check_csrf)])
public = APIRouter()


def public_base(request: Request) -> str:
    import os

    return os.environ.get("DOSING_WEB_URL") or str(request.base_url).rstrip("/")


@router.get("/feeds")
def feeds_page(request: Request) -> Response:
    ctx = context(request)
    return page(request, "feeds.html", ctx, feeds=feeds.mine(ctx), sites=feeds.known_sites(), new=None)


def _created(request: Request, new: feeds.NewFeed) -> Response:
    ctx = context(request)
    https, webcal = feeds.urls(public_base(request), new.token)
    return page(
        request,
        "feeds.html",
        ctx,
        feeds=feeds.mine(ctx),
        sites=feeds.known_sites(),
        new={"feed": new.feed, "https": https, "webcal": webcal},
    )


@router.post("/feeds")
def create(
    request: Request, scope: str = Form(..., max_length=16), target: str = Form(..., max_length=64)
) -> Response:
    ctx = context(request)
    return _created(request, feeds.create(ctx, feeds.parse_scope(scope), target))


@router.post("/feeds/{feed_id}/revoke")
def revoke(request: Request, feed_id: int, regenerate: str = Form("")) -> Response:
    ctx = context(request)
    if regenerate:
        return _created(request, feeds.regenerate(ctx, feed_id))
    feeds.revoke(ctx, feed_id)
    return RedirectResponse("/feeds", status_code=303)


@public.api_route("/feeds/{token}.ics", methods=["GET", "HEAD"], include_in_schema=False)
def feed(request: Request, token: str) -> Response:
    from calendars.feed import entity_tag

    body = feeds.calendar(store_of(request), token)
    if body is None:
        return Response("Not Found", status_code=404, media_type="text/plain")
    tag = entity_tag(body)
    headers = {"ETag": tag, "Cache-Control": "private, no-cache"}
    sent = request.headers.get("if-none-match", "")
    if tag in [part.strip() for part in sent.split(",")] or sent.strip() == "*":
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="text/calendar; charset=utf-8", headers=headers)
