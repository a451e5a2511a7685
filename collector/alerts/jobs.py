"""Background jobs for the alert workflow, started by collector.server:

| job            | every   | replicas                                                           |
|----------------|---------|--------------------------------------------------------------------|
| outbox         | 0.25 s  | all: rows are leased (FOR UPDATE SKIP LOCKED on PostgreSQL)        |
| escalation     | 30 s    | one: job lease; each step is a conditional update as well          |
| coverage rules | 5 min   | one: job lease; cursor and blind-since kept in job_state           |
| weekly report  | 10 min  | one: job lease; the reports table holds one row per week anyway    |

Every loop logs and carries on after an error: a failing SMTP server or a database blip must not
stop escalation.
"""

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from collector.alerts.config import AlertsConfig
from collector.alerts.escalation import escalation_tick
from collector.alerts.notify import Dispatcher, Sender
from collector.alerts.reports import run_weekly_report
from collector.alerts.store import AlertStore
from collector.clock import utcnow
from collector.store.sql import SqlStore
from collector.triggers.coverage import COVERAGE_EVENT_KINDS, evaluate_coverage
from collector.triggers.rules import RuleSet

log = logging.getLogger(__name__)

COVERAGE_CURSOR = "coverage.cursor"
COVERAGE_BLIND = "coverage.blind_since"


def replica_id() -> str:
    return f"{socket.gethostname()[:32]}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def run_coverage(store: SqlStore, alerts: AlertStore, rules: RuleSet, now: datetime) -> int:
    """One coverage pass: fleet state now plus coverage events since the cursor. Returns the
    number of alerts raised or updated."""
    cursor_raw = alerts.get_state(COVERAGE_CURSOR)
    cursor = datetime.fromisoformat(cursor_raw) if cursor_raw else now - timedelta(hours=1)
    events = [dict(e) for e in alerts.coverage_events_after(cursor, COVERAGE_EVENT_KINDS)]
    blind = alerts.get_state(COVERAGE_BLIND) or {}
    result = evaluate_coverage(rules, store.list_devices(), events, now, blind)
    raised = alerts.raise_alerts(result.candidates, now) if result.candidates else None
    if events:
        alerts.set_state(COVERAGE_CURSOR, events[-1]["received_at"].isoformat())
    elif cursor_raw is None:
        alerts.set_state(COVERAGE_CURSOR, cursor.isoformat())
    alerts.set_state(COVERAGE_BLIND, result.blind_since)
    alerts.prune_trigger_state(now)
    return (raised.raised + raised.updated) if raised else 0


class AlertJobs:
    """Owns the background loops; `await jobs.run()` until cancelled."""

    def __init__(
        self,
        store: SqlStore,
        rules: RuleSet,
        config: AlertsConfig,
        *,
        senders: dict[str, Sender] | None = None,
        owner: str | None = None,
        dispatch_interval: float = 0.25,
        escalation_interval: float = 30.0,
        coverage_interval: float = 300.0,
        report_interval: float = 600.0,
    ) -> None:
        self.store = store
        self.alerts = AlertStore(store)
        self.rules = rules
        self.config = config
        self.owner = owner or replica_id()
        self.dispatcher = Dispatcher(self.alerts, config, rules.calendar, self.owner, senders)
        self.intervals = {
            "escalation": escalation_interval,
            "coverage": coverage_interval,
            "weekly_report": report_interval,
        }
        self.dispatch_interval = dispatch_interval

    # --- one pass of each job (tests and the CLI call these directly)
    def escalation_once(self, now: datetime) -> int:
        done = escalation_tick(self.alerts, self.config, self.rules.calendar, now)
        if done:
            self.dispatcher.wake.set()
        return len(done)

    def coverage_once(self, now: datetime) -> int:
        n = run_coverage(self.store, self.alerts, self.rules, now)
        if n:
            self.dispatcher.wake.set()
        return n

    def weekly_report_once(self, now: datetime, force: bool = False) -> dict[str, Any] | None:
        report = run_weekly_report(
            self.alerts,
            self.store.list_devices(),
            self.config,
            self.rules.calendar,
            now,
            force=force,
        )
        if report is not None:
            self.dispatcher.wake.set()
        return report

    async def _leased_loop(self, name: str, body: Callable[[datetime], Any]) -> None:
        interval = self.intervals[name]
        ttl = timedelta(seconds=max(interval * 3, 30))
        while True:
            try:
                now = utcnow()
                if await asyncio.to_thread(self.alerts.acquire_lease, name, self.owner, ttl, now):
                    await asyncio.to_thread(body, now)
            except Exception:
                log.exception("alert job %s failed; will retry", name)
            await asyncio.sleep(interval)

    def loops(self) -> list[Awaitable[None]]:
        return [
            self.dispatcher.run_forever(self.dispatch_interval),
            self._leased_loop("escalation", self.escalation_once),
            self._leased_loop("coverage", self.coverage_once),
            self._leased_loop("weekly_report", self.weekly_report_once),
        ]

    async def run(self) -> None:
        """Run every loop until cancelled (collector.server cancels it at shutdown)."""
        tasks = [asyncio.ensure_future(c) for c in self.loops()]
        try:
            await asyncio.gather(*tasks)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            try:
                for name in self.intervals:
                    self.alerts.release_lease(name, self.owner)
            except Exception:
                log.warning("could not release job leases at shutdown")
