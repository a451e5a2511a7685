"""Job runs: a period is claimed once, an abandoned run is taken over, and two runners on one
database run each period of a job exactly once (in-process, SQLite; the multi-process PostgreSQL
test is test_jobs_once.py)."""

import asyncio
import threading
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from collector.clock import utcnow
from collector.jobs import ExclusiveService, JobRunner, PeriodicJob
from collector.store import open_store
from collector.store.job_runs import JobRuns


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_period_is_claimed_once_and_an_abandoned_run_is_taken_over(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    url = (
        request.getfixturevalue("pg_url")
        if backend == "postgresql"
        else f"sqlite:///{tmp_path / 'db.sqlite'}"
    )
    runs = JobRuns(open_store(url))
    now = utcnow()
    assert runs.claim("retention", 1, "a", now) == 1
    assert runs.claim("retention", 1, "a", now) is None  # the holder itself: not twice
    assert runs.finish("retention", 1, "a", now, "ok")
    assert runs.claim("retention", 1, "b", now) is None  # done: nobody runs it again
    # "a" claimed period 2 and died before finishing; "b", now holding the lease, takes over.
    assert runs.claim("retention", 2, "a", now) == 1
    assert runs.claim("retention", 2, "b", now) == 2
    assert not runs.finish("retention", 2, "a", now, "ok")  # a late "a" cannot record it
    assert runs.finish("retention", 2, "b", now, "ok")
    assert [(r["period"], r["holder"], r["attempt"]) for r in runs.history()] == [
        (1, "a", 1),
        (2, "b", 2),
    ]
    assert runs.prune("retention", 2) == 1
    assert [r["period"] for r in runs.history("retention")] == [2]


async def test_two_runners_run_each_period_once_and_one_holds_the_service(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    ran: Counter[tuple[str, int]] = Counter()
    lock = threading.Lock()
    running: list[str] = []

    def runner(holder: str) -> tuple[JobRunner, list[asyncio.Task[None]]]:
        r = JobRunner(store, holder, lease_seconds=0.6)

        def body(now: datetime) -> None:
            with lock:
                ran[(holder, int(now.timestamp() // 0.2))] += 1

        def start() -> Callable[[], object]:
            running.append(holder)
            return lambda: running.remove(holder)

        tasks = [
            asyncio.create_task(r.periodic(PeriodicJob("tick", 0.2, body))),
            asyncio.create_task(r.exclusive(ExclusiveService("watcher", start))),
        ]
        return r, tasks

    a, a_tasks = runner("a")
    b, b_tasks = runner("b")
    await asyncio.sleep(2.0)
    assert len(running) == 1  # the watcher runs on one replica only
    # The job's holder stops and gives its leases back: the other replica takes over at once.
    first = a.leases.get_lease_owner("tick")
    stopped, stopped_tasks = (a, a_tasks) if first == "a" else (b, b_tasks)
    for t in stopped_tasks:
        t.cancel()
    await asyncio.gather(*stopped_tasks, return_exceptions=True)
    await asyncio.to_thread(stopped.release)
    await asyncio.sleep(1.0)
    assert running == ["b" if first == "a" else "a"]
    for t in a_tasks + b_tasks:
        t.cancel()
    await asyncio.gather(*a_tasks, *b_tasks, return_exceptions=True)

    rows = JobRuns(store).history("tick")
    periods = [r["period"] for r in rows]
    assert len(rows) >= 10
    assert all(r["outcome"] == "ok" and r["finished_at"] is not None for r in rows)
    # Every recorded period ran exactly once, on the replica recorded for it, and no period
    # ran anywhere without a record.
    assert sorted(p for (_, p) in ran) == sorted(periods)
    assert all(n == 1 for n in ran.values())
    assert {(r["holder"], r["period"]) for r in rows} == set(ran)
    assert {r["holder"] for r in rows} == {"a", "b"}  # both held it, one after the other
