"""The FastAPI application: routers per role, static files, security headers, error translation.

``create_app(store)`` builds it on a store (``dosing web`` opens ``DOSING_DATABASE_URL``, by default
the embedded SQLite file). A refusal from a use case (:class:`dosing.errors.DosingError`) becomes an
error page or ``{"error": ...}`` with the field, the rule and the message: never a traceback.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, RedirectResponse, Response

from dosing.errors import DosingError, from_validation_error
from dosing.store.db import Store
from dosing.web.security import SESSION_COOKIE, CsrfRefused, LoginRequired, SecurityHeaders

STATIC = Path(__file__).parent / "static"
LOGIN_RULE = "log in first (POST /api/session)"
SCHEMA_RULE = "the API's schema (/api/openapi.json)"


def _status(error: DosingError) -> int:
    if error.field == "authority":
        return 403
    if error.field == "session":
        return 401
    return 422


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api")


def _error_page(request: Request, status: int, field: str, rule: str, message: str) -> Response:
    from dosing.web.rendering import page
    from dosing.web.security import context

    try:
        ctx = context(request) if status not in (401,) else None
    except (LoginRequired, DosingError):
        ctx = None
    return page(request, "error.html", ctx, status_code=status, field=field, rule=rule, message=message)


def create_app(store: Store | None = None) -> FastAPI:
    from dosing.web import api
    from dosing.web.pages import auth, coordinator, feeds, pharmacy, ward

    if store is None:
        from dosing.store import open_store

        store = open_store()
    app = FastAPI(
        title="cell-dosing",
        summary="Dosing and infusion scheduling for cell-therapy trials: the JSON API.",
        version="0.1.0",
        docs_url=None,  # Swagger UI would load scripts from a CDN; the document is at /api/openapi.json
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.store = store
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for router in (auth.router, ward.router, coordinator.router, pharmacy.router, feeds.router, feeds.public):
        app.include_router(router, include_in_schema=False)
    app.include_router(api.router)

    @app.exception_handler(DosingError)
    async def refused(request: Request, error: DosingError) -> Response:
        status = _status(error)
        if _is_api(request):
            return JSONResponse({"error": error.as_dict()}, status_code=status)
        return _error_page(request, status, error.field, error.rule, error.message)

    @app.exception_handler(ValidationError)
    async def invalid_value(request: Request, error: ValidationError) -> Response:
        # A use case's own model refused a value the route let through: the same answer as a DosingError.
        return await refused(request, from_validation_error(error))

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, error: LoginRequired) -> Response:
        if _is_api(request):
            return JSONResponse(
                {"error": {"field": "session", "rule": LOGIN_RULE, "message": error.reason}},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        target = request.url.path if request.method == "GET" else "/"
        response = RedirectResponse(f"/login?next={target}&reason=login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @app.exception_handler(CsrfRefused)
    async def csrf_refused(request: Request, error: CsrfRefused) -> Response:
        rule = "a form of this site, in this session (CSRF token)"
        if _is_api(request):
            return JSONResponse(
                {"error": {"field": "csrf", "rule": rule, "message": "missing or wrong CSRF token"}},
                status_code=403,
            )
        return _error_page(request, 403, "csrf", rule, "this form was not sent from this session's page")

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> Response:
        problems = error.errors()
        first = problems[0] if problems else {"loc": ["request"], "msg": "invalid"}
        field = ".".join(str(part) for part in first.get("loc", ["request"])[1:]) or "request"
        message = str(first.get("msg", "invalid"))
        if first.get("type") == "extra_forbidden":
            name = field.rsplit(".", 1)[-1]
            message = f"{name!r} is not a field of this request (a misspelled name is refused, not ignored)"
        if _is_api(request):
            return JSONResponse(
                {
                    "error": {"field": field, "rule": SCHEMA_RULE, "message": message},
                    "detail": [{"loc": list(p.get("loc", [])), "msg": str(p.get("msg"))} for p in problems],
                },
                status_code=422,
            )
        return _error_page(request, 422, field, "the form's fields", message)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        if _is_api(request) or error.status_code in (404, 405):
            problem = {"field": "request", "rule": "a known address", "message": str(error.detail)}
            return JSONResponse({"error": problem}, status_code=error.status_code)
        return _error_page(request, error.status_code, "request", "a known address", str(error.detail))

    return app


def app_from_environment() -> FastAPI:
    """For ``uvicorn --factory dosing.web.app:app_from_environment`` (several workers at a site).

    Everything built at start-up (modules, the application, its routes, templates and models) lives
    as long as the worker: it is moved out of the garbage collector's reach (``gc.freeze``), so that
    its full collections no longer walk it. They took 130-160 ms each, every 15-30 requests, on this
    machine: the pages' p95 (``benchmarks/bench_web.py``)."""
    import gc

    from dosing.web import plots  # noqa: F401 (matplotlib: loaded before the freeze, not by a first plot)

    app = create_app()
    gc.collect()
    gc.freeze()
    return app
