"""The network path between agents and collector cut and restored (a TCP proxy that drops
connections), including cuts that swallow acks of batches the collector already committed: every
event is stored exactly once and every agent reconnects by itself."""

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

import agent.sender
from bench.ingest.procs import Collector
from tests.faults.fleet import FAULT_EVENTS, Fleet
from tests.faults.proxy import CuttableProxy

AGENTS = 6
CUTS = 4


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[Collector]:
    c = Collector(tmp_path / "collector", log_path=tmp_path / "collector.log")
    c.start()
    yield c
    c.stop()


@pytest.fixture(autouse=True)
def short_backoff_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(agent.sender, "BACKOFF_CAP_S", 2.0)


async def _closed(reader: asyncio.StreamReader) -> bool:
    """True when the peer dropped the connection (end of stream or a reset)."""
    try:
        async with asyncio.timeout(5):
            while await reader.read(65536):  # what was already in flight may still arrive
                pass
    except ConnectionError:
        pass
    return True


async def test_the_proxy_forwards_and_cuts(collector: Collector) -> None:
    proxy = CuttableProxy(collector.http)
    await proxy.start()
    try:
        host, _, port = proxy.address.rpartition(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n")
        assert (await asyncio.wait_for(reader.readline(), 5)).startswith(b"HTTP/1.1 200")
        proxy.cut()
        assert await _closed(reader)
        # While cut, new connections are dropped at once.
        r2, _ = await asyncio.open_connection(host, int(port))
        assert await _closed(r2)
        proxy.restore()
        r3, w3 = await asyncio.open_connection(host, int(port))
        w3.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await asyncio.wait_for(r3.readline(), 5)).startswith(b"HTTP/1.1 200")
        w3.close()
    finally:
        await proxy.close()


@pytest.mark.slow
async def test_cuts_and_lost_acks_lose_nothing_and_store_nothing_twice(
    collector: Collector, tmp_path: Path
) -> None:
    proxy = CuttableProxy(collector.grpc)
    await proxy.start()
    token = collector.enrolment_token(AGENTS)
    fleet = await asyncio.to_thread(
        Fleet,
        tmp_path / "agents",
        agents=AGENTS,
        connect_to=proxy.address,  # streams go through the proxy; enrolment goes direct
        enrol_at=collector.enrol,
        token=token,
    )
    events = FAULT_EVENTS // 2
    try:
        async with fleet.running():
            fleet.produce(events, events / 15)
            for k in range(CUTS):
                before = fleet.acked()
                await fleet.wait_until(
                    lambda before=before: fleet.acked() >= before + events // (3 * CUTS),
                    60,
                    "acks to advance",
                )
                if k % 2 == 0:
                    # Acks stop flowing while the collector keeps committing: those batches are
                    # stored but unacknowledged when the path drops, and will be sent again.
                    proxy.stall_replies()
                    await asyncio.sleep(0.7)
                proxy.cut()
                await asyncio.sleep(1.5)  # the path stays down; agents back off and retry
                proxy.restore()
            await fleet.wait_drained(timeout=90 + FAULT_EVENTS / 400)
            fleet.assert_senders_alive()
            reconnects = [a.sender.state.reconnects for a in fleet.agents]
    finally:
        await proxy.close()
    collector.stop()

    counts = fleet.assert_stored_exactly_once(f"sqlite:///{collector.var_dir / 'lantern.db'}")
    assert counts["events"] == events
    assert counts["resent"] > 0, counts  # stalled acks made agents send committed batches again
    assert all(r >= 2 for r in reconnects), reconnects
    assert proxy.cuts >= CUTS and proxy.connections >= AGENTS * 2
