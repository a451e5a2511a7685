"""A risk phrase typed on a real desktop becomes an alert in a real collector (issue 2).

Xvfb + openbox + xdotool typing into real xterm windows, the real `lantern-agent run` process,
a real `lantern-collector serve` on loopback over gRPC, the REST API read over HTTP.
"""

import os
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import BIN, Collector
from tests.desktop import Desktop

pytestmark = pytest.mark.desktop

RISK_PHRASE = "i want to kill myself tonight "
NEUTRAL = "the weather in leeds is nice today and i like my course "
CANARY = "quokkacanary"  # a word in no lexicon, typed only where no match can surround it


class Agent:
    def __init__(self, state_dir: Path, log_path: Path, env: dict[str, str]) -> None:
        self.state_dir = state_dir
        self.log_path = log_path
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None

    def cli(self, *args: str) -> str:
        return subprocess.run(
            [str(BIN / "lantern-agent"), "--state-dir", str(self.state_dir), *args],
            capture_output=True,
            text=True,
            check=True,
            env=self.env,
            timeout=60,
        ).stdout

    def start(self) -> None:
        self.process = subprocess.Popen(
            [str(BIN / "lantern-agent"), "--state-dir", str(self.state_dir), "run"],
            stdout=self.log_path.open("ab"),
            stderr=subprocess.STDOUT,
            env=self.env,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            status = self.status()
            if status.get("running") and status.get("capabilities", {}).get("keyboard") == "ok":
                return
            time.sleep(0.1)
        raise AssertionError(f"agent did not start: {self.log_path.read_text()[-2000:]}")

    def status(self) -> dict[str, object]:
        import json

        out = subprocess.run(
            [str(BIN / "lantern-agent"), "--state-dir", str(self.state_dir), "status", "--json"],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=30,
        )
        return dict(json.loads(out.stdout)) if out.stdout else {}

    def spool_depth(self) -> int:
        with sqlite3.connect(self.state_dir / "spool.db") as db:
            return int(db.execute("SELECT COUNT(*) FROM spool").fetchone()[0])

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def agent(collector: Collector, desktop: Desktop, tmp_path: Path) -> Iterator[Agent]:
    env = {**desktop.env, "XDG_DATA_HOME": str(tmp_path / "xdg")}
    a = Agent(tmp_path / "agent", tmp_path / "agent.log", env)
    a.cli(
        "enrol",
        "--collector",
        collector.grpc,
        "--enrol-address",
        collector.enrol,
        "--token",
        collector.enrolment_token(),
    )
    a.start()
    yield a
    a.stop()


def wait_for_alerts(collector: Collector, token: str, count: int, timeout: float) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        alerts = collector.get("/api/v1/alerts", token)
        assert isinstance(alerts, list)
        if len(alerts) >= count or time.monotonic() > deadline:
            return alerts
        time.sleep(0.05)


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


def test_a_typed_canary_reaches_no_file(
    collector: Collector, agent: Agent, desktop: Desktop, tmp_path: Path
) -> None:
    token = collector.api_token("dsl")
    desktop.xterm("Notes")
    desktop.type(f"my {CANARY} notes for tomorrow ", delay_ms=5)
    desktop.xterm("Chat")  # focus change clears the buffer: the next match cannot carry the canary
    desktop.type(RISK_PHRASE, delay_ms=5)
    assert wait_for_alerts(collector, token, 1, timeout=5.0)
    # Nothing the collector serves carries it either: alerts (evidence), devices, the weekly report.
    for path in ("/api/v1/alerts", "/api/v1/devices", "/api/v1/alerts/outcomes"):
        assert CANARY not in str(collector.get(path, token)), path
    agent.stop()
    collector.stop()
    needle = CANARY.encode()
    leaked = [str(p) for p in tmp_path.rglob("*") if p.is_file() and needle in p.read_bytes()]
    assert leaked == [], "typed text reached a file"
