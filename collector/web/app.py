"""The FastAPI application: the console (server-rendered pages), the REST API under /api/v1,
health, and the OpenAPI schema at /openapi.json.

Who may use each route is declared on the route (a role dependency from deps.py) and listed as
data in access.py; tests/collector/web/test_access.py walks every route with every role.
"""

from datetime import timedelta
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from collector.directory import routes as directory_routes
from collector.store import Store
from collector.web import transparency
from collector.web.auth import routes as sign_in
from collector.web.auth.sessions import SessionStore
from collector.web.console import (
    account,
    api_docs,
    audit_log,
    directory,
    fleet,
    governance,
    policy,
    reports,
    rules,
    safeguarding,
)
from collector.web.routes import alerts, coverage, devices, health
from collector.web.security_headers import SecurityHeaders
from collector.web.templating import STATIC_DIR, page

if TYPE_CHECKING:
    from collector.web.auth.oidc import OidcConfig


def _wants_html(request: Request) -> bool:
    """Console pages get pages; the API, scripts and the live-update poll get JSON."""
    if request.url.path.startswith("/api/") or "authorization" in request.headers:
        return False
    return "text/html" in request.headers.get("accept", "")


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if _wants_html(request):
        if exc.status_code == 401:
            target = request.url.path
            if request.url.query:
                target += "?" + request.url.query
            return RedirectResponse(
                "/login" + (f"?next={target}" if request.method == "GET" else ""), status_code=303
            )
        headings = {403: "Not allowed", 404: "Not found", 429: "Too many requests"}
        return page(
            request,
            "error.html",
            {
                "heading": headings.get(exc.status_code, "Something went wrong"),
                "message": exc.detail
                if exc.status_code != 403
                else "Your role cannot open this page. Ask your DSL or IT if you need access.",
            },
            status_code=exc.status_code,
        )
    if exc.status_code == 422 and isinstance(exc.detail, str):
        # One shape for every 422, the one the schema documents: a list of validation errors.
        return JSONResponse(
            {"detail": [{"loc": ["body"], "msg": exc.detail, "type": "value_error"}]},
            status_code=422,
        )
    return await http_exception_handler(request, exc)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    if _wants_html(request):
        return page(
            request,
            "error.html",
            {"heading": "Please check the form", "message": "Some of what was sent is not valid."},
            status_code=422,
        )
    return await request_validation_exception_handler(request, exc)


def create_app(
    store: Store,
    *,
    heartbeat: timedelta = timedelta(seconds=30),
    oidc: "OidcConfig | None" = None,
) -> FastAPI:
    """The app over an open store. `heartbeat` is the agents' heartbeat interval (coverage
    status derives from it); `oidc` turns on sign-in with an identity provider."""
    app = FastAPI(
        title="Lantern collector",
        version="1",
        description="Safeguarding alerts, fleet health and monitoring coverage.",
        # The stock Swagger page loads from a CDN and runs inline script; neither is allowed,
        # so /docs is console/api_docs.py with Swagger UI vendored under static/.
        docs_url=None,
        redoc_url=None,
        # Every route may answer these; documenting them keeps the schema honest for clients.
        responses={
            401: {"description": "not signed in, or the bearer token is unknown or expired"},
            403: {"description": "signed in, but this role may not use this route"},
            404: {"description": "no such object (or nothing made yet)"},
            409: {"description": "the object changed meanwhile (someone else acted first)"},
        },
    )
    app.state.store = store
    app.state.sessions = SessionStore(store.engine)  # type: ignore[attr-defined]
    app.state.heartbeat = heartbeat
    app.state.oidc = None
    if oidc is not None:
        from collector.web.auth.oidc import OidcClient  # Authlib and httpx only when used

        app.state.oidc = OidcClient(oidc)
    app.add_middleware(SecurityHeaders)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    app.include_router(health.router)
    app.include_router(alerts.router)
    app.include_router(devices.router)
    app.include_router(coverage.router)
    app.include_router(directory_routes.router)
    app.include_router(sign_in.router)
    app.include_router(safeguarding.router)
    app.include_router(fleet.router)
    app.include_router(directory.router)
    app.include_router(reports.router)
    app.include_router(rules.router)
    app.include_router(policy.router)
    app.include_router(governance.router)
    app.include_router(audit_log.router)
    app.include_router(api_docs.router)
    app.include_router(account.router)
    app.include_router(transparency.router)

    # An id or offset too large for a database integer cannot name anything that exists.
    async def no_such_object(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": "no such object"}, status_code=404)

    app.add_exception_handler(OverflowError, no_such_object)
    app.add_exception_handler(DataError, no_such_object)
    return app
