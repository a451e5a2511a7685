"""Every route of the app, with every role and with no one signed in, against the access matrix."""

import re
from typing import Any

import fastapi.routing
import pytest
from fastapi.testclient import TestClient

from collector.security.credentials import API_PREFIX, new_token, token_hash
from collector.store import SqlStore
from collector.web.access import ACCESS
from collector.web.deps import ROLES
from tests.collector.web.conftest import Browser, add_alert, add_device, add_user, sign_in

PARAM = re.compile(r"\{(\w+)\}")


def app_routes(app: Any) -> list[tuple[str, str]]:
    out = []
    for ctx in fastapi.routing.iter_route_contexts(app.routes):
        if ctx.path == "/static":
            continue
        for method in sorted(ctx.methods or ()):
            if method != "HEAD":
                out.append((method, ctx.path_format or ctx.path or ""))
    return out


def test_every_route_is_in_the_access_matrix(app: Any) -> None:
    routes = {f"{m} {p}" for m, p in app_routes(app)}
    assert routes - set(ACCESS) == set(), "routes nobody has decided access for"
    assert set(ACCESS) - routes == set(), "matrix entries for routes that do not exist"


def _fill(path: str, ids: dict[str, object]) -> str:
    return PARAM.sub(lambda mt: str(ids[mt.group(1)]), path)


@pytest.fixture
def seeded(store: SqlStore) -> dict[str, object]:
    device = add_device(store, "LAB-01")
    alert_id = add_alert(store, device)
    other = add_user(store, "trustee")
    return {
        "alert_id": alert_id,
        "token_id": 1,
        "user_id": store.user_by_email(other).id,
        "keyword_id": 1,
        "person_id": 1,
        "flag_id": 1,
        "login": "guest01",
        "device_id": device,
        "name": "library",
        "external_id": "S001",
    }


def _request(client: TestClient, method: str, path: str, csrf: str, headers: dict[str, str]) -> Any:
    if method == "GET":
        return client.get(path, headers=headers, follow_redirects=False)
    return client.request(
        method, path, data={"csrf_token": csrf}, headers=headers, follow_redirects=False
    )


def _ordered(routes: list[tuple[str, str]]) -> list[tuple[str, str]]:
    # Sign-out last: it ends the session the rest of the walk uses.
    return sorted(routes, key=lambda r: r == ("POST", "/logout"))


@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_exactly_its_routes(
    app: Any, store: SqlStore, seeded: dict[str, object], role: str
) -> None:
    browser: Browser = sign_in(app, store, role)
    wrong = []
    for method, path in _ordered(app_routes(app)):
        allowed = ACCESS[f"{method} {path}"]
        response = _request(
            browser.client,
            method,
            _fill(path, seeded),
            browser.csrf,
            {"Accept": "application/json"},
        )
        refused = response.status_code in (401, 403)
        if "public" in allowed:
            continue
        if (role in allowed) == refused:
            wrong.append(f"{method} {path}: {response.status_code}")
    assert wrong == [], f"{role} got the wrong answer on: {wrong}"


def test_no_one_signed_in_gets_only_public_routes(app: Any, seeded: dict[str, object]) -> None:
    client = TestClient(app)
    wrong = []
    for method, path in app_routes(app):
        allowed = ACCESS[f"{method} {path}"]
        response = _request(client, method, _fill(path, seeded), "", {"Accept": "application/json"})
        if "public" in allowed:
            if response.status_code in (401, 403) and path not in ("/login", "/login/totp"):
                wrong.append(f"{method} {path}: {response.status_code}")
        elif response.status_code != 401:
            wrong.append(f"{method} {path}: {response.status_code}")
    assert wrong == []


@pytest.mark.parametrize("role", ROLES)
def test_api_routes_with_bearer_tokens_follow_the_matrix(
    app: Any, store: SqlStore, seeded: dict[str, object], role: str
) -> None:
    email = add_user(store, role)
    token = new_token(API_PREFIX)
    store.add_api_token(store.user_by_email(email).id, token_hash(token), None)
    client = TestClient(app)
    for method, path in app_routes(app):
        if not path.startswith("/api/"):
            continue
        allowed = ACCESS[f"{method} {path}"]
        response = _request(
            client, method, _fill(path, seeded), "", {"Authorization": f"Bearer {token}"}
        )
        assert (response.status_code == 403) != (role in allowed), (
            method,
            path,
            response.status_code,
        )


def test_pages_refused_to_a_role_say_so_in_html(app: Any, store: SqlStore) -> None:
    trustee = sign_in(app, store, "trustee")
    response = trustee.get("/alerts")
    assert response.status_code == 403
    assert "Your role cannot open this page" in response.text
