"""Login and logout: the application's accounts, a session cookie, the login form's CSRF cookie."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import RedirectResponse, Response

from dosing.app import accounts
from dosing.app.roles import may
from dosing.errors import DosingError
from dosing.web.rendering import page, pages_for
from dosing.web.security import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    CsrfRefused,
    LoginRequired,
    check_csrf,
    context,
    new_login_csrf,
    set_cookie,
    store_of,
)

router = APIRouter()


def _safe_next(target: str | None) -> str:
    # Only a path on this site: never an open redirect to another host.
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


@router.get("/login")
def login_form(request: Request, next: str | None = None, reason: str | None = None) -> Response:
    token = new_login_csrf()
    response = page(request, "login.html", None, login_csrf=token, next=_safe_next(next), reason=reason)
    set_cookie(response, request, LOGIN_CSRF_COOKIE, token)
    return response


@router.post("/login")
def login(
    request: Request,
    username: str = Form(..., max_length=64),
    password: str = Form(..., max_length=128),
    csrf: str = Form(""),
    next: str = Form("/"),
) -> Response:
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(csrf, expected):
        raise CsrfRefused()
    try:
        token, _actor = accounts.login(store_of(request), username, password, client="web")
    except DosingError as error:
        fresh = new_login_csrf()
        response = page(
            request,
            "login.html",
            None,
            status_code=401,
            login_csrf=fresh,
            next=_safe_next(next),
            error=error.message,
        )
        set_cookie(response, request, LOGIN_CSRF_COOKIE, fresh)
        return response
    response = RedirectResponse(_safe_next(next), status_code=303)
    set_cookie(response, request, SESSION_COOKIE, token)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
    return response


@router.post("/logout", dependencies=[Depends(check_csrf)])
def logout(request: Request) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        accounts.logout(store_of(request), token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/")
def home(request: Request) -> Response:
    try:
        ctx = context(request)
    except LoginRequired:
        return RedirectResponse("/login", status_code=303)
    pages = pages_for(ctx)
    if len(pages) == 2 and may(ctx.actor.roles, "read_ledger"):
        # One role page (and the feeds): go straight to it.
        return RedirectResponse(pages[0][0], status_code=303)
    return page(request, "home.html", ctx, pages=pages)
