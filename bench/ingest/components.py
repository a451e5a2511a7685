"""Where one event's time goes on the collector's ingest path, stage by stage, in one process.

    python -m bench.ingest.components [--events 20000] [--postgres]

Stages, each timed alone on the load generator's events (batches of 100):
  parse      protobuf AgentMessage parse of the wire bytes
  convert    collector.ingest.wire.convert_batch (validation, EventRow objects)
  triggers   collector.triggers.engine.TriggerEngine (detection scan of every window title)
  triggers+cache  the same with an LRU cache on the title (what a fleet's repeated titles allow)
  store      SqlStore.ingest with no triggers (dedup select + insert + device update + commit)
  store_raw  the same rows through the DB-API directly (executemany, one commit), for comparison

Prints µs per event and the events/s one core would reach if that stage were all there was.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from collector.ingest.wire import convert_batch
from collector.loadgen import EventFactory
from collector.store.interface import AlertCandidate, EventRow
from lantern.v1 import lantern_pb2 as pb


def no_triggers(rows: Sequence[EventRow]) -> list[AlertCandidate]:
    return []


def timed(fn: Callable[[], Any], n_events: int) -> float:
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t) / n_events * 1e6


def make_batches(n_events: int, agents: int = 50) -> list[bytes]:
    factories = [EventFactory(f"s{i:05d}", random.Random(i)) for i in range(agents)]
    return [factories[i % agents].batch(i + 1, 100) for i in range(n_events // 100)]


def stages(n_events: int, db_url: str) -> dict[str, float]:
    from collector.store import open_store
    from collector.store.interface import DeviceRegistration
    from collector.triggers.engine import TriggerEngine
    from lantern.detection import Engine

    wire = make_batches(n_events)
    out: dict[str, float] = {}
    messages: list[pb.AgentMessage] = []
    out["parse"] = timed(
        lambda: messages.extend(pb.AgentMessage.FromString(b) for b in wire), n_events
    )
    now = datetime.now(UTC)
    store = open_store(db_url)
    devices = []
    for i in range(50):
        store.add_enrolment_token(f"h{i}", None, None, None)
        reg = DeviceRegistration(f"inst{i}", f"host{i}", "", "linux", "", "bench")
        devices.append(store.enrol_device(f"h{i}", reg, f"s{i}", now).id)
    converted: list[list[EventRow]] = []
    out["convert"] = timed(
        lambda: converted.extend(
            convert_batch(m.batch, devices[k % 50], now).rows for k, m in enumerate(messages)
        ),
        n_events,
    )
    triggers = TriggerEngine(Engine.load())
    sample = converted[: max(1, len(converted) // 4)]
    n_sample = sum(map(len, sample))
    out["triggers"] = timed(lambda: [triggers(rows) for rows in sample], n_sample)

    scan = triggers.detection.scan
    cached = lru_cache(maxsize=65536)(lambda text, source: scan(text, source))
    triggers.detection.scan = cached  # type: ignore[method-assign]
    out["triggers+cache"] = timed(lambda: [triggers(rows) for rows in converted], n_events)
    info = cached.cache_info()
    out["title_cache_hit_rate"] = round(info.hits / max(1, info.hits + info.misses), 3)

    out["store"] = timed(
        lambda: [store.ingest(rows[0].device_id, rows, no_triggers) for rows in converted],
        n_events,
    )
    store.close()
    if db_url.startswith("sqlite:///"):
        out["store_raw"] = raw_sqlite(db_url.removeprefix("sqlite:///"), converted)
    return {k: round(v, 2) for k, v in out.items()}


def raw_sqlite(path: str, batches: list[list[EventRow]]) -> float:
    """The same rows, fresh ids, through sqlite3 directly: dedup select, executemany, commit."""
    import uuid

    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    n = sum(map(len, batches))
    t = time.perf_counter()
    for rows in batches:
        ids = [str(uuid.uuid4()) for _ in rows]
        db.execute("BEGIN IMMEDIATE")
        marks = ",".join("?" * len(ids))
        held = {
            r[0]
            for r in db.execute(f"SELECT event_id FROM events WHERE event_id IN ({marks})", ids)
        }
        db.executemany(
            "INSERT INTO events (event_id, device_id, seq, kind, observed_at, received_at, os_user,"
            " app, title, detail) VALUES (?,?,?,?,?,?,?,?,?,?)",
            [
                (
                    i,
                    r.device_id,
                    r.seq,
                    r.kind,
                    r.observed_at.strftime("%Y-%m-%d %H:%M:%S.%f"),
                    r.received_at.strftime("%Y-%m-%d %H:%M:%S.%f"),
                    r.os_user,
                    r.app,
                    r.title,
                    json.dumps(r.detail),
                )
                for i, r in zip(ids, rows, strict=True)
                if i not in held
            ],
        )
        db.execute(
            "UPDATE devices SET last_seq = max(last_seq, ?) WHERE id = ?",
            (rows[-1].seq, rows[0].device_id),
        )
        db.execute("COMMIT")
    us = (time.perf_counter() - t) / n * 1e6
    db.close()
    return us


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--postgres", action="store_true", help="also the store on PostgreSQL")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lantern-components-"))
    results = {"sqlite": stages(args.events, f"sqlite:///{work / 'db.sqlite'}")}
    if args.postgres:
        from bench.ingest.procs import PostgresServer

        pg = PostgresServer(fsync=True)
        pg.start()
        try:
            results["postgres"] = stages(args.events, pg.create_database())
        finally:
            pg.destroy()
    for backend, r in results.items():
        print(f"-- {backend} (µs per event; events/s on one core if this stage were all)")
        for stage, us in r.items():
            if stage.endswith("rate"):
                print(f"  {stage:<16} {us:.1%}")
            else:
                print(f"  {stage:<16} {us:8.1f} µs  {1e6 / us if us else 0:>10,.0f}/s")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
