"""Templates and the things every page shows (who is logged in, which role pages they may open)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

from dosing.app.context import Context
from dosing.app.roles import may
from dosing.web.security import CSRF_FIELD, SESSION_COOKIE, csrf_token

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
TEMPLATES.env.globals["tz"] = ZoneInfo

#: The role pages: (path, title, the action that opens it).
ROLE_PAGES = (
    ("/ward", "Ward", "record"),
    ("/pharmacy", "Pharmacy", "prepare"),
    ("/coordinator", "Coordinator", "enroll"),
    ("/feeds", "Calendar feeds", "read_ledger"),
)


def pages_for(ctx: Context) -> list[tuple[str, str]]:
    return [(path, title) for path, title, action in ROLE_PAGES if may(ctx.actor.roles, action)]


def page(
    request: Request, template: str, ctx: Context | None, status_code: int = 200, **values: Any
) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    common = {
        "ctx": ctx,
        "actor": ctx.actor if ctx else None,
        "nav": pages_for(ctx) if ctx else [],
        "csrf_field": CSRF_FIELD,
        "csrf": csrf_token(token) if token and ctx else "",
        "path": request.url.path,
    }
    return TEMPLATES.TemplateResponse(request, template, {**common, **values}, status_code=status_code)
