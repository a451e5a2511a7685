"""Named dependencies: the store, the signed-in user, and the role checks every route declares.

A caller is either a script with a bearer API token or a person with a console session cookie.
Cookie callers must also send the session's CSRF token on every unsafe request (form field
`csrf_token` or header `X-CSRF-Token`); bearer callers cannot be forged by a browser, so they
need none.
"""

import secrets
from collections.abc import Awaitable, Callable
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from collector.clock import utcnow
from collector.security.credentials import token_hash
from collector.store import Store, TokenRejected
from collector.store.interface import UserRecord
from collector.web.auth.sessions import COOKIE, Session, SessionStore

ROLES = ("dsl", "it_admin", "trustee")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"

_bearer = HTTPBearer(auto_error=False)


def get_store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


StoreDep = Annotated[Store, Depends(get_store)]


def get_sessions(request: Request) -> SessionStore:
    sessions: SessionStore = request.app.state.sessions
    return sessions


SessionsDep = Annotated[SessionStore, Depends(get_sessions)]


class SignInRequired(HTTPException):
    """401 for the API; the console turns it into a redirect to the sign-in page."""

    def __init__(self, detail: str = "sign in or send a bearer token") -> None:
        super().__init__(
            status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"}
        )


async def check_csrf(request: Request, session: Session) -> None:
    """Refuse an unsafe cookie-authenticated request without the session's CSRF token."""
    if request.method in SAFE_METHODS:
        return
    # Defence in depth: a browser names the page that sent a POST; it must be this site.
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host", ""):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "cross-site request refused")
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()  # cached by Starlette: the route still reads its fields
        value = form.get(CSRF_FIELD, "")
        sent = value if isinstance(value, str) else ""
    if not sent or not secrets.compare_digest(sent, session.csrf_token):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "missing or wrong CSRF token")


async def current_session(request: Request) -> Session | None:
    """The console session from the cookie (signed in fully, second factor included), or None."""
    cached: Session | None = getattr(request.state, "session", None)
    if cached is not None:
        return cached
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        return None
    sessions: SessionStore = request.app.state.sessions
    session = await run_in_threadpool(sessions.get, cookie, utcnow())
    if session is None or not session.mfa_passed:
        return None
    request.state.session = session
    return session


async def current_user(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> UserRecord:
    store: Store = request.app.state.store
    if credentials is not None:
        try:
            return await run_in_threadpool(
                store.user_for_api_token, token_hash(credentials.credentials), utcnow()
            )
        except TokenRejected as exc:
            raise SignInRequired(exc.reason) from None
    session = await current_session(request)
    if session is None:
        raise SignInRequired()
    await check_csrf(request, session)
    return session.user


CurrentUser = Annotated[UserRecord, Depends(current_user)]


def require_role(*roles: str) -> Callable[[UserRecord], Awaitable[UserRecord]]:
    """A dependency that lets only the given roles through (403 for the others)."""
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles: {sorted(unknown)}")

    async def check(user: CurrentUser) -> UserRecord:
        if user.role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this needs one of: {', '.join(roles)}")
        return user

    check.roles = frozenset(roles)  # type: ignore[attr-defined]  # read by the access test
    return check


# Who may do what. Routes take one of these; the access matrix (collector/web/access.py) says
# the same thing as data and tests/collector/web/test_access.py checks they agree.
SafeguardingUser = Annotated[UserRecord, Depends(require_role("dsl"))]
FleetUser = Annotated[UserRecord, Depends(require_role("dsl", "it_admin"))]
AdminUser = Annotated[UserRecord, Depends(require_role("it_admin"))]
PolicyUser = Annotated[UserRecord, Depends(require_role("dsl", "it_admin"))]
CoverageUser = Annotated[UserRecord, Depends(require_role("dsl", "it_admin", "trustee"))]
GovernanceUser = Annotated[UserRecord, Depends(require_role("dsl", "trustee"))]
AnyUser = CoverageUser
