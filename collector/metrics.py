"""Prometheus metrics: what IT's monitoring scrapes (`GET /metrics`, or `serve --metrics`).

Operational figures only — ingest throughput and refusals, streams, devices by connection, the
notification outbox, background job freshness, the process itself. Nothing about alerts or
students: the people who run Prometheus are not the people who may see safeguarding work.

Counters live in the process that counts them (each ingest replica exposes its own, as usual for
Prometheus); the gauges read from the database are the same whichever replica is scraped.
"""

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from collector.clock import utcnow
from collector.coverage import CONNECTIONS, MISSING_AFTER, ONLINE_HEARTBEATS

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)

BATCHES = Counter(
    "lantern_ingest_batches",
    "Event batches answered, by result (stored, retry: store away or too large, throttled).",
    ["result"],
    registry=REGISTRY,
)
EVENTS = Counter(
    "lantern_ingest_events",
    "Events in answered batches, by result (stored, duplicate, rejected as malformed).",
    ["result"],
    registry=REGISTRY,
)
STREAMS = Gauge(
    "lantern_ingest_streams", "Agent Connect streams open in this process.", registry=REGISTRY
)
REFUSALS = Counter(
    "lantern_ingest_refusals",
    "Connect streams refused, by reason (unknown_device, revoked, bad_hello, ...).",
    ["reason"],
    registry=REGISTRY,
)
ENROLMENTS = Counter(
    "lantern_enrolments", "Enrolment attempts, by result.", ["result"], registry=REGISTRY
)


class DatabaseGauges(Collector):
    """Read at scrape time: devices by connection, the outbox, how fresh each job's last run is."""

    def __init__(self, engine: Any, heartbeat: timedelta) -> None:
        self.engine = engine
        self.heartbeat = heartbeat

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from collector.alerts import models as am
        from collector.store import models as m

        now = utcnow()
        d, o, runs = m.devices, am.outbox, m.job_runs
        online_after = now - self.heartbeat * ONLINE_HEARTBEATS
        missing_after = now - MISSING_AFTER
        live = d.c.revoked.is_(False)
        with self.engine.connect() as conn:
            counts = {
                "online": conn.scalar(
                    select(func.count()).where(live, d.c.last_seen_at >= online_after)
                ),
                "offline": conn.scalar(
                    select(func.count()).where(
                        live, d.c.last_seen_at < online_after, d.c.last_seen_at >= missing_after
                    )
                ),
                "missing": conn.scalar(
                    select(func.count()).where(live, d.c.last_seen_at < missing_after)
                ),
                "never_connected": conn.scalar(
                    select(func.count()).where(live, d.c.last_seen_at.is_(None))
                ),
            }
            revoked = conn.scalar(select(func.count()).where(d.c.revoked.is_(True)))
            outbox = dict(
                conn.execute(
                    select(o.c.status, func.count())
                    .where(o.c.status.in_(("pending", "failed")))
                    .group_by(o.c.status)
                ).all()
            )
            last_ok = conn.execute(
                select(runs.c.name, func.max(runs.c.finished_at))
                .where(runs.c.outcome == "ok")
                .group_by(runs.c.name)
            ).all()
        devices = GaugeMetricFamily(
            "lantern_devices", "Enrolled devices by connection (revoked apart).", labels=["state"]
        )
        for state in CONNECTIONS:
            devices.add_metric([state], float(counts[state] or 0))
        devices.add_metric(["revoked"], float(revoked or 0))
        yield devices
        queue = GaugeMetricFamily(
            "lantern_outbox", "Notifications waiting or given up on.", labels=["status"]
        )
        for status in ("pending", "failed"):
            queue.add_metric([status], float(outbox.get(status, 0)))
        yield queue
        ages = GaugeMetricFamily(
            "lantern_job_last_success_age_seconds",
            "Seconds since each background job last finished without error (any replica).",
            labels=["job"],
        )
        for name, finished in last_ok:
            if finished is not None:
                ages.add_metric([name], (now - finished).total_seconds())
        yield ages


_database_gauges: DatabaseGauges | None = None


def watch_database(engine: Any, heartbeat: timedelta) -> None:
    """Add the database gauges to this process's metrics (once; the last engine wins)."""
    global _database_gauges
    if _database_gauges is None:
        _database_gauges = DatabaseGauges(engine, heartbeat)
        REGISTRY.register(_database_gauges)
    else:
        _database_gauges.engine, _database_gauges.heartbeat = engine, heartbeat


def exposition() -> bytes:
    """The text format Prometheus scrapes."""
    return bytes(generate_latest(REGISTRY))
