"""Jinja2 templates (autoescaped) and the one function console routes render pages with."""

from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from collector.web.auth.sessions import Session

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"

templates = Jinja2Templates(directory=str(TEMPLATES_DIR))

# The navigation each role sees: (path, label). Pages a role cannot open are not offered.
NAV: dict[str, tuple[tuple[str, str], ...]] = {
    "dsl": (
        ("/alerts", "Alert queue"),
        ("/reports/weekly", "Weekly report"),
        ("/rules", "Rules"),
        ("/devices", "Devices"),
        ("/directory", "Directory"),
        ("/policy", "Policy"),
        ("/coverage", "Coverage"),
        ("/governance", "Trends"),
        ("/report", "Annual review"),
        ("/audit", "Audit log"),
    ),
    "it_admin": (
        ("/devices", "Devices"),
        ("/tokens", "Enrolment tokens"),
        ("/directory", "Directory"),
        ("/policy", "Policy"),
        ("/users", "Users"),
        ("/coverage", "Coverage"),
        ("/audit", "Audit log"),
    ),
    "trustee": (
        ("/coverage", "Coverage"),
        ("/governance", "Trends"),
        ("/report", "Annual review"),
    ),
}

HOME = {"dsl": "/alerts", "it_admin": "/devices", "trustee": "/coverage"}


def _when(value: datetime | None) -> str:
    return "—" if value is None else value.strftime("%Y-%m-%d %H:%M")


templates.env.filters["when"] = _when


def page(
    request: Request, name: str, context: dict[str, Any] | None = None, status_code: int = 200
) -> HTMLResponse:
    """Render a console page with the signed-in user, CSRF token and navigation."""
    session: Session | None = getattr(request.state, "session", None)
    ctx: dict[str, Any] = {
        "user": session.user if session else None,
        "csrf_token": session.csrf_token if session else "",
        "nav": NAV.get(session.user.role, ()) if session else (),
        "path": request.url.path,
    }
    ctx.update(context or {})
    return templates.TemplateResponse(request, name, ctx, status_code=status_code)
