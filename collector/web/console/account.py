"""The signed-in person's own account: change the password, sign out everywhere else."""

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import update

from collector.security.credentials import hash_password, verify_password
from collector.store import models as m
from collector.web.audit import append, write
from collector.web.auth.sessions import COOKIE, SessionStore
from collector.web.deps import AnyUser, StoreDep
from collector.web.models import web_sessions
from collector.web.templating import page

router = APIRouter(tags=["console"], include_in_schema=False)

MIN_PASSWORD = 12


@router.get("/account", response_class=HTMLResponse)
def account_page(request: Request, _user: AnyUser) -> Response:
    """Change password; sign out of every other browser."""
    return page(request, "account.html", {"message": "", "error": ""})


@router.post("/account/password", response_class=HTMLResponse)
def change_password(
    request: Request,
    store: StoreDep,
    user: AnyUser,
    current: Annotated[str, Form(max_length=1024)],
    new: Annotated[str, Form(max_length=1024)],
    repeat: Annotated[str, Form(max_length=1024)],
) -> Response:
    error = ""
    if not verify_password(user.password_hash, current):
        error = "The current password is not right."
    elif len(new) < MIN_PASSWORD:
        error = f"The new password must be at least {MIN_PASSWORD} characters."
    elif new != repeat:
        error = "The two new passwords differ."
    elif new == current:
        error = "The new password is the same as the current one."
    if error:
        return page(request, "account.html", {"message": "", "error": error}, status_code=422)
    this = SessionStore.token_id(request.cookies.get(COOKIE, ""))
    with write(store) as conn:
        conn.execute(
            update(m.users).where(m.users.c.id == user.id).values(password_hash=hash_password(new))
        )
        # Whoever else knew the old password is signed out; this browser stays signed in.
        conn.execute(
            update(web_sessions)
            .where(web_sessions.c.user_id == user.id, web_sessions.c.id != this)
            .values(revoked=True)
        )
        append(conn, user.email, "user.password_changed", "user", user.id)
    return page(request, "account.html", {"message": "Password changed.", "error": ""})


@router.post("/account/sign-out-others", response_class=HTMLResponse)
def sign_out_others(request: Request, store: StoreDep, user: AnyUser) -> Response:
    this = SessionStore.token_id(request.cookies.get(COOKIE, ""))
    with write(store) as conn:
        res = conn.execute(
            update(web_sessions)
            .where(
                web_sessions.c.user_id == user.id,
                web_sessions.c.id != this,
                web_sessions.c.revoked.is_(False),
            )
            .values(revoked=True)
        )
        append(
            conn,
            user.email,
            "user.signed_out_elsewhere",
            "user",
            user.id,
            {"sessions": res.rowcount},
        )
    return page(
        request,
        "account.html",
        {"message": f"Signed out of {res.rowcount} other session(s).", "error": ""},
    )
