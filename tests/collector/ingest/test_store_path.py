"""The store's ingest path writes driver-level rows (text times, prebuilt JSON, COPY on
PostgreSQL): what it stores reads back through SQLAlchemy exactly as the rows were, on both
backends, and a group with repeats and already-stored ids stores each event once."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from collector.ingest.wire import convert_batch
from collector.store import Store
from collector.store import models as m
from collector.store.interface import DeviceRegistration, EventRow
from collector.store.sql import SqlStore
from collector.triggers.engine import TriggerEngine
from lantern.detection import Engine
from lantern.ids import uuid7_str
from lantern.v1 import lantern_pb2 as pb

NOW = datetime.now(UTC).replace(microsecond=654321)


def device(store: Store, n: int = 1) -> str:
    store.add_enrolment_token(f"tok-{n}", None, None, None)
    reg = DeviceRegistration(f"inst-{n}", f"LAPTOP-{n}", "SN", "linux", "12", "0.1.0")
    return store.enrol_device(f"tok-{n}", reg, "secret-hash", NOW).id


def wire_rows(device_id: str, n: int, first_seq: int = 1) -> list[EventRow]:
    events = []
    for i in range(n):
        e = pb.Event(event_id=uuid7_str(), seq=first_seq + i, os_user="s204817")
        e.observed_at.FromDatetime(NOW - timedelta(seconds=i, microseconds=i))
        e.window_focus.CopyFrom(
            pb.WindowFocus(
                app="Chromium",
                process="chromium",
                pid=4242,
                title=f'Tab\t"{i}" \\ é 中文 🙂 - Chromium',
                browser="chromium",
                page_title=f'Tab\t"{i}" \\ é\n中文',
                url="https://example.org/a?b=c\td",
            )
        )
        events.append(e)
    risk = pb.Event(event_id=uuid7_str(), seq=first_seq + n, os_user="s204817")
    risk.observed_at.FromDatetime(NOW)
    risk.risk_match.CopyFrom(
        pb.RiskMatch(category="bullying", severity=4, rule="r1", matched="m", snippet="s\\n")
    )
    events.append(risk)
    converted = convert_batch(pb.EventBatch(events=events), device_id, NOW)
    assert not converted.rejected
    return converted.rows


def stored(store: SqlStore) -> dict[str, dict[str, object]]:
    with store.engine.connect() as conn:
        return {r["event_id"]: dict(r) for r in conn.execute(select(m.events)).mappings()}


def test_rows_read_back_exactly(store: SqlStore) -> None:
    d = device(store)
    rows = wire_rows(d, 20)
    [result] = store.ingest_many([rows], TriggerEngine(Engine.load()))
    assert (result.stored, result.duplicates) == (21, 0)
    back = stored(store)
    assert set(back) == {r.event_id for r in rows}
    for r in rows:
        b = back[r.event_id]
        assert b["observed_at"] == r.observed_at and b["received_at"] == r.received_at
        assert (b["device_id"], b["seq"], b["kind"], b["os_user"], b["app"], b["title"]) == (
            r.device_id,
            r.seq,
            r.kind,
            r.os_user,
            r.app,
            r.title,
        )
        assert b["detail"] == r.detail
    [dev] = [x for x in store.list_devices() if x.id == d]
    assert dev.last_seq == 21 and dev.last_event_at == NOW


def test_group_with_repeats_and_stored_ids_stores_each_event_once(store: SqlStore) -> None:
    a, b = device(store, 1), device(store, 2)
    first = wire_rows(a, 5)
    store.ingest_many([first], lambda rows: [])
    again = wire_rows(a, 5, first_seq=7)
    other = wire_rows(b, 3)
    # A re-sent batch, a batch repeating an id inside the group, and fresh ones, in one commit.
    results = store.ingest_many([first, again, again[:2] + other, other], lambda rows: [])
    assert [(r.stored, r.duplicates) for r in results] == [(0, 6), (6, 0), (4, 2), (0, 4)]
    assert store.count_events() == 6 + 6 + 4
    assert len(stored(store)) == 16
    devices = {x.id: x for x in store.list_devices()}
    # Last-seen columns: a device's first events at once, then at most every 30 s per process
    # (a's second commit came straight after its first); b was new in this commit.
    assert devices[a].last_seq == 6 and devices[b].last_seq == 4


def test_a_device_row_is_written_at_most_once_per_interval(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from collector.store import sql

    a = device(store, 1)
    store.ingest_many([wire_rows(a, 3)], lambda rows: [])
    store.ingest_many([wire_rows(a, 3, first_seq=5)], lambda rows: [])
    assert {x.id: x for x in store.list_devices()}[a].last_seq == 4
    monkeypatch.setattr(sql, "DEVICE_WRITE_EVERY_S", 0.0)
    store.ingest_many([wire_rows(a, 3, first_seq=9)], lambda rows: [])
    assert {x.id: x for x in store.list_devices()}[a].last_seq == 12


def test_postgres_staging_table_is_empty_after_each_commit(store: SqlStore) -> None:
    if store.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's COPY staging table")
    d = device(store)
    for k in range(3):
        store.ingest_many([wire_rows(d, 10, first_seq=1 + 11 * k)], lambda rows: [])
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM events_in").scalar_one() == 0
    assert store.count_events() == 33


def test_sqlite_checkpoints_run_beside_ingest_commits(store: SqlStore) -> None:
    """Once a checkpointer runs (the group committer, every second), ingest commits no longer
    checkpoint inside the write lock, and a PASSIVE checkpoint copies every committed frame."""
    if store.engine.dialect.name != "sqlite":
        store.checkpoint()  # a no-op elsewhere
        return
    d = device(store)
    store.checkpoint()
    for k in range(5):
        store.ingest_many([wire_rows(d, 50, first_seq=1 + 51 * k)], lambda rows: [])
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one() == 0
        busy, frames, copied = conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
    assert busy == 0 and frames > 0 and copied == frames
    assert store.count_events() == 5 * 51


def test_sqlite_ids_stored_between_the_read_and_the_lock_are_skipped(store: SqlStore) -> None:
    """The dedup read runs before the write lock; ids another process stored in between make
    the insert fail on the primary key, and are read again inside the lock and skipped."""
    if store.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's read-then-lock dedup")
    from collector.store.sql import _event_params, _insert_sqlite

    d = device(store)
    rows = wire_rows(d, 3000)
    early = rows[1500:1510] + rows[2999:]  # "another process" stored these meanwhile
    store.ingest_many([early], lambda rows: [])
    with store.engine.begin() as conn:
        inserted = _insert_sqlite(conn, _event_params(rows), held=set())  # a stale read
    assert inserted == {r.event_id for r in rows} - {r.event_id for r in early}
    assert store.count_events() == len(rows) and len(stored(store)) == len(rows)
