"""haproxy (mode tcp) in front of two `serve --role ingest` processes on one PostgreSQL database,
with `--role web` and `--role jobs` beside them: agents enrol and stream through haproxy, both
collectors get streams, every event is stored exactly once; after `kill -9` of one collector the
agents reconnect through haproxy to the other and nothing is lost."""

import asyncio
import urllib.request
from pathlib import Path

import pytest

from bench.ingest.haproxy import Haproxy
from bench.ingest.procs import Collector
from tests.faults.fleet import Fleet

AGENTS = 8
EVENTS = 6000
RATE = 400.0  # events/s across the fleet: ~15 s of streaming


@pytest.mark.slow
async def test_haproxy_spreads_agents_and_survives_a_collector_kill(
    tmp_path: Path, pg_url: str
) -> None:
    var = tmp_path / "var"  # one CA for every process (on several hosts: copy var/ca to each)
    ingest = [
        Collector(var, pg_url, role="ingest", log_path=tmp_path / f"ingest{i}.log") for i in (1, 2)
    ]
    web = Collector(var, pg_url, role="web", log_path=tmp_path / "web.log")
    jobs = Collector(var, pg_url, role="jobs", log_path=tmp_path / "jobs.log")
    procs = [*ingest, web, jobs]
    token = web.enrolment_token(AGENTS)  # schema and CA made once, before the replicas start
    lb = Haproxy(tmp_path / "haproxy", [p.grpc for p in ingest], [p.enrol for p in ingest])
    try:
        await asyncio.gather(*(asyncio.to_thread(p.start) for p in procs))
        lb.start()
        fleet = await asyncio.to_thread(
            Fleet,
            tmp_path / "agents",
            agents=AGENTS,
            connect_to=lb.connect,
            enrol_at=lb.enrol,
            token=token,
        )
        async with fleet.running():
            fleet.produce(EVENTS, RATE)
            await fleet.wait_until(
                lambda: (
                    all(a.sender.state.connected for a in fleet.agents)
                    and fleet.acked() >= EVENTS // 4
                ),
                30,
                "every agent connected through haproxy and acks flowing",
            )
            streams = [p.established(p.grpc) for p in ingest]
            # leastconn: the streams are split between the two collectors.
            assert sum(streams) == AGENTS and min(streams) >= AGENTS // 2 - 1, streams

            victim, survivor = ingest
            on_victim = streams[0]
            reconnects = sum(a.sender.state.reconnects for a in fleet.agents)
            acked_at_kill = fleet.acked()
            victim.kill()
            await fleet.wait_drained(timeout=45)
            assert acked_at_kill < EVENTS, "the kill should land mid-stream"
            assert survivor.established(survivor.grpc) == AGENTS
            # Every agent that was on the killed collector reconnected, through haproxy.
            after = sum(a.sender.state.reconnects for a in fleet.agents)
            assert after - reconnects >= on_victim, (after, reconnects, on_victim)
            assert lb.servers()["ingest/ingest1"].startswith("DOWN"), lb.servers()
        with urllib.request.urlopen(f"http://{web.http}/healthz", timeout=5) as r:
            assert r.status == 200
        assert jobs.alive()
    finally:
        lb.stop()
        for p in procs:
            p.stop()
    counts = fleet.assert_stored_exactly_once(pg_url)
    assert counts["events"] == EVENTS
