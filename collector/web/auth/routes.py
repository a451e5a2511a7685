"""Sign-in pages: email and password, then TOTP for dsl and it_admin; sign-out.

Before a session exists the sign-in form is protected by a double-submit CSRF cookie. Passing
the second factor replaces the half-signed-in session with a new one (no session fixation).
"""

import io
import secrets
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup

from collector.clock import utcnow
from collector.security.credentials import hash_password, verify_password
from collector.store import NotFound
from collector.web.audit import record
from collector.web.auth.sessions import ABSOLUTE, COOKIE, Session
from collector.web.auth.throttle import LoginThrottle
from collector.web.auth.totp import TotpStore, needs_totp, provisioning_uri
from collector.web.deps import CSRF_FIELD, CurrentUser, SessionsDep, StoreDep, check_csrf
from collector.web.templating import HOME, page

if TYPE_CHECKING:
    from collector.web.auth.oidc import OidcClient

router = APIRouter(tags=["sign-in"], include_in_schema=False)

LOGIN_CSRF_COOKIE = "lantern_login_csrf"
OIDC_STATE_COOKIE = "lantern_oidc"  # collector.web.auth.oidc.STATE_COOKIE
# Verifying against this when the email is unknown keeps the response time the same.
_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _safe_next(target: str | None) -> str:
    """Only same-site paths: an open redirect after sign-in would be a phishing aid."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return ""


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(ABSOLUTE.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        path="/",
    )


def _login_page(
    request: Request, error: str = "", status_code: int = 200, next_: str = ""
) -> Response:
    token = secrets.token_urlsafe(32)
    response = page(
        request,
        "login.html",
        {
            "login_csrf": token,
            "error": error,
            "next": _safe_next(next_),
            "oidc": oidc.config.label if (oidc := getattr(request.app.state, "oidc", None)) else "",
        },
        status_code=status_code,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path="/login",
    )
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "") -> Response:
    """The sign-in form. Public."""
    return _login_page(request, next_=next)


@router.post("/login")
def login(
    request: Request,
    store: StoreDep,
    sessions: SessionsDep,
    email: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=1024)],
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD, max_length=128)] = "",
    next: Annotated[str, Form(max_length=2048)] = "",
) -> Response:
    """Check the password; then either sign in or ask for the second factor. Public."""
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not secrets.compare_digest(cookie, csrf_token):
        return _login_page(request, "The form expired. Please try again.", 403, next)
    email = email.strip().lower()
    ip = _client_ip(request)
    throttle = LoginThrottle(store.engine)  # type: ignore[attr-defined]
    now = utcnow()
    verdict = throttle.check(email, ip, now)
    if not verdict.allowed:
        minutes = max(1, (verdict.retry_after + 59) // 60)
        response = _login_page(
            request,
            f"Too many failed sign-in attempts. Try again in {minutes} minute(s), "
            "or ask IT to check the account.",
            429,
            next,
        )
        response.headers["Retry-After"] = str(verdict.retry_after)
        return response
    try:
        user = store.user_by_email(email)
    except NotFound:
        user = None
    ok = verify_password(user.password_hash if user else _DUMMY_HASH, password)
    if user is None or not ok or user.disabled:
        throttle.record(email, ip, "password", False, now)
        record(store, email, "signin.failed", "user", email, {"ip": ip, "stage": "password"})
        return _login_page(request, "That email and password do not match.", 401, next)
    mfa = needs_totp(user.role)
    throttle.record(email, ip, "password" if mfa else "done", True, now)
    if not mfa:
        record(store, email, "signin.ok", "user", user.id, {"ip": ip})
    token = sessions.create(user.id, mfa_passed=not mfa, ip=ip, now=now)
    target = "/login/totp" if mfa else (_safe_next(next) or HOME[user.role])
    if mfa and _safe_next(next):
        target += "?next=" + _safe_next(next)
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(request, response, token)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


def _pending(request: Request, sessions: SessionsDep) -> Session | None:
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        return None
    return sessions.get(cookie, utcnow())


def _qr_svg(uri: str) -> Markup:
    import segno

    buf = io.BytesIO()
    segno.make(uri, error="m").save(buf, kind="svg", scale=5, xmldecl=False, svgns=True, border=2)
    return Markup(buf.getvalue().decode())


def _totp_page(
    request: Request, session: Session, error: str = "", status_code: int = 200, next_: str = ""
) -> Response:
    totps = TotpStore(request.app.state.store.engine)
    ctx: dict[str, object] = {
        "error": error,
        "next": _safe_next(next_),
        "pending_csrf": session.csrf_token,
        "email": session.user.email,
    }
    if not totps.confirmed(session.user.id):
        secret = totps.pending_secret(session.user.id, utcnow())
        uri = provisioning_uri(secret, session.user.email)
        ctx.update(setup=True, secret=secret, uri=uri, qr=_qr_svg(uri))
    return page(request, "totp.html", ctx, status_code=status_code)


@router.get("/login/totp", response_class=HTMLResponse)
def totp_form(request: Request, sessions: SessionsDep, next: str = "") -> Response:
    """The second-factor step (and first-time set-up). Needs a password-checked session."""
    session = _pending(request, sessions)
    if session is None:
        return RedirectResponse("/login", status_code=303)
    if session.mfa_passed:
        return RedirectResponse(HOME[session.user.role], status_code=303)
    return _totp_page(request, session, next_=next)


@router.post("/login/totp")
async def totp_submit(
    request: Request,
    sessions: SessionsDep,
    code: Annotated[str, Form(max_length=16)],
    next: Annotated[str, Form(max_length=2048)] = "",
) -> Response:
    """Check the TOTP code; on success replace the session with a fully signed-in one."""
    session = await run_in_threadpool(_pending, request, sessions)
    if session is None:
        return RedirectResponse("/login", status_code=303)
    await check_csrf(request, session)
    return await run_in_threadpool(_totp_check, request, sessions, session, code, next)


def _totp_check(
    request: Request, sessions: SessionsDep, session: Session, code: str, next_: str
) -> Response:
    engine = request.app.state.store.engine
    throttle = LoginThrottle(engine)
    ip = _client_ip(request)
    now = utcnow()
    email = session.user.email.lower()
    verdict = throttle.check(email, ip, now)
    if not verdict.allowed:
        sessions.revoke(request.cookies[COOKIE])
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response
    store = request.app.state.store
    if not TotpStore(engine).verify(session.user.id, code, now):
        throttle.record(email, ip, "totp", False, now)
        record(store, email, "signin.failed", "user", session.user.id, {"ip": ip, "stage": "totp"})
        return _totp_page(
            request, session, "That code is not right. Try the current one.", 401, next_
        )
    throttle.record(email, ip, "done", True, now)
    record(store, email, "signin.ok", "user", session.user.id, {"ip": ip, "totp": True})
    token = sessions.upgrade(request.cookies[COOKIE], now)
    response = RedirectResponse(_safe_next(next_) or HOME[session.user.role], status_code=303)
    set_session_cookie(request, response, token)
    return response


@router.post("/logout")
def logout(request: Request, sessions: SessionsDep, _user: CurrentUser) -> Response:
    """Sign out (any signed-in user; CSRF-checked like every form)."""
    cookie = request.cookies.get(COOKIE)
    if cookie:
        sessions.revoke(cookie)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/", include_in_schema=False)
def home(user: CurrentUser) -> Response:
    """Each role's first page."""
    return RedirectResponse(HOME[user.role], status_code=303)


def _oidc(request: Request) -> "OidcClient":
    client: OidcClient | None = getattr(request.app.state, "oidc", None)
    if client is None:
        raise HTTPException(404, "sign-in with an identity provider is not set up")
    return client


@router.get("/login/oidc")
def oidc_start(request: Request) -> Response:
    """Send the browser to the identity provider (Entra ID / OpenID Connect). Public."""
    client = _oidc(request)
    from collector.web.auth.oidc import OidcError

    try:
        url, cookie = client.start(str(request.url_for("oidc_callback")))
    except OidcError as exc:
        return _login_page(request, str(exc), 502)
    response = RedirectResponse(url, status_code=303)
    # Lax, not Strict: the provider's redirect back is a top-level navigation from its site.
    response.set_cookie(
        OIDC_STATE_COOKIE,
        cookie,
        max_age=600,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        path="/login/oidc",
    )
    return response


@router.get("/login/oidc/callback", name="oidc_callback")
def oidc_callback(
    request: Request,
    store: StoreDep,
    sessions: SessionsDep,
    code: Annotated[str, Query(max_length=4096)] = "",
    state: Annotated[str, Query(max_length=256)] = "",
    error: Annotated[str, Query(max_length=256)] = "",
) -> Response:
    """The provider's answer: check it, then sign in the console user with that email. Public."""
    client = _oidc(request)
    from collector.web.auth.oidc import OidcError

    ip = _client_ip(request)
    now = utcnow()
    if error or not code:
        return _login_page(request, "Sign-in with the provider was cancelled or refused.", 401)
    try:
        identity = client.finish(
            str(request.url_for("oidc_callback")),
            request.cookies.get(OIDC_STATE_COOKIE, ""),
            state,
            code,
        )
    except OidcError as exc:
        return _login_page(request, str(exc), 401)
    throttle = LoginThrottle(store.engine)  # type: ignore[attr-defined]
    try:
        user = store.user_by_email(identity.email)
    except NotFound:
        user = None
    if user is None or user.disabled:
        throttle.record(identity.email, ip, "password", False, now)
        record(
            store,
            identity.email,
            "signin.failed",
            "user",
            identity.email,
            {"ip": ip, "via": "oidc"},
        )
        return _login_page(
            request, "You are signed in with your college account, but have no Lantern access.", 403
        )
    mfa_done = identity.mfa or not needs_totp(user.role)
    throttle.record(identity.email, ip, "done" if mfa_done else "password", True, now)
    if mfa_done:
        record(
            store,
            user.email,
            "signin.ok",
            "user",
            user.id,
            {"ip": ip, "via": "oidc", "mfa": identity.mfa},
        )
    token = sessions.create(user.id, mfa_passed=mfa_done, ip=ip, now=now)
    response = RedirectResponse(HOME[user.role] if mfa_done else "/login/totp", status_code=303)
    set_session_cookie(request, response, token)
    response.delete_cookie(OIDC_STATE_COOKIE, path="/login/oidc")
    return response
