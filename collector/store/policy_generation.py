"""The policy generation: one counter that says "some device's effective policy may have changed".

Every write to what ingest's `_policy()` reads — the console policy editor (notice text, excluded
apps, local keywords), group policies, people, their logins and groups, special logins, the device
inventory, a re-enrolment — calls `bump` in its own transaction, so the new data and the new
generation commit together. Each ingest process reads `current` at most every couple of seconds
(one tiny SELECT shared by all its streams) and marks its cached policies stale when the number
moved; this works across several ingest processes on one database. Portable: SQLite and PostgreSQL.
"""

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.engine import Connection

from collector.store.models import policy_generation

ROW_ID = 1


def bump(conn: Connection) -> None:
    """Move the generation on, inside the caller's write transaction. Call it last, after the
    audit append: on PostgreSQL this row stays locked until commit, and every caller taking the
    audit chain's lock first keeps the lock order one way round."""
    t = policy_generation
    moved = conn.execute(
        update(t).where(t.c.id == ROW_ID).values(generation=t.c.generation + 1)
    ).rowcount
    if not moved:  # the row migration 0010 adds is missing (a hand-made database)
        conn.execute(insert(t).values(id=ROW_ID, generation=1))


def current(engine: Engine) -> int:
    """The generation now (0 before any change)."""
    t = policy_generation
    with engine.connect() as conn:
        value = conn.execute(select(t.c.generation).where(t.c.id == ROW_ID)).scalar()
    return int(value or 0)
