"""A fleet sending faster than the collector's global rate limit: agents are throttled, slow down
by themselves, and every event is still stored exactly once (real agents' spool + sender +
mutual-TLS transport against a real `lantern-collector serve`)."""

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.ingest.procs import Collector
from tests.faults.fleet import Fleet

AGENTS = 4
EVENTS = 4_000
GLOBAL_RATE = 500  # events/s for the whole collector; the agents offer far more


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[Collector]:
    c = Collector(
        tmp_path / "collector",
        log_path=tmp_path / "collector.log",
        env={
            "LANTERN_GLOBAL_EVENTS_PER_SECOND": str(GLOBAL_RATE),
            "LANTERN_GLOBAL_EVENT_BURST": "1000",
            "LANTERN_MAX_BATCH_EVENTS": "200",
        },
    )
    c.start()
    yield c
    c.stop()


async def test_a_throttled_fleet_slows_down_and_loses_nothing(
    collector: Collector, tmp_path: Path
) -> None:
    fleet = await asyncio.to_thread(
        Fleet,
        tmp_path / "agents",
        agents=AGENTS,
        connect_to=collector.grpc,
        enrol_at=collector.enrol,
        token=collector.enrolment_token(AGENTS),
    )
    started = time.monotonic()
    async with fleet.running():
        fleet.produce(EVENTS, rate=20_000)
        await fleet.wait_drained(timeout=120)
        fleet.assert_senders_alive()
        throttles = [a.sender.state.throttles for a in fleet.agents]
    elapsed = time.monotonic() - started
    collector.stop()

    counts = fleet.assert_stored_exactly_once(f"sqlite:///{collector.var_dir / 'lantern.db'}")
    assert counts["events"] == EVENTS
    assert sum(throttles) > 0, "the collector never throttled"
    # The limit held: the burst (1,000) plus GLOBAL_RATE per second, with slack for start-up.
    assert elapsed >= (EVENTS - 1000) / GLOBAL_RATE * 0.9, elapsed
