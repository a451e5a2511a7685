"""The SQLAlchemy store: embedded SQLite by default, PostgreSQL for trusts that outgrow one box."""

import functools
import json
import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from itertools import chain
from pathlib import Path
from typing import Any
from uuid import uuid4

try:
    import fcntl
except ImportError:  # Windows: threads only
    fcntl = None  # type: ignore[assignment]

from sqlalchemy import Engine, bindparam, create_engine, event, func, insert, select, update
from sqlalchemy.engine import Connection, RowMapping

from collector.alerts import store as alert_tx  # attributes used at call time (import cycle)
from collector.clock import utcnow
from collector.store import models as m
from collector.store import policy_generation
from collector.store.interface import (
    AlertRecord,
    DeviceRecord,
    DeviceRegistration,
    EventRow,
    IngestResult,
    NotFound,
    StatefulTriggers,
    Store,
    StoreError,
    TokenRejected,
    TriggerFn,
    UserRecord,
)
from collector.store.migrate import upgrade_to_head

# SQLite and PostgreSQL both cap bound parameters; chunk IN (...) lookups below that.
_IN_CHUNK = 500


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    # FULL: an acked batch survives power loss, not just a process crash.
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def open_store(url: str) -> "SqlStore":
    """Open (creating and migrating if needed) the database at a SQLAlchemy URL."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)
        if engine.dialect.name == "postgresql":
            event.listen(engine, "connect", _postgres_session)
    upgrade_to_head(engine)
    return SqlStore(engine)


def _user(row: RowMapping) -> UserRecord:
    return UserRecord(
        id=row["id"],
        email=row["email"],
        role=row["role"],
        password_hash=row["password_hash"],
        disabled=bool(row["disabled"]),
    )


def _device(row: RowMapping) -> DeviceRecord:
    return DeviceRecord(
        id=row["id"],
        instance_id=row["instance_id"],
        hostname=row["hostname"],
        hardware_serial=row["hardware_serial"],
        os=row["os"],
        os_version=row["os_version"],
        agent_version=row["agent_version"],
        group_name=row["group_name"],
        enrolled_at=row["enrolled_at"],
        last_seen_at=row["last_seen_at"],
        last_event_at=row["last_event_at"],
        last_seq=row["last_seq"],
        capabilities=dict(row["capabilities"] or {}),
        spool_depth=row["spool_depth"],
        revoked=bool(row["revoked"]),
        clone_suspected_at=row["clone_suspected_at"],
    )


# A device's last-seen columns are written at most this often by one process (issue 9): its
# connection status allows 3 heartbeats (90 s) of silence, so 30 s of staleness is invisible.
DEVICE_WRITE_EVERY_S = 30.0


class SqlStore(Store):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # SQLite has one writer; serialising here avoids busy-retry storms under load.
        self._write_lock = (
            _WriterLock(engine.url.database) if engine.dialect.name == "sqlite" else None
        )
        self._checkpointed = False
        # device id → time.monotonic() of this process's last write of its last-seen columns.
        self._device_written: dict[str, float] = {}

    def _begin(self) -> Any:
        return self.engine.begin()

    def _write(self) -> "_WriteTx":
        return _WriteTx(self)

    # --- users and credentials
    def add_user(self, email: str, role: str, password_hash: str) -> UserRecord:
        from collector.clock import utcnow

        with self._write() as conn:
            existing = conn.execute(select(m.users).where(m.users.c.email == email)).first()
            if existing is not None:
                raise StoreError(f"a user with email {email!r} already exists")
            conn.execute(
                insert(m.users).values(
                    email=email,
                    role=role,
                    password_hash=password_hash,
                    created_at=utcnow(),
                    disabled=False,
                )
            )
        return self.user_by_email(email)

    def user_by_email(self, email: str) -> UserRecord:
        with self.engine.connect() as conn:
            row = conn.execute(select(m.users).where(m.users.c.email == email)).mappings().first()
        if row is None:
            raise NotFound(f"no user {email!r}")
        return _user(row)

    def add_api_token(self, user_id: int, token_hash: str, expires_at: datetime | None) -> None:
        from collector.clock import utcnow

        with self._write() as conn:
            conn.execute(
                insert(m.api_tokens).values(
                    user_id=user_id,
                    token_hash=token_hash,
                    created_at=utcnow(),
                    expires_at=expires_at,
                    revoked=False,
                )
            )

    def user_for_api_token(self, token_hash: str, now: datetime) -> UserRecord:
        query = (
            select(m.users, m.api_tokens.c.expires_at, m.api_tokens.c.revoked.label("tok_revoked"))
            .join(m.api_tokens, m.api_tokens.c.user_id == m.users.c.id)
            .where(m.api_tokens.c.token_hash == token_hash)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            raise TokenRejected("unknown token")
        if row["tok_revoked"]:
            raise TokenRejected("token revoked")
        if row["expires_at"] is not None and row["expires_at"] <= now:
            raise TokenRejected("token expired")
        if row["disabled"]:
            raise TokenRejected("user disabled")
        return _user(row)

    def add_enrolment_token(
        self, token_hash: str, group_name: str | None, uses: int | None, expires_at: datetime | None
    ) -> None:
        from collector.clock import utcnow

        with self._write() as conn:
            conn.execute(
                insert(m.enrolment_tokens).values(
                    token_hash=token_hash,
                    group_name=group_name,
                    uses_left=uses,
                    expires_at=expires_at,
                    revoked=False,
                    created_at=utcnow(),
                )
            )

    # --- devices
    def enrol_device(
        self, token_hash: str, registration: DeviceRegistration, secret_hash: str, now: datetime
    ) -> DeviceRecord:
        t = m.enrolment_tokens
        with self._write() as conn:
            tok = conn.execute(select(t).where(t.c.token_hash == token_hash)).mappings().first()
            if tok is None:
                raise TokenRejected("unknown enrolment token")
            if tok["revoked"]:
                raise TokenRejected("enrolment token revoked")
            if tok["expires_at"] is not None and tok["expires_at"] <= now:
                raise TokenRejected("enrolment token expired")
            if tok["uses_left"] is not None:
                # Conditional decrement: two agents racing for the last use cannot both win.
                res = conn.execute(
                    update(t)
                    .where(t.c.id == tok["id"], t.c.uses_left > 0)
                    .values(uses_left=t.c.uses_left - 1)
                )
                if res.rowcount != 1:
                    raise TokenRejected("enrolment token used up")
            d = m.devices
            values = {
                "hostname": registration.hostname,
                "hardware_serial": registration.hardware_serial,
                "os": registration.os,
                "os_version": registration.os_version,
                "agent_version": registration.agent_version,
                "group_name": tok["group_name"],
                "secret_hash": secret_hash,
                "revoked": False,
            }
            existing = conn.execute(
                select(d.c.id).where(d.c.instance_id == registration.instance_id)
            ).first()
            if existing is not None:
                # Re-enrolment of the same install (e.g. after a lost secret): same device, new secret.
                device_id = existing[0]
                conn.execute(update(d).where(d.c.id == device_id).values(**values))
                # Its group (the token's) and hostname/serial (inventory match) may differ now.
                policy_generation.bump(conn)
            else:
                device_id = str(uuid4())
                conn.execute(
                    insert(d).values(
                        id=device_id,
                        instance_id=registration.instance_id,
                        enrolled_at=now,
                        last_seq=0,
                        capabilities={},
                        spool_depth=0,
                        **values,
                    )
                )
            row = conn.execute(select(d).where(d.c.id == device_id)).mappings().one()
        return _device(row)

    def authenticate_device(self, device_id: str, secret_hash: str) -> DeviceRecord:
        with self.engine.connect() as conn:
            row = (
                conn.execute(select(m.devices).where(m.devices.c.id == device_id))
                .mappings()
                .first()
            )
        if row is None or row["secret_hash"] != secret_hash:
            raise TokenRejected("unknown_device")
        if row["revoked"]:
            raise TokenRejected("revoked")
        return _device(row)

    def record_heartbeats(
        self, seen: dict[str, tuple[datetime, dict[str, str] | None, int | None]]
    ) -> None:
        d = m.devices
        ordered = sorted(seen.items())  # the same lock order as ingest_many
        plain = [{"d": k, "t": t} for k, (t, caps, _) in ordered if caps is None]
        full = [
            {"d": k, "t": t, "c": caps, "n": depth or 0}
            for k, (t, caps, depth) in ordered
            if caps is not None
        ]
        with self._write() as conn:
            if plain:
                conn.execute(
                    update(d).where(d.c.id == bindparam("d")).values(last_seen_at=bindparam("t")),
                    plain,
                )
            if full:
                conn.execute(
                    update(d)
                    .where(d.c.id == bindparam("d"))
                    .values(
                        last_seen_at=bindparam("t"),
                        capabilities=bindparam("c"),
                        spool_depth=bindparam("n"),
                    ),
                    full,
                )

    def revoked_devices(self) -> set[str]:
        with self.engine.connect() as conn:
            return {r[0] for r in conn.execute(select(m.devices.c.id).where(m.devices.c.revoked))}

    def list_devices(self) -> list[DeviceRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(m.devices).order_by(m.devices.c.hostname)).mappings().all()
        return [_device(r) for r in rows]

    def open_session(
        self, device_id: str, session_id: str, now: datetime, live_since: datetime, *, clone: bool
    ) -> bool:
        d = m.devices
        with self._write() as conn:
            row = conn.execute(
                select(d.c.session_id, d.c.session_at, d.c.last_seen_at)
                .where(d.c.id == device_id)
                .with_for_update()
            ).first()
            if row is None:
                return False
            heard = max(
                (t for t in (row.session_at, row.last_seen_at) if t is not None), default=None
            )
            other_live = (
                row.session_id is not None
                and row.session_id != session_id
                and heard is not None
                and heard >= live_since
            )
            values: dict[str, object] = {"session_id": session_id, "session_at": now}
            if clone or other_live:
                values["clone_suspected_at"] = now
            conn.execute(update(d).where(d.c.id == device_id).values(**values))
        return clone or other_live

    def close_session(self, device_id: str, session_id: str) -> None:
        d = m.devices
        with self._write() as conn:
            conn.execute(
                update(d)
                .where(d.c.id == device_id, d.c.session_id == session_id)
                .values(session_id=None, session_at=None)
            )

    def revoke_device(self, device_id: str) -> None:
        with self._write() as conn:
            res = conn.execute(
                update(m.devices).where(m.devices.c.id == device_id).values(revoked=True)
            )
            if res.rowcount != 1:
                raise NotFound(f"no device {device_id!r}")

    def count_devices(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(m.devices)).scalar_one())

    # --- events and alerts
    def ingest(
        self, device_id: str, rows: Sequence[EventRow], triggers: TriggerFn | StatefulTriggers
    ) -> IngestResult:
        return self.ingest_many([rows], triggers)[0]

    def ingest_many(
        self, batches: Sequence[Sequence[EventRow]], triggers: TriggerFn | StatefulTriggers
    ) -> list[IngestResult]:
        """Group commit: every batch queued by every stream in one transaction — dedup, one bulk
        insert, one device update per device, the rules over all new rows, one commit.
        Per-statement and per-value overhead, not the database, dominated ingest (docs/scale.md):
        rows go to the driver as plain tuples of text and integers."""
        unique: dict[str, EventRow] = {}
        owned: list[list[str]] = []  # the ids each batch contributed first (a batch may repeat one)
        for rows in batches:
            ids = []
            for row in rows:
                if row.event_id not in unique:
                    unique[row.event_id] = row
                    ids.append(row.event_id)
            owned.append(ids)
        if not unique:
            return [IngestResult(0, len(rows), 0, 0) for rows in batches]
        all_rows = list(unique.values())
        # Stateless trigger work (title scans, rule matching) outside the write lock.
        prepared = triggers.prepare(all_rows) if isinstance(triggers, StatefulTriggers) else None
        postgres = self.engine.dialect.name == "postgresql"
        params = _event_params(all_rows)
        held = None
        if not postgres and len(unique) >= _READ_BEFORE_LOCK:
            # The dedup read of a big group before taking the one writer's lock (a small group's
            # read is cheaper inside it than a second connection).
            with self.engine.connect() as conn:
                held = _held_sqlite(conn, list(unique))
        raised = updated = 0
        seen: list[tuple[str, str, int]] = []
        with self._write() as conn:
            if postgres:
                new_ids = _insert_postgres(conn, params)
            else:
                info = conn.connection.info
                if self._checkpointed and not info.get("no_autocheckpoint"):  # see checkpoint()
                    conn.exec_driver_sql("PRAGMA wal_autocheckpoint=0")
                    info["no_autocheckpoint"] = True
                new_ids = _insert_sqlite(conn, params, held)
            new_rows = (
                all_rows
                if len(new_ids) == len(all_rows)
                else [r for r in all_rows if r.event_id in new_ids]
            )
            if new_rows:
                latest: dict[str, EventRow] = {}
                for r in new_rows:
                    if r.device_id not in latest or r.seq > latest[r.device_id].seq:
                        latest[r.device_id] = r
                # Last-seen columns at most once per device per DEVICE_WRITE_EVERY_S from this
                # process (the first events of a device at once): a fleet sending a batch a
                # second would otherwise rewrite every device row every second. One lock order
                # for every writer (sorted): parallel group commits on PostgreSQL otherwise
                # deadlock on the devices rows.
                tick = time.monotonic()
                due = self._device_written
                seen = [
                    (device, _db_time(r.received_at), r.seq)
                    for device, r in sorted(latest.items())
                    if tick - due.get(device, -DEVICE_WRITE_EVERY_S) >= DEVICE_WRITE_EVERY_S
                ]
                if seen and postgres:
                    conn.exec_driver_sql(
                        "UPDATE devices SET last_event_at = %(t)s, last_seen_at = %(t)s,"
                        " last_seq = greatest(last_seq, %(s)s) WHERE id = %(d)s",
                        [{"d": d, "t": t, "s": seq} for d, t, seq in seen],
                    )
                elif seen:  # one statement, not one step (and GIL hand-off) per device
                    conn.exec_driver_sql(
                        "UPDATE devices SET last_event_at = json_extract(v.value, '$[1]'),"
                        " last_seen_at = json_extract(v.value, '$[1]'),"
                        " last_seq = max(last_seq, json_extract(v.value, '$[2]'))"
                        " FROM json_each(?) AS v WHERE devices.id = json_extract(v.value, '$[0]')",
                        (json.dumps(seen),),
                    )
                if isinstance(triggers, StatefulTriggers):
                    candidates = triggers.evaluate(
                        new_rows, alert_tx.SqlTriggerState(conn), prepared
                    )
                else:
                    candidates = triggers(new_rows)
                if candidates:
                    # Alert rows, their audit rows and notification outbox rows commit with the
                    # events: delivery happens afterwards from the outbox, with retries.
                    done = alert_tx.raise_candidates(conn, candidates, utcnow())
                    raised, updated = done.raised, done.updated
        written = time.monotonic()  # committed: these devices are now up to date
        self._device_written.update((device, written) for device, _, _ in seen)
        results = []
        for rows, ids in zip(batches, owned, strict=True):
            stored = sum(1 for i in ids if i in new_ids)
            results.append(IngestResult(stored, len(rows) - stored, 0, 0))
        # Alerts come from the group as a whole; a single batch (ingest()) gets the counts.
        if len(results) == 1:
            results[0] = IngestResult(results[0].stored, results[0].duplicates, raised, updated)
        return results

    def checkpoint(self) -> None:
        """SQLite: copy committed WAL pages into the database file now, in PASSIVE mode (beside
        the writers, who keep appending). From the first call on, this store's ingest commits
        leave checkpoints to the caller: SQLite's automatic one runs inside the commit that
        crosses 1,000 WAL pages, with the write lock held — it was a third of commit time."""
        if self.engine.dialect.name != "sqlite":
            return
        self._checkpointed = True
        with self.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").all()

    def count_events(self, device_id: str | None = None) -> int:
        query = select(func.count()).select_from(m.events)
        if device_id is not None:
            query = query.where(m.events.c.device_id == device_id)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def list_alerts(self, *, status: str | None = None, limit: int = 100) -> list[AlertRecord]:
        a, d = m.alerts, m.devices
        query = (
            select(a, d.c.hostname)
            .join(d, d.c.id == a.c.device_id)
            .where(a.c.cluster_id.is_(None))
            .order_by(a.c.severity.desc(), a.c.created_at.desc())
            .limit(limit)
        )
        if status is not None:
            query = query.where(a.c.status == status)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [alert_tx.record(r) for r in rows]

    def close(self) -> None:
        self.engine.dispose()
        if self._write_lock is not None:
            self._write_lock.close()


# --- the ingest path's driver-level helpers

_EVENT_COLUMNS = (
    "event_id, device_id, seq, kind, observed_at, received_at, os_user, app, title, detail"
)


def _db_time(value: datetime) -> str:
    """Naive-UTC text, as SQLAlchemy writes DateTime on SQLite ('YYYY-MM-DD HH:MM:SS.ffffff');
    PostgreSQL parses the same text into `timestamp`."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(" ", "microseconds")[:26]


def _event_params(rows: Sequence[EventRow]) -> list[tuple[Any, ...]]:
    """The events' column values as plain tuples, in _EVENT_COLUMNS order."""
    received: dict[datetime, str] = {}  # one receive time per batch: format it once
    out = []
    for r in rows:
        at = received.get(r.received_at)
        if at is None:
            at = received[r.received_at] = _db_time(r.received_at)
        out.append(
            (
                r.event_id,
                r.device_id,
                r.seq,
                r.kind,
                r.observed_text or _db_time(r.observed_at),
                at,
                r.os_user,
                r.app,
                r.title,
                r.detail_json or json.dumps(r.detail),
            )
        )
    return out


def _chunks(n: int, most: int) -> list[int]:
    """n rows as statement sizes: `most` at a time, then powers of two, so a handful of SQL
    texts (each prepared once, from the driver's statement cache) covers every group size."""
    sizes = [most] * (n // most)
    n %= most
    size = 1 << max(0, most.bit_length() - 1)
    while n:
        if size <= n:
            sizes.append(size)
            n -= size
        size >>= 1
    return sizes


# Groups of at least this many events read their duplicates before the SQLite write lock.
_READ_BEFORE_LOCK = 500


def _held_sqlite(conn: Connection, ids: list[str]) -> set[str]:
    """Which of these event ids are stored already."""
    held: set[str] = set()
    for i in range(0, len(ids), _IN_CHUNK):
        chunk = ids[i : i + _IN_CHUNK]
        held.update(
            r[0]
            for r in conn.exec_driver_sql(
                f"SELECT event_id FROM events WHERE event_id IN ({','.join('?' * len(chunk))})",
                tuple(chunk),
            )
        )
    return held


def _insert_sqlite(
    conn: Connection, params: list[tuple[Any, ...]], held: set[str] | None = None
) -> set[str]:
    """Insert the rows not stored yet; returns their ids.

    `held`: the ids found stored by a read before the write lock was taken (so the read is not
    inside the one writer's critical section). Another process may have stored some of the
    rest since: its insert then fails on the primary key, nothing of that statement is kept,
    and the ids from there on are read again inside the lock (BEGIN IMMEDIATE) and the insert
    goes on. Rows go in as multi-row INSERTs: `executemany` steps SQLite once per row and
    gives up the GIL each time, and getting it back behind the busy event loop thread was the
    writer's largest wait."""
    conn.exec_driver_sql("BEGIN IMMEDIATE")
    if held is None:
        held = _held_sqlite(conn, [p[0] for p in params])
    if held:
        params = [p for p in params if p[0] not in held]
    raw = conn.connection.driver_connection
    most = _sqlite_insert_rows(raw)
    cursor = raw.cursor()  # type: ignore[union-attr]
    inserted: list[tuple[Any, ...]] = []
    try:
        while params:
            size = _chunks(len(params), most)[0]
            chunk = params[:size]
            try:
                cursor.execute(_sqlite_insert_sql(size), list(chain.from_iterable(chunk)))
            except sqlite3.IntegrityError:
                again = _held_sqlite(conn, [p[0] for p in params])
                if not again:  # not a stored id (a missing device?): a real error
                    raise
                params = [p for p in params if p[0] not in again]
                continue
            inserted += chunk
            params = params[size:]
    finally:
        cursor.close()
    return {p[0] for p in inserted}


def _sqlite_insert_rows(raw: Any) -> int:
    """Rows per INSERT statement: up to 1,024, within this SQLite's limit on variables."""
    try:
        limit = raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    except AttributeError:  # Python < 3.11
        limit = 999
    return max(1, min(1024, limit // 10))


@functools.cache
def _sqlite_insert_sql(rows: int) -> str:
    values = ",".join(["(?,?,?,?,?,?,?,?,?,?)"] * rows)
    return f"INSERT INTO events ({_EVENT_COLUMNS}) VALUES {values}"


def _insert_postgres(conn: Connection, params: list[tuple[Any, ...]]) -> set[str]:
    """COPY the rows into the session's staging table, then one INSERT … SELECT that skips ids
    already stored and returns the ones it inserted (dedup and insert in one statement). Ids go
    in sorted, so parallel writers meeting the same re-sent ids lock them in one order."""
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        with cursor.copy(f"COPY events_in ({_EVENT_COLUMNS}) FROM STDIN") as copy:
            for p in params:
                copy.write_row(p)
        cursor.execute(
            f"INSERT INTO events ({_EVENT_COLUMNS}) SELECT {_EVENT_COLUMNS} FROM events_in"
            " ORDER BY event_id ON CONFLICT (event_id) DO NOTHING RETURNING event_id"
        )
        return {r[0] for r in cursor.fetchall()}
    finally:
        cursor.close()


def _postgres_session(dbapi_conn: Any, _record: Any) -> None:
    """Every PostgreSQL connection gets its staging table for ingest's COPY (a temporary table:
    private to the session, emptied at each commit, never WAL-logged)."""
    with dbapi_conn.cursor() as cur:
        cur.execute(
            "CREATE TEMPORARY TABLE IF NOT EXISTS events_in (event_id varchar(36),"
            " device_id varchar(36), seq bigint, kind varchar(24), observed_at timestamp,"
            " received_at timestamp, os_user varchar(255), app varchar(255), title text,"
            " detail json) ON COMMIT DELETE ROWS"
        )
    dbapi_conn.commit()


class _WriterLock:
    """SQLite's single writer, between this process's threads and — through a lock file beside
    the database — between collector processes sharing the file (several `serve --role ingest`).
    A process waiting for the lock file wakes the moment it is free; SQLite's own busy handler
    would poll with sleeps of up to 100 ms. Same acquire/release as threading.Lock."""

    def __init__(self, database: str | None) -> None:
        self._thread = threading.Lock()
        self._fd: int | None = None
        if (
            fcntl is not None
            and database
            and database != ":memory:"
            and "mode=memory" not in database
        ):
            self._fd = os.open(f"{database}-writer.lock", os.O_RDWR | os.O_CREAT, 0o600)

    def acquire(self, blocking: bool = True) -> bool:
        if not self._thread.acquire(blocking):
            return False
        if self._fd is not None:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BaseException:
                self._thread.release()
                if not blocking:
                    return False
                raise
        return True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._thread.release()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class _WriteTx:
    """A write transaction, serialised on SQLite."""

    def __init__(self, store: SqlStore) -> None:
        self._store = store
        self._cm: Any = None

    def __enter__(self) -> Connection:
        if self._store._write_lock is not None:
            self._store._write_lock.acquire()
        try:
            self._cm = self._store.engine.begin()
            return self._cm.__enter__()  # type: ignore[no-any-return]
        except BaseException:
            if self._store._write_lock is not None:
                self._store._write_lock.release()
            raise

    def __exit__(self, *exc: Any) -> None:
        try:
            self._cm.__exit__(*exc)
        finally:
            if self._store._write_lock is not None:
                self._store._write_lock.release()
