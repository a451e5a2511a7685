"""`lantern-collector serve --role …` as child processes, ready when they log it (tests/scale and
bench/ingest/many.py)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import psutil

from bench.ingest.procs import CollectorProcess

READY = '"collector ready: role '


class RoleProcess(CollectorProcess):
    """One `serve --role R` process (kill -9, stop, cli as CollectorProcess). Ingest processes
    may share a var dir (the CA) and, on Linux, a listening port."""

    def __init__(
        self,
        var_dir: Path,
        db: str,
        role: str,
        log_path: Path,
        *,
        grpc: str | None = None,
        enrol: str | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        super().__init__(var_dir, db, grpc=grpc, enrol=enrol, log_path=log_path, env=env)
        self.role = role
        self.returncode: int | None = None

    def _ready_lines(self) -> int:
        try:
            return self.log_path.read_text(errors="replace").count(READY)
        except OSError:
            return 0

    def start(self, timeout: float = 90.0) -> None:
        before = self._ready_lines()
        args = ["--role", self.role, "--grpc", self.grpc, "--enrol", self.enrol]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [*self._base(), "serve", *args, "--http", self.http],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
            )
        self.starts += 1
        deadline = time.monotonic() + timeout
        while self._ready_lines() <= before:
            if self.process.poll() is not None:
                raise AssertionError(f"{self.role} exited: {self.log_tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.role} not ready in {timeout:.0f}s: {self.log_tail()}")
            time.sleep(0.05)

    def stop(self) -> None:
        process = self.process
        super().stop()
        if process is not None:
            self.returncode = process.returncode

    def established(self, address: str) -> int:
        """TCP connections this process has accepted on `address` (host:port) and holds open."""
        port = int(address.rpartition(":")[2])
        if self.process is None or self.process.poll() is not None:
            return 0
        return sum(
            1
            for c in psutil.Process(self.pid).net_connections(kind="tcp")
            if c.status == psutil.CONN_ESTABLISHED and c.laddr and c.laddr.port == port
        )
