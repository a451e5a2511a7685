"""Console fixtures: a fresh SQLite store, the app, signed-in clients per role, a seeded fleet."""

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, select

from collector.security.credentials import hash_password
from collector.store import SqlStore, open_store
from collector.store import models as m
from collector.web.app import create_app
from collector.web.models import totp_secrets

# The console's own packages (pyproject); skip, not crash, on a venv without them.
pyotp = pytest.importorskip("pyotp")
pytest.importorskip("segno")
pytest.importorskip("fpdf")

PASSWORD = "correct horse battery staple"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    s = open_store(f"sqlite:///{tmp_path / 'lantern.db'}")
    yield s
    s.close()


@pytest.fixture
def app(store: SqlStore) -> Any:
    return create_app(store)


@dataclass
class Browser:
    """A TestClient signed in as one user, with the session's CSRF token."""

    client: TestClient
    email: str
    role: str
    csrf: str

    def get(self, path: str, **kw: Any) -> Any:
        kw.setdefault("headers", {"Accept": "text/html"})
        return self.client.get(path, follow_redirects=False, **kw)

    def post(self, path: str, data: dict[str, Any] | None = None, **kw: Any) -> Any:
        kw.setdefault("headers", {"Accept": "text/html"})
        return self.client.post(
            path, data={"csrf_token": self.csrf, **(data or {})}, follow_redirects=False, **kw
        )


def add_user(store: SqlStore, role: str, email: str | None = None) -> str:
    email = email or f"{role}-{uuid.uuid4().hex[:8]}@college.example"
    store.add_user(email, role, hash_password(PASSWORD))
    return email


def totp_code(store: SqlStore, email: str, at: datetime | None = None) -> str:
    user = store.user_by_email(email)
    with store.engine.connect() as conn:
        secret = conn.execute(
            select(totp_secrets.c.secret).where(totp_secrets.c.user_id == user.id)
        ).scalar_one()
    return pyotp.TOTP(secret).at(at or datetime.now(UTC))


def password_step(client: TestClient, email: str, password: str = PASSWORD) -> Any:
    form = client.get("/login")
    token = CSRF.search(form.text)
    assert token, form.text
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": token.group(1)},
        follow_redirects=False,
    )


def sign_in(app: Any, store: SqlStore, role: str, base_url: str = "http://testserver") -> Browser:
    email = add_user(store, role)
    client = TestClient(app, base_url=base_url)
    response = password_step(client, email)
    assert response.status_code == 303, response.text
    if response.headers["location"].startswith("/login/totp"):
        page = client.get("/login/totp")
        pending = CSRF.search(page.text)
        assert pending
        response = client.post(
            "/login/totp",
            data={"code": totp_code(store, email), "csrf_token": pending.group(1)},
            follow_redirects=False,
        )
        assert response.status_code == 303, response.text
    home = client.get(response.headers["location"])
    assert home.status_code == 200, home.text
    token = CSRF.search(home.text)
    assert token
    return Browser(client, email, role, token.group(1))


@pytest.fixture
def as_role(app: Any, store: SqlStore) -> Any:
    def make(role: str) -> Browser:
        return sign_in(app, store, role)

    return make


# --- seeded data

NOW = datetime.now(UTC).replace(microsecond=0)


def add_device(
    store: SqlStore,
    hostname: str,
    *,
    serial: str = "",
    last_seen: datetime | None = None,
    last_event: datetime | None = None,
    capabilities: dict[str, str] | None = None,
    agent_version: str = "1.0.0",
    group: str | None = None,
    revoked: bool = False,
    enrolled_at: datetime | None = None,
) -> str:
    device_id = str(uuid.uuid4())
    with store.engine.begin() as conn:
        conn.execute(
            insert(m.devices).values(
                id=device_id,
                instance_id=uuid.uuid4().hex,
                secret_hash="x" * 64,
                hostname=hostname,
                hardware_serial=serial,
                os="linux",
                os_version="Debian 13",
                agent_version=agent_version,
                group_name=group,
                enrolled_at=enrolled_at or NOW - timedelta(days=30),
                last_seen_at=last_seen,
                last_event_at=last_event,
                last_seq=0,
                capabilities=capabilities
                if capabilities is not None
                else {"windows": "ok", "keyboard": "ok", "browser": "ok"},
                spool_depth=0,
                revoked=revoked,
            )
        )
    return device_id


_seq = iter(range(1, 10**9))


def add_event(
    store: SqlStore,
    device_id: str,
    kind: str,
    at: datetime,
    *,
    os_user: str = "",
    app: str = "",
    title: str = "",
    detail: dict[str, Any] | None = None,
) -> str:
    event_id = str(uuid.uuid4())
    with store.engine.begin() as conn:
        conn.execute(
            insert(m.events).values(
                event_id=event_id,
                device_id=device_id,
                seq=next(_seq),
                kind=kind,
                observed_at=at,
                received_at=at,
                os_user=os_user,
                app=app,
                title=title,
                detail=detail or {},
            )
        )
    return event_id


def add_alert(
    store: SqlStore,
    device_id: str,
    *,
    severity: int = 4,
    category: str = "self_harm",
    os_user: str = "COLLEGE\\jsmith",
    at: datetime | None = None,
    matched: str = "hurt myself",
    snippet: str = "i want to hurt myself tonight",
    status: str = "new",
    site: str = "",
    **extra: Any,
) -> int:
    at = at or NOW - timedelta(minutes=5)
    event_id = add_event(
        store,
        device_id,
        "risk_match",
        at,
        os_user=os_user,
        app="firefox",
        title="Search - Firefox",
        detail={"category": category, "severity": severity, "matched": matched},
    )
    with store.engine.begin() as conn:
        result = conn.execute(
            insert(m.alerts).values(
                created_at=at,
                last_seen_at=at,
                count=1,
                status=status,
                severity=severity,
                category=category,
                rule=f"{category}.rule",
                source="typed",
                device_id=device_id,
                os_user=os_user,
                app="firefox",
                title="Search - Firefox",
                matched=matched,
                snippet=snippet,
                first_event_id=event_id,
                dedup_key=f"{device_id}:{category}:{uuid.uuid4().hex}",
                site=site,
                **extra,
            )
        )
    return int(result.inserted_primary_key[0])
