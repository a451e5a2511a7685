"""Scale tests: several collector processes (roles) on one database, haproxy in front."""

from collections.abc import Iterator

import pytest

import agent.sender
from tests.postgres import fresh_database, postgres_server  # noqa: F401 - fixture


@pytest.fixture
def pg_url(postgres_server: str) -> str:  # noqa: F811 - the fixture imported above
    return fresh_database(postgres_server)


@pytest.fixture(autouse=True)
def short_backoff_cap(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # Reconnect timing is not what these tests measure: cap the agents' full-jitter backoff.
    monkeypatch.setattr(agent.sender, "BACKOFF_CAP_S", 2.0)
    yield
