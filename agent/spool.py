"""The on-disk spool: events wait here (SQLite, WAL) until the collector acks a durable commit.

lease → send → commit-on-ack. Risk matches go in a high-priority lane and are sent first. The spool
is bounded by payload bytes (100 MB) and age (14 days); when it must drop something it drops the
oldest low-priority event, a risk match only when nothing else is left, and records a gap so the
loss is visible. Low-priority events push out the oldest low-priority ones (recent context is worth
more); risk matches push out anything else first. A corrupt spool file is quarantined and replaced, with a gap event.
Only built events are stored (bounded snippets, never a raw typed buffer).
"""

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from google.protobuf.timestamp_pb2 import Timestamp

from lantern.ids import uuid7_str
from lantern.v1 import lantern_pb2 as pb

log = logging.getLogger(__name__)

SPOOL_FILE = "spool.db"
DEFAULT_MAX_BYTES = 100 * 1024 * 1024
DEFAULT_MAX_AGE_S = 14 * 24 * 3600
PRIORITY_NORMAL = 0
PRIORITY_HIGH = 1  # risk matches, circumvention and gaps: what a DSL needs first

_HIGH_KINDS = {"risk_match", "circumvention", "gap"}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spool (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- AUTOINCREMENT: seq never reused after deletes
    event_id TEXT NOT NULL,
    priority INTEGER NOT NULL,
    created_at REAL NOT NULL,
    payload BLOB NOT NULL,
    lease INTEGER
);
CREATE INDEX IF NOT EXISTS spool_lane ON spool (lease, priority DESC, seq);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class SpoolStats:
    depth: int
    bytes: int
    oldest_created_at: float | None
    pending_gap: int


class Spool:
    """Thread-safe: the observer appends from its threads, the sender leases from its loop."""

    def __init__(
        self,
        state_dir: Path,
        os_user: str,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_age_s: float = DEFAULT_MAX_AGE_S,
        on_append: Callable[[], None] | None = None,
    ) -> None:
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = state_dir / SPOOL_FILE
        self._lock = threading.Lock()
        self.os_user = os_user
        self.max_bytes = max_bytes
        self.max_age_s = max_age_s
        self.on_append = on_append
        quarantined = None
        try:
            self._db = self._open()
        except sqlite3.DatabaseError as exc:
            quarantined = self._quarantine(exc)
            self._db = self._open()
        # Leases do not survive a restart: whatever was in flight is sent again (the collector dedups).
        self._db.execute("UPDATE spool SET lease = NULL WHERE lease IS NOT NULL")
        self._depth, self._bytes = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(payload)), 0) FROM spool"
        ).fetchone()
        self._next_batch = int(self._meta("next_batch", "1"))
        self._gap_dropped = int(self._meta("gap_dropped", "0"))
        self._gap_first = float(self._meta("gap_first", "0"))
        self._gap_last = float(self._meta("gap_last", "0"))
        self._gap_reason = self._meta("gap_reason", "")
        if quarantined is not None:
            self._note_gap("spool_corrupt", 1, time.time())

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode: a commit is in the WAL file before append() returns, so a crash
            # or kill -9 of the agent loses nothing spooled (tests/agent/test_offline_resend.py);
            # fsync happens at checkpoints, so a power cut can lose the last seconds of events —
            # as it loses what is on screen and in memory. FULL fsyncs every event: 2–9 ms per
            # keystroke that completes a match on a laptop disk, for that power-cut window only.
            db.execute("PRAGMA synchronous=NORMAL")
            # Acked events are overwritten with zeros, not left in free pages of the file.
            db.execute("PRAGMA secure_delete=ON")
            db.executescript(_SCHEMA)
            if db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise sqlite3.DatabaseError("quick_check failed")
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def _quarantine(self, exc: Exception) -> Path:
        """Move a corrupt spool aside (for IT to inspect) and start a new one: the agent must keep
        working, and the loss is reported as a gap."""
        target = self.path.with_name(f"{SPOOL_FILE}.corrupt-{int(time.time())}")
        os.replace(self.path, target)
        for suffix in ("-wal", "-shm"):
            side = self.path.with_name(SPOOL_FILE + suffix)
            if side.exists():
                os.replace(side, target.with_name(target.name + suffix))
        log.error("spool was corrupt (%s); moved to %s and replaced", exc, target.name)
        return target

    # ------------------------------------------------------------------ append
    def append(self, event: pb.Event) -> bool:
        """Stamp id, user and time where missing and store the event. False if it had to be dropped."""
        if not event.event_id:
            event.event_id = uuid7_str()
        if not event.os_user:
            event.os_user = self.os_user
        if not event.HasField("observed_at"):
            event.observed_at.GetCurrentTime()
        kind = event.WhichOneof("kind") or ""
        priority = PRIORITY_HIGH if kind in _HIGH_KINDS else PRIORITY_NORMAL
        now = time.time()
        payload = event.SerializeToString()
        with self._lock:
            try:
                if not self._make_room(priority, len(payload), now):
                    self._note_gap("spool_full", 1, now)
                    return False
                self._db.execute(
                    "INSERT INTO spool (event_id, priority, created_at, payload) VALUES (?,?,?,?)",
                    (event.event_id, priority, now, payload),
                )
                self._depth += 1
                self._bytes += len(payload)
            except sqlite3.OperationalError as exc:  # disk full, I/O error: count it, don't crash
                self._note_gap(f"spool_error: {exc}"[:64], 1, now)
                return False
        if self.on_append is not None:
            self.on_append()
        return True

    def _make_room(self, priority: int, size: int, now: float) -> bool:
        # created_at grows with seq, so the first row by primary key is the oldest (no scan).
        row = self._db.execute("SELECT created_at FROM spool ORDER BY seq LIMIT 1").fetchone()
        if row is not None and row[0] < now - self.max_age_s:
            expired = self._delete(
                "DELETE FROM spool WHERE created_at < ? AND lease IS NULL RETURNING LENGTH(payload)",
                (now - self.max_age_s,),
            )
            self._note_gap("spool_expired", expired, now)
        while self._bytes + size > self.max_bytes:
            # Oldest low-priority first; a risk match only makes room for another risk match.
            lanes = (
                (PRIORITY_NORMAL,)
                if priority == PRIORITY_NORMAL
                else (PRIORITY_NORMAL, PRIORITY_HIGH)
            )
            for lane in lanes:
                evicted = self._delete(
                    "DELETE FROM spool WHERE seq IN (SELECT seq FROM spool WHERE priority = ? AND"
                    " lease IS NULL ORDER BY seq LIMIT 64) RETURNING LENGTH(payload)",
                    (lane,),
                )
                if evicted:
                    self._note_gap("spool_full", evicted, now)
                    break
            else:
                return False
        return True

    def _delete(self, sql: str, params: tuple[object, ...]) -> int:
        sizes = [row[0] for row in self._db.execute(sql, params).fetchall()]
        self._depth -= len(sizes)
        self._bytes -= sum(sizes)
        return len(sizes)

    def _note_gap(self, reason: str, dropped: int, now: float) -> None:
        if self._gap_dropped == 0:
            self._gap_first = now
        self._gap_dropped += dropped
        self._gap_last = now
        self._gap_reason = reason
        try:
            self._db.executemany(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                [
                    ("gap_dropped", str(self._gap_dropped)),
                    ("gap_first", repr(self._gap_first)),
                    ("gap_last", repr(self._gap_last)),
                    ("gap_reason", reason),
                ],
            )
        except sqlite3.OperationalError:
            pass  # disk full: the counters live on in memory and are sent as a gap event

    # ------------------------------------------------------------------ lease / commit
    def lease(self, max_events: int) -> tuple[int, list[pb.Event]]:
        """Lease up to max_events not yet in flight, risk matches first. (0, []) when empty."""
        with self._lock:
            self._flush_gap()
            rows = self._db.execute(
                "SELECT seq, payload FROM spool WHERE lease IS NULL ORDER BY priority DESC, seq"
                " LIMIT ?",
                (max_events,),
            ).fetchall()
            if not rows:
                return 0, []
            batch_id = self._next_batch
            self._next_batch += 1
            self._db.execute("BEGIN")
            self._db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('next_batch', ?)",
                (str(self._next_batch),),
            )
            self._db.executemany(
                "UPDATE spool SET lease = ? WHERE seq = ?", [(batch_id, seq) for seq, _ in rows]
            )
            self._db.execute("COMMIT")
        events = []
        for seq, payload in rows:
            event = pb.Event.FromString(payload)
            event.seq = seq
            events.append(event)
        return batch_id, events

    def commit(self, batch_id: int) -> int:
        """The collector acked the batch: delete it. Returns how many rows went."""
        with self._lock:
            return self._delete(
                "DELETE FROM spool WHERE lease = ? RETURNING LENGTH(payload)", (batch_id,)
            )

    def release(self, batch_id: int) -> None:
        """The batch was not committed: make it available to lease again."""
        with self._lock:
            self._db.execute("UPDATE spool SET lease = NULL WHERE lease = ?", (batch_id,))

    def release_all(self) -> None:
        with self._lock:
            self._db.execute("UPDATE spool SET lease = NULL WHERE lease IS NOT NULL")

    def _flush_gap(self) -> None:
        """Turn pending drop counters into a Gap event (exempt from the bound: it is one row)."""
        if self._gap_dropped == 0:
            return
        event = pb.Event(event_id=uuid7_str(), os_user=self.os_user)
        event.observed_at.GetCurrentTime()
        first, last = Timestamp(), Timestamp()
        first.FromNanoseconds(int(self._gap_first * 1e9))
        last.FromNanoseconds(int(self._gap_last * 1e9))
        event.gap.CopyFrom(
            pb.Gap(
                reason=self._gap_reason,
                dropped=self._gap_dropped,
                first_dropped_at=first,
                last_dropped_at=last,
            )
        )
        payload = event.SerializeToString()
        try:
            self._db.execute("BEGIN")
            self._db.execute(
                "INSERT INTO spool (event_id, priority, created_at, payload) VALUES (?,?,?,?)",
                (event.event_id, PRIORITY_HIGH, time.time(), payload),
            )
            self._db.execute("DELETE FROM meta WHERE key LIKE 'gap_%'")
            self._db.execute("COMMIT")
        except sqlite3.OperationalError:
            self._db.execute("ROLLBACK")
            return
        self._depth += 1
        self._bytes += len(payload)
        self._gap_dropped = 0

    # ------------------------------------------------------------------ status
    def stats(self) -> SpoolStats:
        with self._lock:
            # created_at grows with seq, so the first row by primary key is the oldest (no scan).
            row = self._db.execute("SELECT created_at FROM spool ORDER BY seq LIMIT 1").fetchone()
            return SpoolStats(
                depth=self._depth,
                bytes=self._bytes,
                oldest_created_at=row[0] if row else None,
                pending_gap=self._gap_dropped,
            )

    def _meta(self, key: str, default: str) -> str:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def close(self) -> None:
        with self._lock:
            self._db.close()
