"""A real, throwaway PostgreSQL server for the test run (Debian's postgresql package)."""

import os
import time
from collections.abc import Iterator

import pytest

from bench.ingest.procs import PostgresServer, create_database, postgres_bin_dir


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """Start PostgreSQL on a free loopback port; yields a SQLAlchemy URL prefix (without db name)."""
    if postgres_bin_dir() is None:
        pytest.fail("PostgreSQL is not installed: run `make test` as root to install it")
    server = PostgresServer(fsync=False)
    server.start()
    try:
        yield server.url
    finally:
        server.destroy()


_counter = 0


def fresh_database(server_url: str) -> str:
    """Create an empty database on the test server and return its URL."""
    global _counter
    _counter += 1
    return create_database(server_url, f"t{os.getpid()}_{_counter}_{time.monotonic_ns() % 10**6}")
