"""/metrics for Prometheus: operational figures for IT, nothing about alerts or students."""

from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from collector.store import SqlStore
from tests.collector.web.conftest import add_alert, add_device


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_it_scrapes_device_states_and_nothing_about_alerts(as_role: Any, store: SqlStore) -> None:
    now = datetime.now(UTC)
    add_device(store, "ONLINE-1", last_seen=now)
    add_device(store, "ONLINE-2", last_seen=now - timedelta(seconds=20))
    add_device(store, "GONE", last_seen=now - timedelta(days=30))
    add_device(store, "NEW")
    revoked = add_device(store, "OLD", revoked=True)
    add_alert(store, revoked, os_user="zz_student", matched="zz_matched")
    page = as_role("it_admin").client.get("/metrics")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/plain")
    got = samples(page.text)
    state = {
        dict(labels)["state"]: v for (name, labels), v in got.items() if name == "lantern_devices"
    }
    assert state == {
        "online": 2,
        "offline": 0,
        "missing": 1,
        "never_connected": 1,
        "revoked": 1,
    }
    assert got[("lantern_outbox", (("status", "pending"),))] >= 0
    assert ("process_resident_memory_bytes", ()) in got
    for secret in ("zz_student", "zz_matched", "self_harm", "ONLINE-1"):
        assert secret not in page.text
    assert as_role("dsl").client.get("/metrics").status_code == 403
    assert as_role("trustee").client.get("/metrics").status_code == 403
