"""`serve --role`: each role runs only its part, and several ingest processes share one port."""

import asyncio
import urllib.request
from pathlib import Path

import pytest

from bench.ingest.procs import Collector
from tests.faults.fleet import Fleet

AGENTS = 12
EVENTS = 1200


def _listening(proc: Collector) -> set[int]:
    import psutil

    return {
        c.laddr.port
        for c in psutil.Process(proc.pid).net_connections(kind="tcp")
        if c.status == psutil.CONN_LISTEN
    }


def _port(address: str) -> int:
    return int(address.rpartition(":")[2])


@pytest.mark.slow
def test_each_role_listens_only_where_it_should(tmp_path: Path, pg_url: str) -> None:
    var = tmp_path / "var"
    procs = {
        role: Collector(var, pg_url, role=role, log_path=tmp_path / f"{role}.log")
        for role in ("ingest", "web", "jobs", "all")
    }
    procs["web"].cli("tokens", "create")  # schema and CA made once, before the replicas start
    try:
        for p in procs.values():
            p.start()
        ports = {role: _listening(p) for role, p in procs.items()}
        ingest, web, all_ = procs["ingest"], procs["web"], procs["all"]
        assert ports["ingest"] == {_port(ingest.grpc), _port(ingest.enrol)}
        assert ports["web"] == {_port(web.http)}
        assert ports["jobs"] == set()
        assert ports["all"] == {_port(all_.grpc), _port(all_.enrol), _port(all_.http)}
        with urllib.request.urlopen(f"http://{web.http}/healthz", timeout=5) as r:
            assert r.status == 200
        assert "retention purge" in procs["jobs"].log_tail(100_000)
        assert "retention purge" not in ingest.log_tail(100_000)
        assert "retention purge" not in web.log_tail(100_000)
    finally:
        for p in procs.values():
            p.stop()
    # SIGTERM ends every role cleanly.
    codes = {r: p.returncode for r, p in procs.items()}
    assert codes == dict.fromkeys(procs, 0), codes


@pytest.mark.slow
async def test_two_ingest_processes_share_one_port(tmp_path: Path, pg_url: str) -> None:
    """grpc core listens with SO_REUSEPORT: two ingest processes bind the same gRPC and enrolment
    ports and the kernel spreads the agents' connections across both."""
    var = tmp_path / "var"
    a = Collector(var, pg_url, role="ingest", log_path=tmp_path / "a.log")
    b = Collector(
        var, pg_url, role="ingest", log_path=tmp_path / "b.log", grpc=a.grpc, enrol=a.enrol
    )
    token = a.enrolment_token(AGENTS)
    try:
        await asyncio.gather(asyncio.to_thread(a.start), asyncio.to_thread(b.start))
        fleet = await asyncio.to_thread(
            Fleet,
            tmp_path / "agents",
            agents=AGENTS,
            connect_to=a.grpc,
            enrol_at=a.enrol,
            token=token,
        )
        async with fleet.running():
            fleet.produce(EVENTS, EVENTS / 4)
            await fleet.wait_drained(timeout=60)
            streams = (a.established(a.grpc), b.established(b.grpc))
        assert sum(streams) >= AGENTS and min(streams) > 0, streams
    finally:
        a.stop()
        b.stop()
    counts = fleet.assert_stored_exactly_once(pg_url)
    assert counts["events"] == EVENTS
