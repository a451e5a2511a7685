"""Named dependencies: the store, the signed-in user, and role checks routes declare."""

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from collector.clock import utcnow
from collector.security.credentials import token_hash
from collector.store import Store, TokenRejected
from collector.store.interface import UserRecord

ROLES = ("dsl", "it_admin", "trustee")

_bearer = HTTPBearer(auto_error=False)


def get_store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


StoreDep = Annotated[Store, Depends(get_store)]


def current_user(
    store: StoreDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> UserRecord:
    if credentials is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "sign in or send a bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    try:
        return store.user_for_api_token(token_hash(credentials.credentials), utcnow())
    except TokenRejected as exc:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, exc.reason, headers={"WWW-Authenticate": "Bearer"}
        ) from None


CurrentUser = Annotated[UserRecord, Depends(current_user)]


def require_role(*roles: str) -> Callable[[UserRecord], UserRecord]:
    """A dependency that lets only the given roles through (403 for the others)."""

    def check(user: CurrentUser) -> UserRecord:
        if user.role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this needs one of: {', '.join(roles)}")
        return user

    return check


SafeguardingUser = Annotated[UserRecord, Depends(require_role("dsl"))]
FleetUser = Annotated[UserRecord, Depends(require_role("dsl", "it_admin"))]
