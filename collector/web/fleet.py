"""What the IT pages read and change: device status, enrolment tokens, console users."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select, update

from collector.coverage import DeviceStatus, FleetFacts, fleet_status
from collector.security.credentials import ENROLMENT_PREFIX, hash_password, new_token, token_hash
from collector.store import Store, StoreError
from collector.store import models as m
from collector.web.audit import append, record, write
from collector.web.models import login_attempts, totp_secrets

RECENT = timedelta(days=7)


def _engine(store: Store) -> Engine:
    engine: Engine = store.engine  # type: ignore[attr-defined]
    return engine


def fleet_facts(store: Store, now: datetime, heartbeat: timedelta) -> FleetFacts:
    """Circumvention signs and dropped events per device in the last 7 days."""
    e = m.events
    since = now - RECENT
    with _engine(store).connect() as conn:
        tampered = {
            r[0]
            for r in conn.execute(
                select(e.c.device_id)
                .where(e.c.kind == "circumvention", e.c.observed_at >= since)
                .distinct()
            )
        }
        gaps: dict[str, int] = {}
        for device_id, detail in conn.execute(
            select(e.c.device_id, e.c.detail).where(e.c.kind == "gap", e.c.observed_at >= since)
        ):
            gaps[device_id] = gaps.get(device_id, 0) + int((detail or {}).get("dropped", 0) or 0)
    return FleetFacts(
        now=now, heartbeat=heartbeat, tampered_devices=frozenset(tampered), gaps_by_device=gaps
    )


def device_statuses(store: Store, now: datetime, heartbeat: timedelta) -> list[DeviceStatus]:
    return fleet_status(store.list_devices(), fleet_facts(store, now, heartbeat))


# --- enrolment tokens


@dataclass(frozen=True, slots=True)
class EnrolmentToken:
    id: int
    group_name: str | None
    uses_left: int | None
    expires_at: datetime | None
    revoked: bool
    created_at: datetime

    def state(self, now: datetime) -> str:
        if self.revoked:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        if self.uses_left is not None and self.uses_left <= 0:
            return "used up"
        return "active"


def list_tokens(store: Store) -> list[EnrolmentToken]:
    t = m.enrolment_tokens
    with _engine(store).connect() as conn:
        rows = conn.execute(
            select(
                t.c.id, t.c.group_name, t.c.uses_left, t.c.expires_at, t.c.revoked, t.c.created_at
            ).order_by(t.c.id.desc())
        ).all()
    return [EnrolmentToken(*r) for r in rows]


def create_token(
    store: Store, actor: str, group: str | None, uses: int | None, expires_at: datetime | None
) -> str:
    """A new enrolment token; the plain token is returned once and only its hash is kept."""
    token = new_token(ENROLMENT_PREFIX)
    store.add_enrolment_token(token_hash(token), group, uses, expires_at)
    record(
        store,
        actor,
        "enrolment_token.create",
        "enrolment_token",
        token_hash(token)[:12],
        {"group": group, "uses": uses, "expires_at": expires_at},
    )
    return token


def revoke_token(store: Store, actor: str, token_id: int) -> bool:
    t = m.enrolment_tokens
    with write(store) as conn:
        res = conn.execute(update(t).where(t.c.id == token_id).values(revoked=True))
        if res.rowcount != 1:
            return False
        append(conn, actor, "enrolment_token.revoke", "enrolment_token", token_id)
    return True


# --- console users


@dataclass(frozen=True, slots=True)
class UserRow:
    id: int
    email: str
    role: str
    disabled: bool
    created_at: datetime
    totp: bool
    last_sign_in: datetime | None


def list_users(store: Store) -> list[UserRow]:
    u, t, a = m.users, totp_secrets, login_attempts
    last = (
        select(a.c.email, func.max(a.c.at).label("at"))
        .where(a.c.ok.is_(True), a.c.stage == "done")
        .group_by(a.c.email)
        .subquery()
    )
    query = (
        select(
            u.c.id, u.c.email, u.c.role, u.c.disabled, u.c.created_at, t.c.confirmed_at, last.c.at
        )
        .outerjoin(t, t.c.user_id == u.c.id)
        .outerjoin(last, last.c.email == func.lower(u.c.email))
        .order_by(u.c.email)
    )
    with _engine(store).connect() as conn:
        rows = conn.execute(query).all()
    return [UserRow(r[0], r[1], r[2], bool(r[3]), r[4], r[5] is not None, r[6]) for r in rows]


class UserChangeError(ValueError):
    """A user change the console refuses (with a message for the page)."""


def add_user(store: Store, actor: str, email: str, role: str, password: str) -> None:
    if len(password) < 12:
        raise UserChangeError("the password must be at least 12 characters")
    try:
        user = store.add_user(email.strip().lower(), role, hash_password(password))
    except StoreError as exc:
        raise UserChangeError(str(exc)) from None
    record(store, actor, "user.add", "user", user.id, {"email": user.email, "role": role})


def change_user(
    store: Store,
    actor_id: int,
    actor: str,
    user_id: int,
    *,
    role: str | None = None,
    disabled: bool | None = None,
    reset_totp: bool = False,
) -> None:
    """Change a user's role or enabled state, or reset their second factor.

    An admin cannot demote or disable themselves: the last IT admin locking everyone out of
    user management is a support call nobody wants.
    """
    if user_id == actor_id and (role not in (None, "it_admin") or disabled):
        raise UserChangeError("you cannot remove your own access; ask another IT admin")
    u = m.users
    values: dict[str, Any] = {}
    if role is not None:
        values["role"] = role
    if disabled is not None:
        values["disabled"] = disabled
    with write(store) as conn:
        exists = conn.execute(select(u.c.email).where(u.c.id == user_id)).scalar()
        if exists is None:
            raise UserChangeError("no such user")
        if values:
            conn.execute(update(u).where(u.c.id == user_id).values(**values))
        if reset_totp:
            conn.execute(totp_secrets.delete().where(totp_secrets.c.user_id == user_id))
        append(
            conn,
            actor,
            "user.change",
            "user",
            user_id,
            {**values, "reset_totp": reset_totp},
        )
        # Any change to someone's access signs them out everywhere.
        from collector.web.models import web_sessions

        conn.execute(
            update(web_sessions).where(web_sessions.c.user_id == user_id).values(revoked=True)
        )
