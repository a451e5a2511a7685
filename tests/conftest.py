"""Fixtures shared by every test package: free ports and a real collector process."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_cli(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> str:
    """Run a console script from the venv and return stdout (raises with stderr on failure)."""
    result = subprocess.run(
        [str(BIN / args[0]), *args[1:]],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )
    if result.returncode != 0:
        raise AssertionError(f"{args[0]} {args[1:]} failed ({result.returncode}): {result.stderr}")
    return result.stdout


@dataclass
class Collector:
    var_dir: Path
    grpc: str
    http: str
    log_path: Path
    enrol: str = ""
    env: dict[str, str] = field(default_factory=dict)  # extra LANTERN_* settings for serve
    process: subprocess.Popen[bytes] | None = None

    def cli(self, *args: str, stdin: str | None = None) -> str:
        return run_cli("lantern-collector", "--var-dir", str(self.var_dir), *args, stdin=stdin)

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                str(BIN / "lantern-collector"),
                "--var-dir",
                str(self.var_dir),
                "serve",
                "--grpc",
                self.grpc,
                "--enrol",
                self.enrol,
                "--http",
                self.http,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **self.env},
        )
        # Generous: on a loaded 2-core CI box start-up (migrations, lexicon) can take a while.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"collector exited: {self.log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://{self.http}/healthz", timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()  # never leave a half-started collector behind
        raise AssertionError("collector did not become healthy in 120 s")

    def stop(self) -> None:
        stop_process(self.process)
        self.process = None

    def enrolment_token(self, uses: int = 1) -> str:
        return (
            self.cli("tokens", "create", "--uses", str(uses), "--expires", "1h")
            .strip()
            .splitlines()[-1]
        )

    def api_token(self, role: str = "dsl") -> str:
        email = f"{role}-{time.monotonic_ns()}@college.example"
        self.cli(
            "users",
            "add",
            "--email",
            email,
            "--role",
            role,
            "--password-stdin",
            stdin="correct horse battery staple\n",
        )
        return self.cli("api-token", "create", "--user", email).strip().splitlines()[-1]

    def fetch(self, path: str, token: str) -> bytes:
        req = urllib.request.Request(
            f"http://{self.http}{path}", headers={"Authorization": f"Bearer {token}"}
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            return bytes(resp.read())

    def get(self, path: str, token: str) -> object:
        import json

        return json.loads(self.fetch(path, token))


def stop_process(process: "subprocess.Popen[bytes] | None", timeout: float = 10) -> None:
    """SIGTERM, then SIGKILL if it has not gone within ``timeout`` seconds."""
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def collector_in(tmp_path: Path, env: dict[str, str] | None = None) -> Collector:
    """A collector (not started) with its files under tmp_path, on free loopback ports."""
    return Collector(
        var_dir=tmp_path / "collector",
        grpc=f"127.0.0.1:{free_port()}",
        http=f"127.0.0.1:{free_port()}",
        log_path=tmp_path / "collector.log",
        enrol=f"127.0.0.1:{free_port()}",
        env=env or {},
    )


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[Collector]:
    """A real `lantern-collector serve` on loopback with its own SQLite database."""
    c = collector_in(tmp_path)
    try:
        c.start()
        yield c
    finally:
        c.stop()
