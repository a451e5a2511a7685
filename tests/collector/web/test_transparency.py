"""The public transparency page says what the live configuration does, without signing in."""

from pathlib import Path

from fastapi.testclient import TestClient

from collector.retention import RETENTION_DAYS
from collector.store import open_store
from collector.web import policy
from collector.web.app import create_app
from collector.web.transparency import CATEGORIES


def test_transparency_page_reflects_the_live_policy_and_names_no_terms(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    client = TestClient(create_app(store))
    page = client.get("/transparency")
    assert page.status_code == 200
    text = page.text
    assert policy.notice_text(store).split(".")[0] in text
    for app in policy.excluded_apps(store):
        assert app in text
    assert len(CATEGORIES) == 12
    assert f"{RETENTION_DAYS['window_events']} days" in text
    assert "never leaves the device" in text.lower()
    assert "kill myself" not in text  # categories only, never the terms
    store.close()
