"""Security headers on every response, and no inline script anywhere in the console."""

import re
from typing import Any

from fastapi.testclient import TestClient

from collector.store import SqlStore
from tests.collector.web.conftest import NOW, add_alert, add_device

PAGES = {
    "dsl": ["/alerts", "/devices", "/policy", "/coverage", "/governance", "/report"],
    "it_admin": ["/devices", "/tokens", "/directory", "/policy", "/users", "/coverage"],
    "trustee": ["/coverage", "/governance", "/report"],
}


def _check_headers(response: Any) -> None:
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"


def test_headers_on_public_pages_api_and_errors(app: Any) -> None:
    client = TestClient(app)
    for path in ("/login", "/docs", "/healthz", "/api/v1/alerts", "/static/console.css", "/nope"):
        _check_headers(client.get(path))
    assert client.get("/login").headers["cache-control"] == "no-store"


def test_api_docs_are_served_locally(app: Any) -> None:
    html = TestClient(app).get("/docs").text
    scripts = re.findall(r'<script src="([^"]+)"', html)
    assert scripts and all(src.startswith("/static/") for src in scripts)
    for src in scripts:
        assert TestClient(app).get(src).status_code == 200


def test_no_page_has_inline_script_or_external_resources(as_role: Any, store: SqlStore) -> None:
    device = add_device(store, "LAB-01", last_seen=NOW)
    alert_id = add_alert(store, device)
    for role, paths in PAGES.items():
        browser = as_role(role)
        if role == "dsl":
            paths = [*paths, f"/alerts/{alert_id}", "/student?login=COLLEGE%5Cjsmith"]
        for path in paths:
            response = browser.get(path)
            assert response.status_code == 200, path
            _check_headers(response)
            html = response.text
            assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), path
            assert not re.search(r"\son[a-z]+\s*=", html), path  # no inline event handlers
            assert not re.search(r'(src|href)="(https?:)?//', html), path  # nothing off-site
