"""`kill -9` of the collector five times while a fleet of real spool+sender agents streams events:
every event ends up stored exactly once and every agent reconnects on its own."""

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

import agent.sender
from bench.ingest.procs import Collector
from tests.faults.fleet import FAULT_EVENTS, Fleet

KILLS = 5
AGENTS = 8


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[Collector]:
    c = Collector(tmp_path / "collector", log_path=tmp_path / "collector.log")
    c.start()
    yield c
    c.stop()


@pytest.fixture(autouse=True)
def short_backoff_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    # Reconnect timing is not what these tests measure (test_reconnect_backoff.py is about that):
    # cap the full-jitter backoff so five outages in a row fit in a test run.
    monkeypatch.setattr(agent.sender, "BACKOFF_CAP_S", 2.0)


@pytest.mark.slow
async def test_kill_9_five_times_loses_nothing_and_stores_nothing_twice(
    collector: Collector, tmp_path: Path
) -> None:
    token = collector.enrolment_token(AGENTS)
    fleet = await asyncio.to_thread(
        Fleet,
        tmp_path / "agents",
        agents=AGENTS,
        connect_to=collector.grpc,
        enrol_at=collector.enrol,
        token=token,
    )
    async with fleet.running():
        rate = FAULT_EVENTS / 20  # the whole run produces for ~20 s, whatever the event count
        fleet.produce(FAULT_EVENTS, rate)
        killed_at_acked = []
        for _ in range(KILLS):
            # Kill mid-stream: wait for acks to advance since the last restart, then freeze the
            # collector so that a batch is surely sent and not acked when it dies (a fast
            # collector acks within a millisecond: an unfrozen kill often lands between batches,
            # and then nothing is sent twice).
            before = fleet.acked()
            await fleet.wait_until(
                lambda before=before: fleet.acked() >= before + FAULT_EVENTS // (3 * KILLS),
                60,
                "acks to advance",
            )
            collector.freeze()
            await fleet.wait_until(
                lambda: any(a.sender.in_flight for a in fleet.agents), 10, "a batch in flight"
            )
            collector.kill()
            killed_at_acked.append(fleet.acked())
            await asyncio.sleep(0.5)
            await asyncio.to_thread(collector.start)
        await fleet.wait_drained(timeout=90 + FAULT_EVENTS / 400)
        fleet.assert_senders_alive()
        # Same Sender objects throughout: each agent reconnected by itself (an agent in backoff
        # during a short outage may sleep through one kill, so not every kill costs every agent).
        reconnects = [a.sender.state.reconnects for a in fleet.agents]
    collector.stop()

    counts = fleet.assert_stored_exactly_once(f"sqlite:///{collector.var_dir / 'lantern.db'}")
    assert counts["events"] == FAULT_EVENTS
    assert collector.starts == KILLS + 1
    assert all(r >= 2 for r in reconnects), reconnects
    assert sum(reconnects) >= len(reconnects) * (KILLS + 1) // 2, reconnects
    # Kills landed mid-stream (acks were still advancing) and some batches were sent again.
    assert killed_at_acked == sorted(killed_at_acked) and killed_at_acked[-1] < FAULT_EVENTS
    assert counts["resent"] > 0, counts
