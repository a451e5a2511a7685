"""Server-side sessions: the cookie holds a random token, the database holds its hash.

A session ends after `IDLE` without use or `ABSOLUTE` after sign-in, whichever is first, and
on sign-out. Safeguarding data is on these screens: a forgotten browser tab must not stay open.
"""

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, insert, select, update

from collector.security.credentials import token_hash
from collector.store import models as m
from collector.store.interface import UserRecord
from collector.web.models import web_sessions

COOKIE = "lantern_session"
IDLE = timedelta(minutes=30)
ABSOLUTE = timedelta(hours=12)
# Touch last_seen_at at most this often: a page full of polling must not write every request.
_TOUCH_EVERY = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    user: UserRecord
    csrf_token: str
    mfa_passed: bool
    created_at: datetime
    last_seen_at: datetime


class SessionStore:
    """Sessions over the collector's SQLAlchemy engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @staticmethod
    def token_id(token: str) -> str:
        """The stored id of a cookie value."""
        return token_hash(token)

    def create(self, user_id: int, *, mfa_passed: bool, ip: str, now: datetime) -> str:
        """Start a session and return the cookie value (shown once, stored only hashed)."""
        token = secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            conn.execute(
                insert(web_sessions).values(
                    id=token_hash(token),
                    user_id=user_id,
                    created_at=now,
                    last_seen_at=now,
                    expires_at=now + ABSOLUTE,
                    csrf_token=secrets.token_urlsafe(32),
                    mfa_passed=mfa_passed,
                    ip=ip[:64],
                    revoked=False,
                )
            )
        return token

    def get(self, token: str, now: datetime) -> Session | None:
        """The live session for a cookie value, or None (unknown, expired, idle, revoked)."""
        s, u = web_sessions, m.users
        with self.engine.connect() as conn:
            row = (
                conn.execute(
                    select(s, u.c.email, u.c.role, u.c.password_hash, u.c.disabled)
                    .join(u, u.c.id == s.c.user_id)
                    .where(s.c.id == token_hash(token))
                )
                .mappings()
                .first()
            )
        if row is None or row["revoked"] or row["disabled"]:
            return None
        if row["expires_at"] <= now or now - row["last_seen_at"] > IDLE:
            return None
        if now - row["last_seen_at"] > _TOUCH_EVERY:
            with self.engine.begin() as conn:
                conn.execute(update(s).where(s.c.id == row["id"]).values(last_seen_at=now))
        user = UserRecord(
            id=row["user_id"],
            email=row["email"],
            role=row["role"],
            password_hash=row["password_hash"],
            disabled=bool(row["disabled"]),
        )
        return Session(
            id=row["id"],
            user=user,
            csrf_token=row["csrf_token"],
            mfa_passed=bool(row["mfa_passed"]),
            created_at=row["created_at"],
            last_seen_at=row["last_seen_at"],
        )

    def upgrade(self, token: str, now: datetime) -> str:
        """The second factor passed: replace the session with a fresh one (no fixation)."""
        s = web_sessions
        with self.engine.connect() as conn:
            row = conn.execute(
                select(s.c.user_id, s.c.ip).where(s.c.id == token_hash(token))
            ).first()
        if row is None:
            raise LookupError("no such session")
        self.revoke(token)
        return self.create(row[0], mfa_passed=True, ip=row[1], now=now)

    def revoke(self, token: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(web_sessions)
                .where(web_sessions.c.id == token_hash(token))
                .values(revoked=True)
            )

    def revoke_user(self, user_id: int) -> None:
        """Sign a user out everywhere (disabled, role changed, password reset)."""
        with self.engine.begin() as conn:
            conn.execute(
                update(web_sessions).where(web_sessions.c.user_id == user_id).values(revoked=True)
            )
