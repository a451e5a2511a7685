"""A real `lantern-agent run` process on the test desktop, enrolled with a real collector."""

import json
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import BIN, Collector, stop_process
from tests.desktop import Desktop


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

    def enrol(self, collector: Collector) -> None:
        """`lantern-agent enrol` with a fresh token from `collector`."""
        self.cli(
            "enrol",
            "--collector",
            collector.grpc,
            "--enrol-address",
            collector.enrol,
            "--token",
            collector.enrolment_token(),
        )

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
        stop_process(self.process)


def start_agent(collector: Collector, desktop: Desktop, tmp_path: Path) -> Agent:
    """Enrol a real agent with `collector` and run it on `desktop`, its files under tmp_path."""
    env = {**desktop.env, "XDG_DATA_HOME": str(tmp_path / "xdg")}
    a = Agent(tmp_path / "agent", tmp_path / "agent.log", env)
    a.enrol(collector)
    a.start()
    return a


def wait_for_alerts(collector: Collector, token: str, count: int, timeout: float) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        alerts = collector.get("/api/v1/alerts", token)
        assert isinstance(alerts, list)
        if len(alerts) >= count or time.monotonic() > deadline:
            return alerts
        time.sleep(0.05)


@pytest.fixture
def agent(collector: Collector, desktop: Desktop, tmp_path: Path) -> Iterator[Agent]:
    a = start_agent(collector, desktop, tmp_path)
    yield a
    a.stop()
