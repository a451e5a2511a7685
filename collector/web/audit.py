"""Writing from the console: one write transaction helper and the audit entries it records.

Every view of alert evidence, export, policy change, user change and sign-in goes into the
hash-chained audit log (collector.alerts.audit) inside the transaction that makes the change.
On SQLite the store's write lock is held, as the chain's head row needs one writer at a time.
"""

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlalchemy.engine import Connection

from collector.alerts import audit
from collector.clock import utcnow
from collector.store import Store


@contextmanager
def write(store: Store) -> Iterator[Connection]:
    """A write transaction on the store's engine, serialised with the store's own writes."""
    lock = getattr(store, "_write_lock", None)
    if lock is not None:
        lock.acquire()
    try:
        with store.engine.begin() as conn:  # type: ignore[attr-defined]
            yield conn
    finally:
        if lock is not None:
            lock.release()


def append(
    conn: Connection,
    actor: str,
    action: str,
    object_type: str,
    object_id: str | int,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Record one audited action inside the caller's transaction."""
    audit.append(
        conn,
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=object_id,
        at=utcnow(),
        detail=detail,
    )


def record(
    store: Store,
    actor: str,
    action: str,
    object_type: str,
    object_id: str | int,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Record one audited action in its own transaction (a view, an export, a sign-in)."""
    with write(store) as conn:
        append(conn, actor, action, object_type, object_id, detail)
