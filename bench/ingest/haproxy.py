"""Debian's haproxy in front of collector processes: TCP passthrough (mode tcp), so mutual TLS ends
at the collector, which sees each agent's client certificate. The config is the one docs/deploy.md
recommends, on loopback ports and with short health-check intervals (tests/scale, bench)."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from bench.ingest.procs import free_port

CONFIG = """\
global
    maxconn 4000
    stats socket {root}/haproxy.sock mode 600 level admin

defaults
    mode tcp
    timeout connect 2s
    # gRPC streams live for hours; the agents and the collector ping each other meanwhile.
    timeout client 1h
    timeout server 1h
    # A connection refused by a dead collector is tried again on another one.
    retries 2
    option redispatch
    default-server inter 500ms fall 2 rise 2 on-marked-down shutdown-sessions

frontend connect
    bind {connect}
    default_backend ingest

backend ingest
    # Streams are long-lived: send each new one to the collector holding the fewest.
    balance leastconn
{connect_servers}

frontend enrol
    bind {enrol}
    # The collector sees haproxy's address, not the laptop's: limit enrolments per source here.
    stick-table type ip size 100k expire 2m store conn_rate(60s)
    tcp-request connection track-sc0 src
    tcp-request connection reject if {{ sc_conn_rate(0) gt {enrol_per_minute} }}
    default_backend enrol

backend enrol
    balance roundrobin
{enrol_servers}
"""


class Haproxy:
    def __init__(
        self,
        root: Path,
        connect_backends: Sequence[str],
        enrol_backends: Sequence[str],
        *,
        enrol_per_minute: int = 100_000,
    ) -> None:
        binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
        if not Path(binary).exists():
            raise RuntimeError("haproxy is not installed: run `make test` as root to install it")
        self.binary = binary
        self.root = root
        self.connect = f"127.0.0.1:{free_port()}"
        self.enrol = f"127.0.0.1:{free_port()}"
        root.mkdir(parents=True, exist_ok=True)
        self.config = root / "haproxy.cfg"
        self.config.write_text(
            CONFIG.format(
                root=root,
                connect=self.connect,
                enrol=self.enrol,
                enrol_per_minute=enrol_per_minute,
                connect_servers=_servers("ingest", connect_backends),
                enrol_servers=_servers("enrol", enrol_backends),
            )
        )
        self.log_path = root / "haproxy.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        subprocess.run([self.binary, "-c", "-f", str(self.config)], check=True, capture_output=True)
        with self.log_path.open("ab") as log:
            # -db: foreground, no daemon; this test owns the process.
            self.process = subprocess.Popen(
                [self.binary, "-db", "-f", str(self.config)], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 10
        while not (self.root / "haproxy.sock").exists():
            assert self.process.poll() is None, self.log_path.read_text()
            assert time.monotonic() < deadline, "haproxy did not start"
            time.sleep(0.05)

    def servers(self) -> dict[str, str]:
        """Backend server states (UP, DOWN, …) from the stats socket, by backend/server."""
        import socket

        with socket.socket(socket.AF_UNIX) as s:
            s.connect(str(self.root / "haproxy.sock"))
            s.sendall(b"show stat\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        states = {}
        for line in data.decode().splitlines()[1:]:
            f = line.split(",")
            if len(f) > 17 and f[1] not in ("FRONTEND", "BACKEND"):
                states[f"{f[0]}/{f[1]}"] = f[17]
        return states

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _servers(prefix: str, addresses: Sequence[str]) -> str:
    return "\n".join(
        f"    server {prefix}{i} {address} check" for i, address in enumerate(addresses, 1)
    )
