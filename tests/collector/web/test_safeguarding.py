"""Safeguarding pages: queue order and filters, the alert page, actions, live update, CSV export."""

import csv
import io
import re
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from collector.alerts.models import audit_log
from collector.store import SqlStore
from collector.store import models as m
from tests.collector.web.conftest import NOW, add_alert, add_device, add_event


def _queue_ids(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'data-alert-id="(\d+)"', html)]


def test_queue_is_most_severe_first_then_longest_waiting(as_role: Any, store: SqlStore) -> None:
    d = add_device(store, "LAB-01")
    old_4 = add_alert(store, d, severity=4, at=NOW - timedelta(hours=5))
    new_5 = add_alert(store, d, severity=5, at=NOW - timedelta(minutes=1))
    new_4 = add_alert(store, d, severity=4, at=NOW - timedelta(minutes=2))
    closed = add_alert(store, d, severity=5, status="closed")
    page = as_role("dsl").get("/alerts")
    assert page.status_code == 200
    assert _queue_ids(page.text) == [new_5, old_4, new_4]
    assert closed not in _queue_ids(page.text)


def test_queue_filters(as_role: Any, store: SqlStore) -> None:
    d = add_device(store, "LAB-01")
    a = add_alert(store, d, category="bullying", os_user="COLLEGE\\amy", site="North")
    b = add_alert(store, d, category="suicide", os_user="COLLEGE\\ben", site="South")
    c = add_alert(
        store, d, category="suicide", os_user="COLLEGE\\ben", status="closed", site="South"
    )
    dsl = as_role("dsl")
    assert _queue_ids(dsl.get("/alerts?category=bullying").text) == [a]
    assert _queue_ids(dsl.get("/alerts?site=South").text) == [b]
    assert _queue_ids(dsl.get("/alerts?student=ben&status=all").text) == sorted(
        [b, c], key=lambda i: i
    )
    assert _queue_ids(dsl.get("/alerts?status=closed").text) == [c]


def test_alert_page_shows_evidence_context_and_history(as_role: Any, store: SqlStore) -> None:
    d = add_device(store, "LAB-07")
    at = NOW - timedelta(minutes=30)
    add_event(
        store,
        d,
        "window_focus",
        at - timedelta(minutes=3),
        app="chrome",
        title="Homework help - Chrome",
    )
    earlier = add_alert(
        store, d, category="self_harm", at=NOW - timedelta(days=3), matched="cut myself"
    )
    alert_id = add_alert(store, d, at=at, matched="hurt myself", snippet="i want to hurt myself")
    add_event(store, d, "window_focus", at + timedelta(hours=2), title="Far later - not context")
    dsl = as_role("dsl")
    page = dsl.get(f"/alerts/{alert_id}")
    assert page.status_code == 200
    assert "hurt myself" in page.text and "i want to hurt myself" in page.text
    assert "Homework help - Chrome" in page.text
    assert "Far later" not in page.text
    assert f"/alerts/{earlier}" in page.text  # repeat history links the earlier alert
    with store.engine.connect() as conn:
        views = conn.execute(
            select(audit_log.c.actor).where(audit_log.c.action == "alert.view")
        ).all()
    assert [v[0] for v in views] == [dsl.email]


def test_acknowledge_assign_note_and_close(as_role: Any, store: SqlStore) -> None:
    d = add_device(store, "LAB-01")
    alert_id = add_alert(store, d)
    dsl = as_role("dsl")
    assert dsl.post(f"/alerts/{alert_id}/acknowledge").status_code == 303
    assert (
        dsl.post(f"/alerts/{alert_id}/assign", {"assignee": "deputy@college.example"}).status_code
        == 303
    )
    assert dsl.post(f"/alerts/{alert_id}/note", {"text": "Spoke to tutor."}).status_code == 303
    no_outcome = dsl.post(f"/alerts/{alert_id}/close", {"outcome": "made_up"})
    assert no_outcome.status_code == 303 and "error=" in no_outcome.headers["location"]
    closed = dsl.post(
        f"/alerts/{alert_id}/close", {"outcome": "early_help", "note": "Referred to early help."}
    )
    assert closed.status_code == 303
    with store.engine.connect() as conn:
        row = conn.execute(select(m.alerts).where(m.alerts.c.id == alert_id)).mappings().one()
    assert row["status"] == "closed" and row["outcome"] == "early_help"
    assert row["acknowledged_by"] == dsl.email and row["assignee"] == "deputy@college.example"
    page = dsl.get(f"/alerts/{alert_id}")
    assert "Spoke to tutor." in page.text and "Referred to early help." in page.text
    assert 'id="acknowledge"' not in page.text and 'id="close"' not in page.text
    log = re.search(r'<ol id="actions-log">(.*?)</ol>', page.text, re.S).group(1)  # type: ignore[union-attr]
    assert re.findall(r": (acknowledge|assign|note|close)", log) == [
        "acknowledge",
        "assign",
        "note",
        "close",
        "note",
    ]
    twice = dsl.post(f"/alerts/{alert_id}/acknowledge")
    assert "error=" in twice.headers["location"]


def test_unknown_alert_is_404(as_role: Any) -> None:
    dsl = as_role("dsl")
    assert dsl.get("/alerts/999999").status_code == 404
    assert dsl.post("/alerts/999999/acknowledge").status_code == 404


def test_live_endpoint_returns_only_newer_alerts(as_role: Any, store: SqlStore) -> None:
    d = add_device(store, "LAB-01")
    first = add_alert(store, d)
    dsl = as_role("dsl")
    page = dsl.get("/alerts")
    latest = int(re.search(r'data-latest-id="(\d+)"', page.text).group(1))  # type: ignore[union-attr]
    assert latest == first
    assert dsl.client.get(f"/alerts/live?after={latest}").json()["alerts"] == []
    second = add_alert(store, d, category="suicide", severity=5)
    body = dsl.client.get(f"/alerts/live?after={latest}").json()
    assert [a["id"] for a in body["alerts"]] == [second]
    assert body["latest_id"] == second and body["alerts"][0]["category"] == "suicide"


def test_csv_export_for_case_management(as_role: Any, store: SqlStore) -> None:
    d = add_device(store, "LAB-01")
    add_alert(store, d, os_user="COLLEGE\\jsmith", matched="=HYPERLINK(evil)", snippet="")
    dsl = as_role("dsl")
    response = dsl.get("/alerts/export.csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert len(rows) == 1
    row = rows[0]
    assert row["Student login"] == "COLLEGE\\jsmith"
    assert re.fullmatch(r"\d\d/\d\d/\d{4}", row["Date"]) and row["Category"] == "self_harm"
    assert row["Evidence"].startswith("'=")  # formula injection neutralised
    with store.engine.connect() as conn:
        assert conn.execute(
            select(audit_log.c.seq).where(audit_log.c.action == "alerts.export")
        ).first()


def test_student_view(as_role: Any, store: SqlStore) -> None:
    d = add_device(store, "LAB-02")
    add_alert(store, d, os_user="COLLEGE\\amy", category="bullying")
    add_alert(store, d, os_user="COLLEGE\\amy", category="bullying")
    add_alert(store, d, os_user="COLLEGE\\ben", category="drugs")
    page = as_role("dsl").get("/student?login=COLLEGE%5Camy")
    assert page.status_code == 200
    assert "bullying: 2" in page.text and "drugs" not in page.text and "LAB-02" in page.text


def test_live_update_respects_the_queue_filter(as_role: Any, store: SqlStore) -> None:
    d = add_device(store, "LAB-01")
    dsl = as_role("dsl")
    page = dsl.get("/alerts?category=bullying")
    url = re.search(r'data-live-url="([^"]+)"', page.text).group(1).replace("&amp;", "&")  # type: ignore[union-attr]
    assert "category=bullying" in url
    add_alert(store, d, category="drugs")
    wanted = add_alert(store, d, category="bullying")
    body = dsl.client.get(url + "&after=0").json()
    assert [a["id"] for a in body["alerts"]] == [wanted]


def test_cluster_alert_lists_its_members(as_role: Any, store: SqlStore) -> None:
    from sqlalchemy import insert

    from collector.alerts.models import alert_members

    d = add_device(store, "LAB-09")
    cluster = add_alert(store, d, kind="cluster", os_user="", members=2)
    with store.engine.begin() as conn:
        for login in ("COLLEGE\\amy", "COLLEGE\\ben"):
            conn.execute(
                insert(alert_members).values(
                    alert_id=cluster,
                    device_id=d,
                    os_user=login,
                    event_id="e",
                    severity=3,
                    joined_at=NOW,
                )
            )
    page = as_role("dsl").get(f"/alerts/{cluster}").text
    members = re.search(r'<table id="members">(.*?)</table>', page, re.S).group(1)  # type: ignore[union-attr]
    assert "COLLEGE\\amy" in members and "COLLEGE\\ben" in members
