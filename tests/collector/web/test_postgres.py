"""The console's own queries on PostgreSQL: the main page of each role and each write, once."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from collector.store import SqlStore, open_store
from collector.web.app import create_app
from tests.collector.web.conftest import add_alert, add_device, add_event, sign_in
from tests.postgres import fresh_database, postgres_server  # noqa: F401 - fixture

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_store(postgres_server: str) -> Iterator[SqlStore]:  # noqa: F811
    s = open_store(fresh_database(postgres_server))
    yield s
    s.close()


def test_console_on_postgresql(pg_store: SqlStore) -> None:
    app: Any = create_app(pg_store)
    now = datetime.now(UTC)
    device = add_device(pg_store, "PG-01", serial="SN-PG", last_seen=now, last_event=now)
    add_event(pg_store, device, "gap", now - timedelta(hours=1), detail={"dropped": 3})
    add_event(pg_store, device, "window_focus", now - timedelta(minutes=6), title="Context title")
    alert_id = add_alert(pg_store, device, at=now - timedelta(minutes=5), site="North")
    for _ in range(5):
        add_alert(pg_store, device, category="bullying", at=now - timedelta(hours=3))

    dsl = sign_in(app, pg_store, "dsl")
    assert f'data-alert-id="{alert_id}"' in dsl.get("/alerts?site=North&student=jsmith").text
    assert "Context title" in dsl.get(f"/alerts/{alert_id}").text
    assert dsl.post(f"/alerts/{alert_id}/acknowledge").status_code == 303
    assert dsl.post(f"/alerts/{alert_id}/close", {"outcome": "false_positive"}).status_code == 303
    assert dsl.get("/alerts/export.csv").text.count("LANTERN-") == 6
    assert dsl.get("/student?login=COLLEGE%5Cjsmith").status_code == 200
    assert "Hash chain intact" in dsl.get("/audit").text

    it = sign_in(app, pg_store, "it_admin")
    assert "PG-01" in it.get("/devices").text
    assert it.post("/tokens", {"uses": "2"}).status_code == 200
    assert (
        it.post(
            "/policy/keywords",
            {"action": "add", "phrase": "pg phrase", "category": "drugs", "reason": "testing pg"},
        ).status_code
        == 303
    )
    csv = b"Device name,Serial number,Device category\nPG-01,SN-PG,Lab\nPG-02,SN-PG2,Lab\n"
    assert (
        it.post("/coverage/inventory", files={"file": ("x.csv", csv, "text/csv")}).status_code
        == 303
    )
    assert it.get("/users").status_code == 200

    trustee = sign_in(app, pg_store, "trustee")
    coverage = trustee.client.get("/api/v1/coverage").json()["total"]
    assert (coverage["expected"], coverage["enrolled"], coverage["not_enrolled"]) == (2, 1, 1)
    assert trustee.get("/governance").status_code == 200
    assert trustee.get("/report.pdf").content.startswith(b"%PDF")
