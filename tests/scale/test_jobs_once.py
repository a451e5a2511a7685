"""Background jobs once across replicas: two real collector processes (`--role all` and
`--role jobs`) on one PostgreSQL database run every job period exactly once; after `kill -9` of
the holder the other takes over once the lease has expired."""

import itertools
import json
import re
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from bench.ingest.procs import Collector

LEASE_S = 3.0
JOBS = ("escalation", "coverage", "weekly_report", "retention")
RUNNING = re.compile(r"^job (\w+): running period (\d+) \(attempt (\d+)\)$")


def _logged(proc: Collector) -> tuple[Counter[tuple[str, int]], int]:
    """(name, period) runs started by this process, and its retention purges, from its log."""
    runs: Counter[tuple[str, int]] = Counter()
    purges = 0
    for line in proc.log_path.read_text(errors="replace").splitlines():
        try:
            msg = json.loads(line).get("msg", "")
        except ValueError:
            continue
        if m := RUNNING.match(msg):
            runs[(m[1], int(m[2]))] += 1
        purges += msg.startswith("retention purge:")
    return runs, purges


def _rows(url: str) -> list[dict[str, object]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [
                dict(r)
                for r in conn.execute(text("SELECT * FROM job_runs ORDER BY name, period"))
                .mappings()
                .all()
            ]
    finally:
        engine.dispose()


def _lease_owner(url: str, name: str) -> str | None:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            owner = conn.execute(
                text("SELECT owner FROM job_leases WHERE name = :n"), {"n": name}
            ).scalar()
            return str(owner) if owner else None
    finally:
        engine.dispose()


def _pid(holder: object) -> int:
    return int(str(holder).split("-")[-2])  # replica id: host-pid-random


@pytest.mark.slow
def test_two_replicas_run_each_period_once_and_survive_kill_9(tmp_path: Path, pg_url: str) -> None:
    env = {
        "LANTERN_JOB_INTERVALS": json.dumps(dict.fromkeys(JOBS, 1)),
        "LANTERN_JOB_LEASE_SECONDS": str(LEASE_S),
    }
    var = tmp_path / "var"
    a = Collector(var, pg_url, role="all", log_path=tmp_path / "a.log", env=env)
    b = Collector(var, pg_url, role="jobs", log_path=tmp_path / "b.log", env=env)
    a.cli("tokens", "create")  # schema and CA once
    try:
        a.start()
        b.start()
        time.sleep(6)
        holder = _lease_owner(pg_url, "retention")
        assert holder is not None
        victim, survivor = (a, b) if _pid(holder) == a.pid else (b, a)
        survivor_pid, victim_pid = survivor.pid, victim.pid
        victim.kill()
        killed_at = time.time()
        time.sleep(LEASE_S + 5)
        assert _pid(_lease_owner(pg_url, "retention")) == survivor_pid
    finally:
        a.stop()
        b.stop()

    rows = _rows(pg_url)
    started: Counter[tuple[str, int]] = Counter()
    purges = 0
    for p in (a, b):
        runs, n = _logged(p)
        started += runs
        purges += n
    for name in JOBS:
        mine = [r for r in rows if r["name"] == name]
        periods = [int(str(r["period"])) for r in mine]
        assert len(mine) >= 8, (name, mine)
        # Each period ran once: one row each, every run finished and ok, and the processes'
        # logs show exactly as many starts as the row's attempts (2 only if the killed holder
        # was in the middle of that period's run and the survivor took over within it). A run
        # the victim left unfinished in an earlier period is not repeated: the next one covers it.
        unfinished = [r for r in mine if r["finished_at"] is None]
        assert len(unfinished) <= 1, unfinished
        for r in unfinished:
            assert _pid(r["holder"]) == victim_pid and int(str(r["period"])) <= killed_at + 1
        assert all(r["outcome"] == "ok" for r in mine if r not in unfinished), mine
        for r in mine:
            assert started[(name, int(str(r["period"])))] == r["attempt"], r
        # No period went unrun while a holder was alive: the only gap is the takeover.
        gaps = [b - a for a, b in itertools.pairwise(periods) if b - a > 1]
        assert len(gaps) <= 1 and all(g <= LEASE_S + 3 for g in gaps), (name, periods)
        # After the kill the survivor ran everything.
        after = [r for r in mine if int(str(r["period"])) > killed_at + 1]
        assert after and all(_pid(r["holder"]) == survivor_pid for r in after), after
        assert int(str(after[0]["period"])) - killed_at <= LEASE_S + 3
    assert sum(started.values()) == sum(int(str(r["attempt"])) for r in rows)
    assert purges == sum(int(str(r["attempt"])) for r in rows if r["name"] == "retention")
