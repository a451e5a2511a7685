"""Directory fixtures: one DirectoryStore per backend (SQLite and a real PostgreSQL)."""

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from collector.directory.store import DirectoryStore
from collector.store import SqlStore, open_store
from collector.store.interface import DeviceRegistration
from tests.postgres import fresh_database, postgres_server  # noqa: F401 - fixture

EXAMPLES = Path(__file__).resolve().parents[3] / "docs" / "examples" / "directory"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def pg_template(request: pytest.FixtureRequest) -> str:
    """A database migrated once; each test gets a copy (CREATE DATABASE ... TEMPLATE), which is
    much faster than migrating a fresh database per test."""
    url = fresh_database(request.getfixturevalue("postgres_server"))
    open_store(url).close()
    return url


_copies = 0


def pg_copy(server: str, template_url: str) -> str:
    import psycopg

    global _copies
    _copies += 1
    name = f"dir_{os.getpid()}_{_copies}"
    template = template_url.rsplit("/", 1)[1]
    dsn = server.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return f"{server}/{name}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'lantern.db'}"
    else:
        url = pg_copy(
            request.getfixturevalue("postgres_server"), request.getfixturevalue("pg_template")
        )
    s = open_store(url)
    yield s
    s.close()


@pytest.fixture
def directory(store: SqlStore) -> DirectoryStore:
    return DirectoryStore.for_store(store)


def enrol(
    store: SqlStore,
    hostname: str = "LAPTOP-0193",
    serial: str = "PF3XK2Q1",
    group: str | None = None,
) -> str:
    """Enrol a device the way ingest does and return its id."""
    token = f"tok-{hostname}"
    store.add_enrolment_token(token, group, None, NOW + timedelta(days=1))
    reg = DeviceRegistration(f"inst-{hostname}", hostname, serial, "windows", "11", "0.1.0")
    return store.enrol_device(token, reg, "secret", NOW).id
