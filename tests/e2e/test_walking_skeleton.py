"""A risk phrase typed on a real desktop becomes an alert in a real collector (issue 2).

Xvfb + openbox + xdotool typing into real xterm windows, the real `lantern-agent run` process,
a real `lantern-collector serve` on loopback over gRPC, the REST API read over HTTP.
"""

import os
import sqlite3
import time

import pytest

from tests.conftest import Collector
from tests.desktop import Desktop
from tests.e2e.agent import Agent, wait_for_alerts

pytestmark = pytest.mark.desktop

RISK_PHRASE = "i want to kill myself tonight "
NEUTRAL = "the weather in leeds is nice today and i like my course "


def test_typed_risk_phrase_becomes_an_alert_and_neutral_text_does_not(
    collector: Collector, agent: Agent, desktop: Desktop
) -> None:
    token = collector.api_token("dsl")
    desktop.xterm("History essay - draft 2")
    desktop.type(NEUTRAL, delay_ms=5)
    time.sleep(2.0)
    assert collector.get("/api/v1/alerts", token) == []

    desktop.type(RISK_PHRASE, delay_ms=5)
    typed_at = time.monotonic()
    alerts = wait_for_alerts(collector, token, 1, timeout=2.0)
    elapsed = time.monotonic() - typed_at
    assert alerts, "no alert within 2 s of typing the phrase"
    alert = alerts[0]
    assert alert["category"] == "suicide" and alert["severity"] >= 3
    assert alert["title"] == "History essay - draft 2"
    assert alert["os_user"] == os.environ.get("USER", "root") or alert["os_user"]
    assert alert["source"] == "typed" and alert["app"]
    assert len(alert["snippet"]) <= 80
    print(f"keystroke-to-alert {elapsed * 1000:.0f} ms")


def test_a_risky_window_title_becomes_an_alert(
    collector: Collector, agent: Agent, desktop: Desktop
) -> None:
    token = collector.api_token("dsl")
    desktop.xterm("how to kill myself painlessly - Google Search - Chromium")
    alerts = wait_for_alerts(collector, token, 1, timeout=5.0)
    assert alerts and alerts[0]["source"] == "title" and alerts[0]["category"] == "suicide"


def test_events_typed_while_the_collector_is_down_arrive_exactly_once(
    collector: Collector, agent: Agent, desktop: Desktop
) -> None:
    token = collector.api_token("dsl")
    collector.stop()
    for i in range(3):
        desktop.xterm(f"Offline window {i}")
        desktop.type(RISK_PHRASE, delay_ms=5)
    deadline = time.monotonic() + 10
    while agent.spool_depth() < 6 and time.monotonic() < deadline:
        time.sleep(0.1)
    spooled = agent.spool_depth()
    assert spooled >= 6, "window and match events should wait in the spool"
    collector.start()
    deadline = time.monotonic() + 30
    while agent.spool_depth() > 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert agent.spool_depth() == 0, "the spool should drain after the collector returns"
    with sqlite3.connect(collector.var_dir / "lantern.db") as db:
        total, distinct_ids, distinct_seq, max_seq = db.execute(
            "SELECT COUNT(*), COUNT(DISTINCT event_id), COUNT(DISTINCT seq), MAX(seq) FROM events"
        ).fetchone()
    # seq is per device and contiguous: every event from 1..max arrived, none twice.
    assert total == distinct_ids == distinct_seq == max_seq
    alerts = collector.get("/api/v1/alerts", token)
    assert isinstance(alerts, list) and alerts and alerts[0]["category"] == "suicide"
