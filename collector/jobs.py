"""Background jobs exactly once across collector replicas: a lease per job, a run per period.

Any number of processes may run the jobs (`serve --role all` or `--role jobs`, on one database).
For each job:

1. **Lease** (`job_leases`, a conditional UPDATE: SQLite and PostgreSQL). Every replica tries to
   take or renew the job's lease every `lease / 3` seconds; the holder keeps it by renewing, also
   while a run is in progress. A holder that dies (`kill -9`, power cut) stops renewing and
   another replica takes over once the lease has expired.
2. **Run record** (`job_runs`, one row per job and period, period = epoch seconds // interval).
   The holder claims the period with an insert that does nothing when the row exists, runs the
   job, and records when it finished and how. A lease that changed hands around a period boundary
   therefore cannot make the period run twice; a run whose holder died before finishing is taken
   over by the next holder (attempt 2).

What this does not cover: a holder frozen (not dead) for longer than the lease that wakes up in the
middle of a run finishes that run while its successor runs it again. Every job here is idempotent
(escalation steps are conditional updates, one report row per week, purges delete what is past
its date), so that costs work, not correctness. Clocks: leases compare each replica's own clock
with the expiry another replica wrote, so keep the replicas on NTP; a skew of S seconds moves the
takeover by S.

The outbox dispatcher is not leased: it runs on every replica and claims rows with row leases
(FOR UPDATE SKIP LOCKED on PostgreSQL), so replicas share the sending.
"""

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from collector.alerts.store import AlertStore
from collector.clock import utcnow
from collector.store.interface import JobRunLedger
from collector.store.job_runs import JobRuns
from collector.store.sql import SqlStore

log = logging.getLogger(__name__)

# Run records are kept this long (the job_runs retention in the privacy inventory).
KEEP_RUNS = timedelta(days=14)


@dataclass(frozen=True, slots=True)
class PeriodicJob:
    """`body(now)` once per `interval` seconds across all replicas (run in a worker thread)."""

    name: str
    interval: float
    body: Callable[[datetime], object]


@dataclass(frozen=True, slots=True)
class ExclusiveService:
    """Something that must run on one replica at a time (a folder watcher): `start()` is called
    when this replica takes the lease and returns the function that stops it again."""

    name: str
    start: Callable[[], Callable[[], object]]


class JobRunner:
    def __init__(self, store: SqlStore, holder: str, *, lease_seconds: float = 30.0) -> None:
        self.leases = AlertStore(store)
        self.runs: JobRunLedger = JobRuns(store)
        self.holder = holder
        self.lease = timedelta(seconds=lease_seconds)
        self.tick = lease_seconds / 3
        self.names: set[str] = set()

    async def _hold(self, name: str) -> bool:
        """Take or renew the lease; True while this replica holds it."""
        self.names.add(name)
        return await asyncio.to_thread(
            self.leases.acquire_lease, name, self.holder, self.lease, utcnow()
        )

    async def _renew_while_running(self, name: str) -> None:
        while True:
            await asyncio.sleep(self.tick)
            try:
                if not await self._hold(name):
                    log.warning("job %s: lease lost while running (another replica has it)", name)
            except Exception:
                log.warning("job %s: could not renew its lease", name, exc_info=True)

    async def periodic(self, job: PeriodicJob) -> None:
        """Until cancelled: renew the lease every tick; run each period once while holding it."""
        done: int | None = None  # the last period this replica ran or found done
        while True:
            now = utcnow()
            period = int(now.timestamp() // job.interval)
            try:
                if await self._hold(job.name) and period != done:
                    await self._run(job, period, now)
                    done = period
            except Exception:  # a database blip: try again at the next tick
                log.exception("job %s: lease or run record failed; will retry", job.name)
            next_period = (period + 1) * job.interval - utcnow().timestamp()
            await asyncio.sleep(max(0.01, min(self.tick, next_period + 0.01)))

    async def _run(self, job: PeriodicJob, period: int, now: datetime) -> None:
        attempt = await asyncio.to_thread(self.runs.claim, job.name, period, self.holder, now)
        if attempt is None:
            return  # another replica ran this period already
        log.info("job %s: running period %d (attempt %d)", job.name, period, attempt)
        renew = asyncio.create_task(self._renew_while_running(job.name))
        body = asyncio.ensure_future(asyncio.to_thread(job.body, now))
        cancelled = False
        try:
            # Shielded: at shutdown the run in its thread is let finish and recorded, so the
            # next holder does not run this period again.
            await asyncio.shield(body)
        except asyncio.CancelledError:
            cancelled = True
            await asyncio.wait([body])
        except Exception:
            pass  # the body's own error, recorded below
        finally:
            renew.cancel()
        error = body.exception() if body.done() and not body.cancelled() else None
        if error is not None:
            log.error("job %s failed", job.name, exc_info=error)
        outcome = "ok" if error is None else f"failed: {error!r}"
        finished = utcnow()
        if not await asyncio.to_thread(
            self.runs.finish, job.name, period, self.holder, finished, outcome
        ):
            log.warning("job %s: period %d was taken over by another replica", job.name, period)
        if cancelled:
            raise asyncio.CancelledError
        keep = int(KEEP_RUNS.total_seconds() // job.interval) + 1
        if period % 100 == 0:
            await asyncio.to_thread(self.runs.prune, job.name, period - keep)

    async def exclusive(self, service: ExclusiveService) -> None:
        """Until cancelled: run `service` here while this replica holds its lease."""
        stop: Callable[[], object] | None = None
        try:
            while True:
                try:
                    held = await self._hold(service.name)
                except Exception:  # cannot renew: the lease will lapse, so stop first
                    log.warning("%s: could not renew its lease", service.name, exc_info=True)
                    held = False
                if held and stop is None:
                    stop = await asyncio.to_thread(service.start)
                    log.info("%s: running on this replica", service.name)
                elif not held and stop is not None:
                    await asyncio.to_thread(stop)
                    stop = None
                    log.info("%s: stopped here (another replica holds it)", service.name)
                await asyncio.sleep(self.tick)
        finally:
            if stop is not None:
                await asyncio.to_thread(stop)

    def release(self) -> None:
        """Give every lease back at shutdown so another replica takes over at once."""
        for name in self.names:
            try:
                self.leases.release_lease(name, self.holder)
            except Exception:
                log.warning("could not release the %s lease", name)
