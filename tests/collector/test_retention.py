"""Retention: expired data is gone from the database, everything else stays (SQLite and PostgreSQL)."""

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from collector.alerts import models as am
from collector.retention import RETENTION_DAYS, purge
from collector.store import SqlStore, open_store
from collector.store import models as m
from tests.collector.store.test_contract import NOW, alert_every_match, enrolled, row
from tests.postgres import fresh_database, postgres_server  # noqa: F401 - fixture


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'lantern.db'}"
    else:
        url = fresh_database(request.getfixturevalue("postgres_server"))
    s = open_store(url)
    yield s
    s.close()


def aged(r, days: float):  # type: ignore[no-untyped-def]
    when = NOW - timedelta(days=days)
    return r.__class__(
        **{**{f: getattr(r, f) for f in r.__slots__}, "observed_at": when, "received_at": when}
    )


def ids(store: SqlStore, table, column):  # type: ignore[no-untyped-def]
    with store.engine.connect() as conn:
        return {r[0] for r in conn.execute(select(column))}


def test_expired_events_and_closed_alerts_are_gone_and_the_rest_stays(store: SqlStore) -> None:
    device = enrolled(store)
    old_window = aged(row(device, kind="window_focus", seq=1), RETENTION_DAYS["window_events"] + 1)
    new_window = aged(row(device, kind="window_focus", seq=2), 1)
    old_match = aged(row(device, seq=3, rule="a"), RETENTION_DAYS["match_events"] + 1)
    keep_match = aged(row(device, seq=4, rule="b"), RETENTION_DAYS["window_events"] + 5)
    open_match = aged(row(device, seq=5, rule="c"), RETENTION_DAYS["match_events"] + 30)
    store.ingest(
        device, [old_window, new_window, old_match, keep_match, open_match], alert_every_match
    )
    with store.engine.begin() as conn:
        a = m.alerts
        closed_at = NOW - timedelta(days=RETENTION_DAYS["false_positives"] + 1)
        # rule a: closed long ago as a false positive; rule b: closed recently with action;
        # rule c: still open, however old.
        conn.execute(
            update(a)
            .where(a.c.rule == "a")
            .values(status="closed", outcome="false_positive", closed_at=closed_at)
        )
        conn.execute(
            update(a)
            .where(a.c.rule == "b")
            .values(status="closed", outcome="spoke_with_student", closed_at=closed_at)
        )
        alert_a = conn.execute(select(a.c.id).where(a.c.rule == "a")).scalar_one()
        conn.execute(
            am.alert_notes.insert().values(
                alert_id=alert_a, at=closed_at, author="dsl@x", text="note"
            )
        )

    report = purge(store.engine, NOW)

    events = ids(store, m.events, m.events.c.event_id)
    assert old_window.event_id not in events and old_match.event_id not in events
    assert {new_window.event_id, keep_match.event_id, open_match.event_id} <= events
    assert ids(store, m.alerts, m.alerts.c.rule) == {"b", "c"}
    assert ids(store, am.alert_notes, am.alert_notes.c.alert_id) == set()
    assert report.deleted["window_events"] == 1 and report.deleted["false_positives"] == 1
    assert purge(store.engine, NOW).total == 0  # idempotent


def test_closed_alerts_with_action_go_after_their_own_longer_period(store: SqlStore) -> None:
    device = enrolled(store)
    store.ingest(device, [row(device, seq=1, rule="x")], alert_every_match)
    with store.engine.begin() as conn:
        conn.execute(
            update(m.alerts).values(
                status="closed",
                outcome="social_care_referral",
                closed_at=NOW - timedelta(days=RETENTION_DAYS["closed_alerts"] + 1),
            )
        )
    purge(store.engine, NOW)
    assert ids(store, m.alerts, m.alerts.c.id) == set()


def test_old_audit_rows_are_pruned_and_the_rest_still_verifies(store: SqlStore) -> None:
    import pytest
    from sqlalchemy.exc import DBAPIError

    from collector.alerts import audit

    old = NOW - timedelta(days=RETENTION_DAYS["audit"] + 10)
    with store.engine.begin() as conn:
        for i in range(5):
            audit.append(
                conn,
                actor="dsl@x",
                action="alert.view",
                object_type="alert",
                object_id=i,
                at=old + timedelta(minutes=i),
            )
        for i in range(3):
            audit.append(
                conn,
                actor="dsl@x",
                action="alert.view",
                object_type="alert",
                object_id=10 + i,
                at=NOW - timedelta(days=1),
            )
    report = purge(store.engine, NOW)
    assert report.deleted["audit"] == 5
    with store.engine.connect() as conn:
        check = audit.verify(conn)
        remaining = [e.object_id for e in audit.history(conn, "alert", "10")]
    assert check.ok and check.entries == 3 and remaining == ["10"]
    with store.engine.begin() as conn:  # new rows still chain on
        audit.append(conn, actor="it@x", action="user.add", object_type="user", object_id=1, at=NOW)
    with store.engine.connect() as conn:
        assert audit.verify(conn).ok
    with pytest.raises(DBAPIError), store.engine.begin() as conn:  # outside retention: refused
        conn.execute(am.audit_log.delete())
