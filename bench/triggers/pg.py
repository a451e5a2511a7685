"""A throwaway PostgreSQL server for benchmarks, with fsync ON (unlike the test fixture)."""

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import free_port
from tests.postgres import _as_db_user, _bin_dir, fresh_database


@contextmanager
def postgres() -> Iterator[str]:
    """Yields a SQLAlchemy URL to a fresh database on a new local server."""
    bin_dir = _bin_dir()
    if bin_dir is None:
        raise SystemExit("PostgreSQL is not installed")
    root = Path(tempfile.mkdtemp(prefix="lantern-pg-bench-"))
    shutil.chown(root, "postgres", "postgres") if _as_db_user(["x"])[0] == "runuser" else None
    port = free_port()
    subprocess.run(
        _as_db_user(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(root / "data"),
                "-U",
                "lantern",
                "--auth=trust",
                "-E",
                "UTF8",
            ]
        ),
        check=True,
        capture_output=True,
    )
    subprocess.run(
        _as_db_user(
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(root / "data"),
                "-l",
                str(root / "log"),
                "-w",
                "-o",
                f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c max_connections=200",
                "start",
            ]
        ),
        check=True,
        capture_output=True,
    )
    try:
        yield fresh_database(f"postgresql+psycopg://lantern@127.0.0.1:{port}")
    finally:
        subprocess.run(
            _as_db_user([str(bin_dir / "pg_ctl"), "-D", str(root / "data"), "-m", "fast", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)
