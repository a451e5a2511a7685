"""The tamper-evident audit log: append-only rows, each carrying SHA-256(previous hash + record).

Anyone recording an audited action (alert workflow, escalation, directory edits, …) calls
:func:`append` inside the transaction that makes the change, so the change and its audit row commit
together. :func:`verify` recomputes the chain; an edited, deleted or reordered row breaks it. The
database itself refuses UPDATE and DELETE on `audit_log` (triggers in migration 0003).
"""

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from collector.alerts.models import audit_chain, audit_log

CHAIN = "main"
ANCHOR = "anchor"  # the last row retention pruned: where the retained chain starts
GENESIS = "0" * 64


@dataclass(frozen=True, slots=True)
class AuditEntry:
    seq: int
    at: datetime
    actor: str
    action: str
    object_type: str
    object_id: str
    detail: dict[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class ChainCheck:
    ok: bool
    entries: int
    first_bad_seq: int | None = None
    reason: str = ""


def _digest(
    prev_hash: str,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    detail: Mapping[str, Any],
) -> str:
    # Canonical JSON (sorted keys, no spaces) so the same record always hashes the same.
    body = json.dumps(
        {
            "seq": seq,
            "at": at.isoformat(),
            "actor": actor,
            "action": action,
            "object_type": object_type,
            "object_id": object_id,
            "detail": detail,
        },
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


def lock(conn: Connection) -> None:
    """Take the chain lock now (PostgreSQL: row lock on the chain head until commit).

    Writers that also lock alert rows call this first, so every transaction takes the chain
    before any alert row and two of them can never wait on each other in opposite orders.
    """
    conn.execute(
        select(audit_chain.c.last_seq).where(audit_chain.c.name == CHAIN).with_for_update()
    ).first()


def append(
    conn: Connection,
    *,
    actor: str,
    action: str,
    object_type: str,
    object_id: str | int,
    at: datetime,
    detail: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Add one audited action to the chain, inside the caller's transaction."""
    # Round-trip through JSON so what we hash is exactly what the JSON column will return.
    data: dict[str, Any] = json.loads(json.dumps(dict(detail or {}), default=str))
    head = conn.execute(
        select(audit_chain.c.last_seq, audit_chain.c.last_hash)
        .where(audit_chain.c.name == CHAIN)
        .with_for_update()  # PostgreSQL: writers queue here; SQLite: the store's write lock
    ).first()
    if head is None:
        conn.execute(insert(audit_chain).values(name=CHAIN, last_seq=0, last_hash=GENESIS))
        last_seq, prev = 0, GENESIS
    else:
        last_seq, prev = int(head[0]), str(head[1])
    seq = last_seq + 1
    oid = str(object_id)
    digest = _digest(prev, seq, at, actor, action, object_type, oid, data)
    conn.execute(
        insert(audit_log).values(
            seq=seq,
            at=at,
            actor=actor,
            action=action,
            object_type=object_type,
            object_id=oid,
            detail=data,
            prev_hash=prev,
            hash=digest,
        )
    )
    conn.execute(
        update(audit_chain)
        .where(audit_chain.c.name == CHAIN)
        .values(last_seq=seq, last_hash=digest)
    )
    return AuditEntry(seq, at, actor, action, object_type, oid, data, prev, digest)


def _entry(r: Any) -> AuditEntry:
    return AuditEntry(
        seq=r["seq"],
        at=r["at"],
        actor=r["actor"],
        action=r["action"],
        object_type=r["object_type"],
        object_id=r["object_id"],
        detail=dict(r["detail"] or {}),
        prev_hash=r["prev_hash"],
        hash=r["hash"],
    )


def history(conn: Connection, object_type: str, object_id: str | int) -> list[AuditEntry]:
    """Every audited action on one object, oldest first."""
    rows = conn.execute(
        select(audit_log)
        .where(audit_log.c.object_type == object_type, audit_log.c.object_id == str(object_id))
        .order_by(audit_log.c.seq)
    ).mappings()
    return [_entry(r) for r in rows]


def _anchor(conn: Connection) -> tuple[int, str]:
    """Where the retained chain starts: (seq of the last pruned row, its hash), or genesis."""
    row = conn.execute(
        select(audit_chain.c.last_seq, audit_chain.c.last_hash).where(audit_chain.c.name == ANCHOR)
    ).first()
    return (int(row[0]), str(row[1])) if row is not None else (0, GENESIS)


def verify(conn: Connection) -> ChainCheck:
    """Recompute the chain from its anchor (genesis, or the last row retention pruned); report the
    first row that does not fit."""
    anchor_seq, prev = _anchor(conn)
    expected_seq = anchor_seq + 1
    count = 0
    for r in conn.execute(select(audit_log).order_by(audit_log.c.seq)).mappings():
        e = _entry(r)
        if e.seq != expected_seq:
            return ChainCheck(False, count, e.seq, f"row {expected_seq} is missing")
        if e.prev_hash != prev:
            return ChainCheck(False, count, e.seq, "previous-hash link broken")
        digest = _digest(prev, e.seq, e.at, e.actor, e.action, e.object_type, e.object_id, e.detail)
        if digest != e.hash:
            return ChainCheck(False, count, e.seq, "row content does not match its hash")
        prev, expected_seq, count = e.hash, expected_seq + 1, count + 1
    head = conn.execute(
        select(audit_chain.c.last_seq, audit_chain.c.last_hash).where(audit_chain.c.name == CHAIN)
    ).first()
    if head is not None and (int(head[0]) != expected_seq - 1 or head[1] != prev):
        return ChainCheck(False, count, expected_seq, "rows after the last one are missing")
    return ChainCheck(True, count)


def prune(conn: Connection, before: datetime) -> int:
    """Retention: delete the oldest rows written before `before` and re-anchor the chain on the
    last one deleted, so `verify` still proves everything that remains. The database refuses
    DELETE on the audit log; the refusal is lifted only inside this transaction."""
    last = conn.execute(
        select(audit_log.c.seq, audit_log.c.hash)
        .where(audit_log.c.at < before)
        .order_by(audit_log.c.seq.desc())
        .limit(1)
    ).first()
    if last is None:
        return 0
    seq, digest = int(last[0]), str(last[1])
    postgres = conn.dialect.name == "postgresql"
    if postgres:
        conn.exec_driver_sql("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
    else:
        conn.exec_driver_sql("DROP TRIGGER audit_log_no_delete")
    deleted = conn.execute(audit_log.delete().where(audit_log.c.seq <= seq)).rowcount or 0
    if postgres:
        conn.exec_driver_sql("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")
    else:
        conn.exec_driver_sql(
            "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
            "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
        )
    if conn.execute(select(audit_chain.c.name).where(audit_chain.c.name == ANCHOR)).first():
        conn.execute(
            audit_chain.update()
            .where(audit_chain.c.name == ANCHOR)
            .values(last_seq=seq, last_hash=digest)
        )
    else:
        conn.execute(audit_chain.insert().values(name=ANCHOR, last_seq=seq, last_hash=digest))
    return int(deleted)
