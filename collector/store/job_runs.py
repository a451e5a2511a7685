"""Store methods for job runs: one row per background job and period (collector/jobs.py).

A replica that holds a job's lease (job_leases, `AlertStore.acquire_lease`) claims the period
before running it. The claim is an insert that does nothing when the row exists, so two replicas
can never both claim one period; a run left unfinished by a holder that lost its lease (killed) is
taken over by a conditional update. Portable: SQLite and PostgreSQL.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from collector.store import models as m
from collector.store.sql import SqlStore

RUNS = m.job_runs


class JobRuns:
    def __init__(self, store: SqlStore) -> None:
        self.store = store
        dialect = postgresql if store.engine.dialect.name == "postgresql" else sqlite
        self._insert = dialect.insert

    def claim(self, name: str, period: int, holder: str, now: datetime) -> int | None:
        """The attempt number if `holder` may run `name` for `period` now, else None: the period
        is done, or another replica is running it. Call only while holding the job's lease: an
        unfinished run by anyone else is then a run its holder abandoned (it lost the lease)."""
        key = (RUNS.c.name == name) & (RUNS.c.period == period)
        with self.store._write() as conn:
            inserted = conn.execute(
                self._insert(RUNS)
                .values(name=name, period=period, holder=holder, attempt=1, started_at=now)
                .on_conflict_do_nothing()
                .returning(RUNS.c.attempt)
            ).scalar_one_or_none()
            if inserted is not None:
                return 1
            taken = conn.execute(
                update(RUNS)
                .where(key, RUNS.c.finished_at.is_(None), RUNS.c.holder != holder)
                .values(holder=holder, attempt=RUNS.c.attempt + 1, started_at=now)
                .returning(RUNS.c.attempt)
            ).scalar_one_or_none()
            return int(taken) if taken is not None else None

    def finish(self, name: str, period: int, holder: str, now: datetime, outcome: str) -> bool:
        """Record the end of a run; False if another replica took the period over meanwhile."""
        with self.store._write() as conn:
            done = conn.execute(
                update(RUNS)
                .where(RUNS.c.name == name, RUNS.c.period == period, RUNS.c.holder == holder)
                .values(finished_at=now, outcome=outcome[:512])
            )
            return done.rowcount == 1

    def prune(self, name: str, before_period: int) -> int:
        with self.store._write() as conn:
            gone = conn.execute(
                delete(RUNS).where(RUNS.c.name == name, RUNS.c.period < before_period)
            )
            return int(gone.rowcount or 0)

    def history(self, name: str | None = None) -> list[dict[str, Any]]:
        q = select(RUNS).order_by(RUNS.c.name, RUNS.c.period)
        if name is not None:
            q = q.where(RUNS.c.name == name)
        with self.store.engine.connect() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]
