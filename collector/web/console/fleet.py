"""IT pages: devices and their health, enrolment tokens, console users and roles.

Nothing here reads alerts: IT never sees alert content.
"""

from collections import Counter
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from collector.clock import utcnow
from collector.coverage import CONNECTIONS
from collector.security.credentials import parse_duration
from collector.web import fleet
from collector.web.deps import ROLES, AdminUser, FleetUser, StoreDep
from collector.web.templating import page

router = APIRouter(tags=["console"], include_in_schema=False)


@router.get("/devices", response_class=HTMLResponse)
def devices_page(request: Request, store: StoreDep, _user: FleetUser, show: str = "") -> Response:
    """Every device: status, agent version, capabilities, spool and gaps, last seen."""
    statuses = fleet.device_statuses(store, utcnow(), request.app.state.heartbeat)
    counts = Counter(s.label for s in statuses)
    counts["shared"] = sum("shared" in s.flags for s in statuses)  # information, never the label
    shown = [s for s in statuses if not show or s.label == show or show in s.flags]
    return page(
        request,
        "devices.html",
        {
            "statuses": shown,
            "counts": counts,
            "total": len(statuses),
            "labels": (
                *CONNECTIONS,
                "blind",
                "outdated",
                "tampered",
                "cloned",
                "revoked",
                "shared",
            ),
            "show": show,
        },
    )


@router.get("/tokens", response_class=HTMLResponse)
def tokens_page(request: Request, store: StoreDep, _user: AdminUser) -> Response:
    """Enrolment tokens with uses left and state; create and revoke."""
    return page(
        request,
        "tokens.html",
        {"tokens": fleet.list_tokens(store), "now": utcnow(), "new_token": "", "error": ""},
    )


@router.post("/tokens", response_class=HTMLResponse)
def token_create(
    request: Request,
    store: StoreDep,
    user: AdminUser,
    group: Annotated[str, Form(max_length=128)] = "",
    uses: Annotated[str, Form(max_length=9)] = "",
    expires: Annotated[str, Form(max_length=8)] = "7d",
) -> Response:
    """Create a token; the page shows it once (only its hash is stored)."""
    error = ""
    token = ""
    try:
        uses_n = int(uses) if uses.strip() else None
        if uses_n is not None and uses_n < 1:
            raise ValueError("uses must be 1 or more, or empty for unlimited")
        expires_at = utcnow() + parse_duration(expires) if expires.strip() else None
    except ValueError as exc:
        error = str(exc)
    else:
        token = fleet.create_token(store, user.email, group.strip() or None, uses_n, expires_at)
    return page(
        request,
        "tokens.html",
        {"tokens": fleet.list_tokens(store), "now": utcnow(), "new_token": token, "error": error},
        status_code=422 if error else 200,
    )


@router.post("/tokens/{token_id}/revoke")
def token_revoke(store: StoreDep, user: AdminUser, token_id: int) -> Response:
    if not fleet.revoke_token(store, user.email, token_id):
        raise HTTPException(404, "no such token")
    return RedirectResponse("/tokens", status_code=303)


@router.get("/users", response_class=HTMLResponse)
def users_page(request: Request, store: StoreDep, _user: AdminUser, error: str = "") -> Response:
    """Console users: roles, second factor, last sign-in; add, change role, disable."""
    return page(
        request,
        "users.html",
        {"users": fleet.list_users(store), "roles": ROLES, "error": error[:200]},
    )


@router.post("/users")
def user_add(
    request: Request,
    store: StoreDep,
    user: AdminUser,
    email: Annotated[str, Form(min_length=3, max_length=320)],
    role: Annotated[str, Form(max_length=16)],
    password: Annotated[str, Form(max_length=1024)],
) -> Response:
    if role not in ROLES:
        raise HTTPException(422, "unknown role")
    try:
        fleet.add_user(store, user.email, email, role, password)
    except fleet.UserChangeError as exc:
        return users_page(request, store, user, str(exc))
    return RedirectResponse("/users", status_code=303)


@router.post("/users/{user_id}")
def user_change(
    request: Request,
    store: StoreDep,
    user: AdminUser,
    user_id: int,
    action: Annotated[str, Form(max_length=16)],
    role: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    """action: role (with role=...), disable, enable, reset_totp."""
    try:
        if action == "role":
            if role not in ROLES:
                raise HTTPException(422, "unknown role")
            fleet.change_user(store, user.id, user.email, user_id, role=role)
        elif action in ("disable", "enable"):
            fleet.change_user(store, user.id, user.email, user_id, disabled=action == "disable")
        elif action == "reset_totp":
            fleet.change_user(store, user.id, user.email, user_id, reset_totp=True)
        else:
            raise HTTPException(422, "unknown action")
    except fleet.UserChangeError as exc:
        return users_page(request, store, user, str(exc))
    return RedirectResponse("/users", status_code=303)
