"""Sessions, CSRF and security headers for the web application.

- The session is the application's login session (:func:`dosing.app.accounts.login`); its token lives
  in an HttpOnly, SameSite=Strict cookie, Secure when the request came over TLS (a reverse proxy that
  terminates TLS sets X-Forwarded-Proto; run uvicorn with --proxy-headers) or DOSING_WEB_SECURE=1.
- Every request resumes the session (:func:`dosing.app.accounts.resume`), which enforces the idle timeout.
- CSRF: every form carries a per-session token, an HMAC of the session token (so nothing more is
  stored and it changes with each login); the login form, before any session, uses a double-submit
  cookie. The API takes the same session cookie with the token in an X-CSRF-Token header, or a bearer
  token (which a cross-site form cannot send).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets

from fastapi import Request
from starlette.datastructures import MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dosing.app.accounts import resume
from dosing.app.context import Context
from dosing.errors import DosingError
from dosing.store.db import Store

SESSION_COOKIE = "dosing_session"
LOGIN_CSRF_COOKIE = "dosing_login_csrf"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"

#: A strict policy: scripts, styles and images only from this origin; no inline script or style, no
#: framing, forms post only here.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
#: An SVG plot served as an image: matplotlib writes its styles inline; an image runs no script.
SVG_POLICY = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
#: Swagger UI loads its assets from a CDN: the API's documentation page is the JSON document only.


class LoginRequired(Exception):
    """No open session (or it expired): pages redirect to the login page, the API answers 401."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CsrfRefused(Exception):
    pass


def secure_request(request: Request) -> bool:
    return request.url.scheme == "https" or os.environ.get("DOSING_WEB_SECURE") == "1"


def csrf_token(session_token: str) -> str:
    return hmac.new(session_token.encode(), b"dosing csrf v1", hashlib.sha256).hexdigest()


def new_login_csrf() -> str:
    return secrets.token_urlsafe(24)


def set_cookie(
    response: Response, request: Request, name: str, value: str, max_age: int | None = None
) -> None:
    response.set_cookie(
        name,
        value,
        httponly=True,
        samesite="strict",
        secure=secure_request(request),
        path="/",
        max_age=max_age,
    )


def store_of(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def session_token(request: Request) -> str | None:
    return bearer_token(request) or request.cookies.get(SESSION_COOKIE)


def context(request: Request) -> Context:
    """The authenticated context of this request (resumed on every request: the idle timeout holds)."""
    cached = getattr(request.state, "ctx", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    token = session_token(request)
    if not token:
        raise LoginRequired("not logged in")
    try:
        actor = resume(store_of(request), token)
    except DosingError as error:
        raise LoginRequired(error.message) from error
    ctx = Context(store=store_of(request), actor=actor)
    request.state.ctx = ctx
    return ctx


async def check_csrf(request: Request) -> None:
    """Refuse a state-changing request without this session's CSRF token (forms: a hidden field; the
    API with the cookie: the X-CSRF-Token header). A bearer-token request carries no ambient credential."""
    if request.method in ("GET", "HEAD", "OPTIONS") or bearer_token(request):
        return
    if request.url.path == "/api/session" and request.method == "POST":
        # Logging in uses no ambient credential; a JSON body cannot be sent by a cross-site form.
        return
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise LoginRequired("not logged in")
    expected = csrf_token(token)
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not sent or not hmac.compare_digest(sent, expected):
        raise CsrfRefused()


class SecurityHeaders:
    """Security headers on every response (a plain ASGI middleware: no per-request task or body copy)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        secure = scope.get("scheme") == "https" or os.environ.get("DOSING_WEB_SECURE") == "1"
        static = str(scope.get("path", "")).startswith("/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                svg = headers.get("content-type", "").startswith("image/svg")
                defaults = {
                    "Content-Security-Policy": SVG_POLICY if svg else CONTENT_SECURITY_POLICY,
                    "X-Content-Type-Options": "nosniff",
                    "X-Frame-Options": "DENY",
                    "Referrer-Policy": "no-referrer",
                    "Cross-Origin-Opener-Policy": "same-origin",
                    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
                }
                if not static:
                    defaults["Cache-Control"] = "no-store"
                if secure:
                    defaults["Strict-Transport-Security"] = "max-age=31536000"
                for name, value in defaults.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, with_headers)
