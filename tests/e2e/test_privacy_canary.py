"""Typed text that is not part of a match goes nowhere (issue 8, "privacy proof").

A canary word is typed on a real desktop into a real agent: once in a window of its own, and once
in the same window as a risk phrase but further back than any snippet reaches. The phrase raises an
alert that is emailed, posted to Teams, Slack and a generic webhook *with evidence included* (the
most revealing configuration), exported as CSV, summarised in the annual PDF and the weekly
report, and exported for subject access. The canary must appear in none of them, in no API
response, and in no file either process wrote: databases, spool, logs, configuration.
"""

import json
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.collector.alerts.receivers import Hooks, Mailbox, smtp_server, webhook_server
from tests.conftest import Collector, collector_in
from tests.desktop import Desktop
from tests.e2e.agent import start_agent, wait_for_alerts

pytestmark = pytest.mark.desktop

CANARY = "quokkacanary"  # a word in no lexicon
NEAR_CANARY = "wombatcanary"  # typed before the phrase, in its window, beyond any snippet
FILLER = "and then we went over the plan for the group project on thursday afternoon " * 2
RISK_PHRASE = "i want to kill myself tonight "


@pytest.fixture
def receivers() -> Iterator[tuple[Mailbox, int, Hooks, str]]:
    with smtp_server() as (box, smtp_port), webhook_server() as (hooks, hook_url):
        yield box, smtp_port, hooks, hook_url


@pytest.fixture
def notifying_collector(
    tmp_path: Path, receivers: tuple[Mailbox, int, Hooks, str]
) -> Iterator[Collector]:
    _box, smtp_port, _hooks, hook_url = receivers
    config = {
        "include_evidence": True,
        "smtp": {"host": "127.0.0.1", "port": smtp_port, "sender": "lantern@college.example"},
        "channels": [
            {"name": "DSL team", "email": "dsl-team@college.example", "min_severity": 1},
            {"name": "Teams", "teams": f"{hook_url}/teams", "min_severity": 1},
            {"name": "Slack", "slack": f"{hook_url}/slack", "min_severity": 1},
            {"name": "SIEM", "webhook": f"{hook_url}/generic", "min_severity": 1},
        ],
        "weekly_report": {"recipients": ["dsl@college.example"]},
    }
    config_path = tmp_path / "alerts.yaml"
    config_path.write_text(json.dumps(config))  # JSON is YAML
    c = collector_in(tmp_path, env={"LANTERN_ALERTS_CONFIG": str(config_path)})
    try:
        c.start()
        yield c
    finally:
        c.stop()


def pdf_text(pdf: bytes) -> bytes:
    """The PDF's bytes with every Flate stream inflated, so a search sees the page content."""
    out = [pdf]
    at = 0
    while (start := pdf.find(b"stream", at)) >= 0:
        start = pdf.index(b"\n", start) + 1
        end = pdf.find(b"endstream", start)
        if end < 0:
            break
        try:
            out.append(zlib.decompress(pdf[start:end].rstrip(b"\r\n")))
        except zlib.error:
            pass
        at = end
    return b"\n".join(out)


def test_typed_text_outside_a_match_reaches_no_store_log_notification_or_export(
    notifying_collector: Collector,
    desktop: Desktop,
    tmp_path: Path,
    receivers: tuple[Mailbox, int, Hooks, str],
) -> None:
    collector = notifying_collector
    box, _port, hooks, _url = receivers
    agent = start_agent(collector, desktop, tmp_path)
    try:
        dsl = collector.api_token("dsl")
        trustee = collector.api_token("trustee")
        desktop.xterm("Notes")
        desktop.type(f"my {CANARY} notes for tomorrow ", delay_ms=5)
        desktop.xterm("Chat")  # a focus change clears the buffer
        desktop.type(f"{NEAR_CANARY} {FILLER}{RISK_PHRASE}", delay_ms=2)
        alerts = wait_for_alerts(collector, dsl, 1, timeout=10.0)
        assert alerts and alerts[0]["category"] == "suicide"
        alert = alerts[0]
        # The match and its bounded snippet did leave the device: the test can tell leaks apart.
        assert "kill myself" in json.dumps(alert)

        # Notifications, with evidence: one email, and a post to each of the three webhooks.
        box.wait_for(1, timeout=20.0)
        deadline = time.monotonic() + 20.0
        while len({path for path, _ in hooks.posts}) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert box.messages, "no alert email arrived"
        assert {path for path, _ in hooks.posts} >= {"/teams", "/slack", "/generic"}
        notifications = [m.as_string() for m in box.messages] + [
            json.dumps(body) for _, body in hooks.posts
        ]
        assert any("kill myself" in n for n in notifications), "evidence was configured in"

        # The subject is a known student, so subject access has something to export.
        people = tmp_path / "people.csv"
        people.write_text(
            "external_id,role,given_name,family_name,date_of_birth,email,username\n"
            f"S900001,student,Test,Student,2009-05-01,s900001@college.example,{alert['os_user']}\n"
        )
        collector.cli("people", "import", "--format", "plain", str(people))

        # Everything the collector serves or exports.
        served: dict[str, bytes] = {}
        for path in (
            "/api/v1/alerts",
            f"/api/v1/alerts/{alert['id']}",
            f"/api/v1/alerts/{alert['id']}/deliveries",
            "/api/v1/devices",
            "/api/v1/coverage",
            "/api/v1/alerts/outcomes",
            "/api/v1/people",
            f"/alerts/{alert['id']}",
            "/alerts/export.csv",
            "/audit",
        ):
            served[path] = collector.fetch(path, dsl)
        assert b"kill myself" in served["/alerts/export.csv"]
        served["/report.pdf"] = pdf_text(collector.fetch("/report.pdf", trustee))
        assert served["/report.pdf"].startswith(b"%PDF")
        served["reports weekly"] = collector.cli("reports", "weekly", "--send").encode()
        served["sar export"] = collector.cli("sar", "export", "--user", alert["os_user"]).encode()
        assert b"kill myself" in served["sar export"], "the SAR export holds the alert"
        box.wait_for(2, timeout=20.0)  # the weekly report email
        notifications = [m.as_string() for m in box.messages] + [
            json.dumps(body) for _, body in hooks.posts
        ]
    finally:
        agent.stop()
        collector.stop()

    for canary in (CANARY, NEAR_CANARY):
        assert not [i for i, n in enumerate(notifications) if canary in n], "in a notification"
        assert not [p for p, body in served.items() if canary.encode() in body], "served"
        needle = canary.encode()
        leaked = [str(p) for p in tmp_path.rglob("*") if p.is_file() and needle in p.read_bytes()]
        assert leaked == [], "typed text reached a file"
    # The files searched include both processes' logs and databases, and the agent's spool.
    written = {p.name for p in tmp_path.rglob("*") if p.is_file()}
    assert {"collector.log", "agent.log", "spool.db", "lantern.db"} <= written
