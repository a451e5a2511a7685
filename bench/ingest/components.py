"""Where one event's time goes on the collector's ingest path, stage by stage, in one process.

    python -m bench.ingest.components [--events 20000] [--postgres]

Stages, each timed alone on the load generator's events (batches of 100):
  parse      protobuf AgentMessage parse of the wire bytes
  convert    collector.ingest.wire.convert_batch (validation, EventRow objects)
  triggers   collector.triggers.engine.TriggerEngine (detection scan of every window title)
  scan_*     detection Engine.scan per title, plain and behind an LRU cache keyed on the title
  store      SqlStore.ingest with no triggers (dedup select + insert + device update + commit)
  raw_*      the same rows through the DB-API directly (see raw_variants), for comparison

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
    triggers(converted[0])  # warm-up (lazy compilation)
    out["triggers"] = timed(lambda: [triggers(rows) for rows in converted], n_events)

    # The detection scan alone, per window title, and behind an LRU cache keyed on the title.
    engine = Engine.load()
    titles = [
        str(r.detail.get("page_title") or r.title)
        for rows in converted
        for r in rows
        if r.kind == "window_focus"
    ]
    out["scan_per_title"] = timed(lambda: [engine.scan(t, "title") for t in titles], len(titles))
    cached = lru_cache(maxsize=65536)(engine.scan)
    out["scan_lru_per_title"] = timed(lambda: [cached(t, "title") for t in titles], len(titles))
    info = cached.cache_info()
    out["title_cache_hit_rate"] = round(info.hits / max(1, info.hits + info.misses), 3)

    out["store"] = timed(
        lambda: [store.ingest(rows[0].device_id, rows, no_triggers) for rows in converted],
        n_events,
    )
    store.close()
    out.update(raw_variants(db_url, converted))
    return {k: round(v, 2) for k, v in out.items()}


def _tuples(rows: Sequence[EventRow], ids: list[str]) -> list[tuple[Any, ...]]:
    return [
        (
            i,
            r.device_id,
            r.seq,
            r.kind,
            r.observed_at.replace(tzinfo=None),
            r.received_at.replace(tzinfo=None),
            r.os_user,
            r.app,
            r.title,
            json.dumps(r.detail),
        )
        for i, r in zip(ids, rows, strict=True)
    ]


_COLUMNS = "event_id, device_id, seq, kind, observed_at, received_at, os_user, app, title, detail"


def raw_variants(url: str, batches: list[list[EventRow]], group: int = 10) -> dict[str, float]:
    """The same rows (fresh ids) through the DB-API directly, three ways (µs per event):
    executemany   dedup SELECT + executemany INSERT + device UPDATE, one commit per batch
    upsert        one multi-row INSERT .. ON CONFLICT DO NOTHING RETURNING (dedup in the insert)
    group         `upsert`, with `group` batches per transaction (one commit/fsync per group)
    """
    import uuid

    n = sum(map(len, batches))
    out: dict[str, float] = {}
    sqlite = url.startswith("sqlite:///")
    if sqlite:
        db: Any = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        mark, begin, detail = "?", "BEGIN IMMEDIATE", "?"
    else:
        import psycopg

        db = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)
        mark, begin, detail = "%s", "BEGIN", "%s::json"
    row_marks = "(" + ",".join([mark] * 9 + [detail]) + ")"

    def executemany(rows: Sequence[EventRow]) -> None:
        ids = [str(uuid.uuid4()) for _ in rows]
        marks = ",".join([mark] * len(ids))
        held = {
            r[0]
            for r in db.execute(f"SELECT event_id FROM events WHERE event_id IN ({marks})", ids)
        }
        cur = db.cursor()
        cur.executemany(
            f"INSERT INTO events ({_COLUMNS}) VALUES {row_marks}",
            [t for t in _tuples(rows, ids) if t[0] not in held],
        )
        db.execute(
            f"UPDATE devices SET last_seq = {mark} WHERE id = {mark}",
            (rows[-1].seq, rows[0].device_id),
        )

    def upsert(rows: Sequence[EventRow]) -> None:
        ids = [str(uuid.uuid4()) for _ in rows]
        params = [v for t in _tuples(rows, ids) for v in t]
        stored = db.execute(
            f"INSERT INTO events ({_COLUMNS}) VALUES {','.join([row_marks] * len(rows))} "
            "ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
            params,
        ).fetchall()
        assert len(stored) == len(rows)
        db.execute(
            f"UPDATE devices SET last_seq = {mark} WHERE id = {mark}",
            (rows[-1].seq, rows[0].device_id),
        )

    for name, fn, per_tx in (
        ("executemany", executemany, 1),
        ("upsert", upsert, 1),
        ("group", upsert, group),
    ):
        t = time.perf_counter()
        for k in range(0, len(batches), per_tx):
            db.execute(begin)
            for rows in batches[k : k + per_tx]:
                fn(rows)
            db.execute("COMMIT")
        out[f"raw_{name}"] = (time.perf_counter() - t) / n * 1e6
    db.close()
    return out


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
