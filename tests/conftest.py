"""Fixtures shared by every test package: free ports and a real collector process."""

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.ingest.procs import Collector, free_port

__all__ = ["BIN", "ROOT", "Collector", "collector_in", "free_port", "run_cli", "stop_process"]

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


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
    return Collector(tmp_path / "collector", log_path=tmp_path / "collector.log", env=env)


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[Collector]:
    """A real `lantern-collector serve` on loopback with its own SQLite database."""
    c = collector_in(tmp_path)
    try:
        c.start()
        yield c
    finally:
        c.stop()
