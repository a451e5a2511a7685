"""Event stored → alert visible, at 1,000 agents × 1 event/s (target p99 ≤ 250 ms).

An in-process simulation of the ingest path: 1,000 enrolled devices each hand one event a second
to `SqlStore.ingest` (the call the gRPC handler makes, from a thread pool like grpc.aio's
`asyncio.to_thread`), with the packaged rules, the device-group resolver and real title detection.
About 1 % of events are risk matches that raise or fold an alert. For those, the latency is from
the moment the event is handed to ingest until a separate reader connection sees the alert row
(`AlertStore.find`), i.e. what the console and REST API would show.

    .venv/bin/python -m bench.triggers.alert_latency [--seconds 30] [--agents 1000] [--db URL]
"""

import argparse
import random
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import select

from collector.alerts.store import AlertStore
from collector.clock import utcnow
from collector.store import models as m
from collector.store import open_store
from collector.store.interface import DeviceRegistration, EventRow
from collector.triggers.engine import TriggerEngine
from collector.triggers.rules import load_rules
from collector.triggers.subjects import DeviceGroupResolver
from lantern.detection import Engine
from lantern.ids import uuid7_str


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(p / 100 * len(s)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=30)
    ap.add_argument("--agents", type=int, default=1000)
    ap.add_argument("--risk-share", type=float, default=0.01)
    ap.add_argument("--workers", type=int, default=16)
    ap.add_argument("--db", default="", help="SQLAlchemy URL (default: a fresh SQLite file)")
    ap.add_argument("--postgres", action="store_true", help="start a local PostgreSQL (fsync on)")
    args = ap.parse_args()
    if args.postgres:
        from bench.triggers.pg import postgres

        with postgres() as url:
            run(args, url)
    else:
        run(args, args.db or f"sqlite:///{Path(tempfile.mkdtemp()) / 'lantern.db'}")


def run(args: argparse.Namespace, url: str) -> None:
    store = open_store(url)
    store.add_enrolment_token("bench", "Year 10", None, None)
    devices = [
        store.enrol_device(
            "bench", DeviceRegistration(f"i{i}", f"L{i}", "", "linux", "", ""), "h", utcnow()
        ).id
        for i in range(args.agents)
    ]
    triggers = TriggerEngine(
        Engine.load(), 3, load_rules(), subjects=DeviceGroupResolver.for_store(store)
    )
    alerts = AlertStore(store)
    seq = dict.fromkeys(devices, 0)
    rng = random.Random(1)
    titles = [
        "Photosynthesis - BBC Bitesize",
        "Inbox - Outlook",
        "Physics - Teams",
        "knife crime essay - Google Docs",
        "Untitled document - Google Docs",
    ]
    ingest_ms: list[float] = []
    visible_ms: list[float] = []
    lock = threading.Lock()

    def send(device: str, risky: bool) -> None:
        seq[device] += 1
        now = utcnow()
        event_id = uuid7_str()
        if risky:
            row = EventRow(
                event_id,
                device,
                seq[device],
                "risk_match",
                now,
                now,
                "s1",
                "chromium",
                "Essay",
                {
                    "category": "suicide",
                    "severity": rng.choice((3, 4, 5)),
                    "rule": "suicide.kms",
                    "matched": "kms",
                    "snippet": "x",
                    "source": "typed",
                    "process": "chromium",
                },
            )
        else:
            title = rng.choice(titles)
            row = EventRow(
                event_id,
                device,
                seq[device],
                "window_focus",
                now,
                now,
                "s1",
                "chromium",
                title,
                {
                    "process": "chromium",
                    "page_title": title,
                    "url": "https://www.bbc.co.uk/bitesize",
                },
            )
        t0 = time.perf_counter()
        store.ingest(device, [row], triggers)
        t1 = time.perf_counter()
        seen = None
        if risky:
            # A separate connection: the row is committed, so it is visible now or never.
            with store.engine.connect() as conn:
                seen = conn.execute(
                    select(m.alerts.c.id).where(
                        m.alerts.c.device_id == device, m.alerts.c.last_seen_at >= now
                    )
                ).first()
            t2 = time.perf_counter()
            assert seen is not None, "alert not visible after ingest returned"
        with lock:
            ingest_ms.append((t1 - t0) * 1000)
            if risky:
                visible_ms.append((t2 - t0) * 1000)

    interval = 1.0 / args.agents
    total = args.agents * args.seconds
    late = 0
    start = time.perf_counter()
    with ThreadPoolExecutor(args.workers) as pool:
        for k in range(total):
            due = start + k * interval
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            elif delay < -0.1:
                late += 1
            pool.submit(send, devices[k % args.agents], rng.random() < args.risk_share)
    elapsed = time.perf_counter() - start
    n_alerts = len(alerts.find())
    print(
        f"database: {store.engine.dialect.name}; {args.agents} agents × 1 event/s for "
        f"{args.seconds} s; {len(ingest_ms)} events in {elapsed:.1f} s "
        f"({len(ingest_ms) / elapsed:,.0f} events/s); {n_alerts} alerts open; "
        f"{late} sends more than 100 ms behind schedule"
    )
    print(
        f"ingest (stored + triggers + commit): p50 {statistics.median(ingest_ms):.1f} ms, "
        f"p99 {pct(ingest_ms, 99):.1f} ms"
    )
    print(
        f"event stored → alert visible ({len(visible_ms)} risk events): "
        f"p50 {statistics.median(visible_ms):.1f} ms, p99 {pct(visible_ms, 99):.1f} ms, "
        f"max {max(visible_ms):.1f} ms"
    )
    store.close()


if __name__ == "__main__":
    main()
