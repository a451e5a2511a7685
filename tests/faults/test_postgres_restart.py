"""PostgreSQL restarted (crash-style, `pg_ctl stop -m immediate`) twice while agents stream into a
collector on it: the collector survives without a restart, every event is stored exactly once and
every agent reconnects by itself."""

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

import agent.sender
from bench.ingest.procs import Collector, PostgresServer, postgres_bin_dir
from tests.faults.fleet import FAULT_EVENTS, Fleet

AGENTS = 6
RESTARTS = 2

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(postgres_bin_dir() is None, reason="PostgreSQL is not installed"),
]


@pytest.fixture
def postgres() -> Iterator[PostgresServer]:
    # fsync off: an immediate stop is a crash of PostgreSQL's processes, not of the machine, so
    # committed data survives in the page cache either way; this keeps the test fast.
    pg = PostgresServer(fsync=False)
    pg.start()
    yield pg
    pg.destroy()


@pytest.fixture(autouse=True)
def short_backoff_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(agent.sender, "BACKOFF_CAP_S", 2.0)


@pytest.mark.slow
async def test_postgres_restarts_lose_nothing_and_store_nothing_twice(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    db = postgres.create_database("faults")
    collector = Collector(tmp_path / "collector", db, log_path=tmp_path / "collector.log")
    await asyncio.to_thread(collector.start)
    try:
        token = collector.enrolment_token(AGENTS)
        fleet = await asyncio.to_thread(
            Fleet,
            tmp_path / "agents",
            agents=AGENTS,
            connect_to=collector.grpc,
            enrol_at=collector.enrol,
            token=token,
        )
        events = FAULT_EVENTS // 2
        async with fleet.running():
            fleet.produce(events, events / 15)
            for _ in range(RESTARTS):
                before = fleet.acked()
                await fleet.wait_until(
                    lambda before=before: fleet.acked() >= before + events // (3 * RESTARTS),
                    60,
                    "acks to advance",
                )
                await asyncio.to_thread(postgres.restart, "immediate", 2.0)
            await fleet.wait_drained(timeout=90 + FAULT_EVENTS / 400)
            fleet.assert_senders_alive()
            reconnects = [a.sender.state.reconnects for a in fleet.agents]
        # The collector rode out both restarts in the same process.
        assert collector.alive() and collector.starts == 1, collector.log_tail()
    finally:
        collector.stop()

    counts = fleet.assert_stored_exactly_once(db)
    assert counts["events"] == events
    assert all(r >= 1 for r in reconnects), reconnects
