"""Real processes for the ingest benchmark and the fault tests: a collector and a PostgreSQL server.

No pytest here: `bench/ingest/run.py` and `tests/faults/` both drive these.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil

BIN = Path(sys.executable).parent
# What `serve` logs once every part of its role is listening.
READY = '"collector ready: role '


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# A simulated fleet enrols thousands of devices from one address: `env=FLEET_ENV` lifts the
# per-address enrolment limit meant for real networks.
FLEET_ENV = {"LANTERN_ENROLMENTS_PER_MINUTE": "1000000"}


class Collector:
    """`lantern-collector serve` as a child process on fixed loopback ports (so a restart after
    `kill -9` listens where the agents look), with the CLI and REST calls tests make of it."""

    def __init__(
        self,
        var_dir: Path,
        db: str | None = None,
        *,
        grpc: str | None = None,
        http: str | None = None,
        enrol: str | None = None,
        plaintext: bool = False,
        log_path: Path | None = None,
        env: dict[str, str] | None = None,
        role: str | None = None,
    ) -> None:
        """`role`: `serve --role ROLE` (None: everything in one process). Ingest processes may
        share a var dir (the CA) and, on Linux, a listening port. `env`: extra LANTERN_*
        settings."""
        self.var_dir = var_dir
        self.db = db
        self.plaintext = plaintext
        self.role = role
        self.grpc = grpc or f"127.0.0.1:{free_port()}"
        self.enrol = enrol or f"127.0.0.1:{free_port()}"
        self.http = http or f"127.0.0.1:{free_port()}"
        self.log_path = log_path or var_dir.parent / f"{var_dir.name}.log"
        self.env = {**os.environ, **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.returncode: int | None = None

    def _base(self) -> list[str]:
        cmd = [str(BIN / "lantern-collector"), "--var-dir", str(self.var_dir)]
        if self.db:
            cmd += ["--db", self.db]
        if self.plaintext:
            cmd.append("--plaintext")
        return cmd

    def cli(self, *args: str, stdin: str | None = None) -> str:
        result = subprocess.run(
            [*self._base(), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            env=self.env,
        )
        if result.returncode != 0:
            raise RuntimeError(f"lantern-collector {args} failed: {result.stderr[-2000:]}")
        return result.stdout

    def enrolment_token(self, uses: int = 1) -> str:
        out = self.cli("tokens", "create", "--uses", str(uses), "--expires", "1d")
        return out.strip().splitlines()[-1]

    def api_token(self, role: str = "dsl") -> str:
        """A new user with `role` and an API token for them."""
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
        return json.loads(self.fetch(path, token))

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def _ready_lines(self) -> int:
        try:
            return self.log_path.read_text(errors="replace").count(READY)
        except OSError:
            return 0

    def start(self, timeout: float = 120.0) -> None:
        """Start `serve` and wait until it is ready (generous by default: on a loaded 2-core
        CI box start-up, migrations and the lexicon, can take a while)."""
        self.var_dir.mkdir(parents=True, exist_ok=True)
        before = self._ready_lines()
        role = ["--role", self.role] if self.role else []
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                *self._base(),
                "serve",
                *role,
                "--grpc",
                self.grpc,
                "--enrol",
                self.enrol,
                "--http",
                self.http,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env,
        )
        log.close()
        self.starts += 1
        deadline = time.monotonic() + timeout
        while self._ready_lines() <= before:  # every role logs it once all its parts listen
            if self.process.poll() is not None:
                raise RuntimeError(f"collector exited: {self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()  # never leave a half-started collector behind
                raise RuntimeError(f"collector not ready in {timeout:.0f}s: {self.log_tail()}")
            time.sleep(0.05)

    def freeze(self) -> None:
        """SIGSTOP: the process holds its connections but answers nothing (until killed)."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGSTOP)

    def kill(self) -> None:
        """`kill -9`: no shutdown, no flush, no goodbye to the agents."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None

    def stop(self) -> None:
        """SIGTERM (a clean shutdown), SIGKILL after 15 s; `returncode` keeps how it ended."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process is not None:
            self.returncode = self.process.returncode
        self.process = None

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

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def postgres_bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _as_db_user(cmd: list[str]) -> list[str]:
    # initdb refuses to run as root: use the postgres account Debian's package creates.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


class PostgresServer:
    """A throwaway PostgreSQL cluster on a loopback port that can be stopped and restarted.

    `fsync=True` keeps PostgreSQL's durability (the benchmark's honest setting); the fault tests
    run with fsync off, which still survives process crashes (the OS keeps the page cache).
    """

    def __init__(self, fsync: bool = True, extra: str = "") -> None:
        bin_dir = postgres_bin_dir()
        if bin_dir is None:
            raise RuntimeError("PostgreSQL is not installed (Debian: apt-get install postgresql)")
        self.bin = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="lantern-pg-"))
        self.data = self.root / "data"
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self.port = free_port()
        self.options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            f"-c fsync={'on' if fsync else 'off'} -c max_connections=200 {extra}"
        )
        subprocess.run(
            _as_db_user(
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    "lantern",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--no-sync",
                ]
            ),
            check=True,
            capture_output=True,
        )
        self._counter = 0

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://lantern@127.0.0.1:{self.port}"

    def _ctl(self, *args: str) -> None:
        subprocess.run(
            _as_db_user([str(self.bin / "pg_ctl"), "-D", str(self.data), *args]),
            check=True,
            capture_output=True,
            timeout=120,
        )

    def start(self) -> None:
        self._ctl("-l", str(self.root / "log"), "-w", "-o", self.options, "start")

    def stop(self, mode: str = "fast") -> None:
        self._ctl("-m", mode, "-w", "stop")

    def restart(self, mode: str = "immediate", down_s: float = 0.0) -> None:
        """Stop (`immediate` is a crash: no checkpoint, sessions cut), stay down, start again."""
        self.stop(mode)
        if down_s:
            time.sleep(down_s)
        self.start()

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def create_database(self, name: str | None = None) -> str:
        self._counter += 1
        return create_database(self.url, name or f"lantern_{os.getpid()}_{self._counter}")

    def destroy(self) -> None:
        try:
            self.stop("immediate")
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.root, ignore_errors=True)


def create_database(server_url: str, name: str) -> str:
    """Create the empty database `name` on the server at `server_url` (a SQLAlchemy URL without
    a database name) and return its URL."""
    import psycopg

    dsn = server_url.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{server_url}/{name}"
