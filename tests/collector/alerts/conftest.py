"""Alert tests run on SQLite and on a real PostgreSQL server, like the store contract suite."""

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from collector.alerts.store import AlertStore
from collector.store import SqlStore, open_store
from collector.store.interface import DeviceRegistration
from tests.collector.triggers.helpers import T0
from tests.postgres import fresh_database, postgres_server  # noqa: F401 - fixture


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'lantern.db'}"
    else:
        url = fresh_database(request.getfixturevalue("postgres_server"))
    s = open_store(url)
    yield s
    s.close()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SqlStore]:
    s = open_store(f"sqlite:///{tmp_path / 'lantern.db'}")
    yield s
    s.close()


@pytest.fixture
def alerts(store: SqlStore) -> AlertStore:
    return AlertStore(store)


def enrol(store: SqlStore, n: int = 1, group: str = "10B") -> list[str]:
    """Enrol n devices in one group; returns their ids."""
    store.add_enrolment_token(f"tok-{group}", group, None, T0 + timedelta(days=1))
    return [
        store.enrol_device(
            f"tok-{group}",
            DeviceRegistration(
                f"inst-{group}-{i}", f"LAPTOP-{i:03d}", f"SN-{group}-{i}", "linux", "12", "0.1"
            ),
            "h",
            T0,
        ).id
        for i in range(n)
    ]
