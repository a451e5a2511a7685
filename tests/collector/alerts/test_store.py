"""Alerts through the real ingest path (SqlStore.ingest + TriggerEngine) and the workflow, on
SQLite and PostgreSQL: dedup, cohorts, rule state across restarts, lifecycle, the audit chain,
leases and outbox claims."""

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from collector.alerts.store import AlertFilter, AlertStore
from collector.alerts.workflow import WorkflowError
from collector.store import NotFound, SqlStore, open_store
from collector.triggers.engine import TriggerEngine
from collector.triggers.rules import parse_rules
from collector.triggers.subjects import DeviceGroupResolver
from tests.collector.alerts.conftest import enrol
from tests.collector.triggers.helpers import T0, match, minutes

RULES: dict[str, Any] = {
    "rules": [
        {"id": "suicide", "match": {"category": ["suicide", "self_harm"]}},
        {
            "id": "violence",
            "match": {"category": "violence"},
            "cohort": {"min_devices": 3, "within": "15m", "by": "group", "reduce_by": 1},
        },
        {
            "id": "gambling",
            "match": {"category": "gambling"},
            "frequency": 3,
            "timeframe": "1h",
            "severity": 3,
        },
    ]
}


def triggers(store: SqlStore) -> TriggerEngine:
    return TriggerEngine(
        None, 3, parse_rules([("t.yaml", RULES)]), subjects=DeviceGroupResolver.for_store(store)
    )


def test_ingest_raises_alert_with_audit_and_outbox_in_one_transaction(
    store: SqlStore, alerts: AlertStore
) -> None:
    (dev,) = enrol(store)
    t = triggers(store)
    r = store.ingest(dev, [match(dev, severity=4, at=T0 + minutes(i)) for i in range(3)], t)
    assert (r.stored, r.alerts_raised, r.alerts_updated) == (3, 1, 2)
    (a,) = alerts.find()
    assert (a.rule, a.count, a.severity, a.status, a.group_name) == ("suicide", 3, 4, "new", "10B")
    assert a.last_seen_at == T0 + minutes(2)
    assert [h.action for h in alerts.history(a.id)] == ["alert.raised"]
    (o,) = alerts.outbox_rows()
    assert (o["alert_id"], o["event"], o["status"]) == (a.id, "raised", "pending")
    # A severity 5 repeat raises the open alert's severity and queues a fresh notification.
    store.ingest(dev, [match(dev, severity=5, at=T0 + minutes(5))], t)
    assert alerts.get(a.id).severity == 5
    assert [o["event"] for o in alerts.outbox_rows()] == ["raised", "severity_raised"]


def test_a_failing_trigger_rolls_back_the_events(store: SqlStore) -> None:
    (dev,) = enrol(store)

    def broken(rows: Any) -> Any:
        raise RuntimeError("bug in a rule")

    with pytest.raises(RuntimeError):
        store.ingest(dev, [match(dev)], broken)
    assert store.count_events(dev) == 0  # not acked, so the agent re-sends it


def test_frequency_state_survives_a_restart(store: SqlStore) -> None:
    (dev,) = enrol(store)
    g = {"category": "gambling", "severity": 2}
    assert store.ingest(dev, [match(dev, at=T0, **g)], triggers(store)).alerts_raised == 0
    assert (
        store.ingest(dev, [match(dev, at=T0 + minutes(1), **g)], triggers(store)).alerts_raised == 0
    )
    again = open_store(str(store.engine.url.render_as_string(hide_password=False)))
    try:
        r = again.ingest(dev, [match(dev, at=T0 + minutes(2), **g)], triggers(again))
        assert r.alerts_raised == 1
    finally:
        again.close()


def test_cohort_burst_absorbs_singles_into_one_cluster(store: SqlStore, alerts: AlertStore) -> None:
    devs = enrol(store, 6)
    t = triggers(store)
    for i, dev in enumerate(devs):
        store.ingest(
            dev, [match(dev, user=f"s{i}", category="violence", severity=4, at=T0 + minutes(i))], t
        )
    five = enrol(store, 1, group="10B-late")[0]
    store.ingest(five, [match(five, category="violence", severity=5, at=T0 + minutes(7))], t)
    visible = alerts.find()
    clusters = [a for a in visible if a.kind == "cluster"]
    assert len(clusters) == 1
    c = clusters[0]
    assert (c.severity, c.members, c.count, c.group_name) == (3, 6, 6, "10B")
    assert len(alerts.members(c.id)) == 6
    singles = [a for a in visible if a.kind == "single"]
    assert [(a.severity, a.group_name) for a in singles] == [(5, "10B-late")]
    hidden = alerts.find(AlertFilter(include_members=True))
    assert sum(1 for a in hidden if a.cluster_id == c.id) == 2
    assert "alert.clustered" in [h.action for h in alerts.history(c.id)]
    assert [a.id for a in store.list_alerts()] == [a.id for a in visible]


def test_lifecycle_with_assignment_notes_outcome_and_audit(
    store: SqlStore, alerts: AlertStore
) -> None:
    (dev,) = enrol(store)
    store.ingest(dev, [match(dev)], triggers(store))
    (a,) = alerts.find()
    now = T0 + minutes(3)
    assert alerts.acknowledge(a.id, "dsl@college.example", now).status == "acknowledged"
    with pytest.raises(WorkflowError, match="cannot acknowledge an alert that is acknowledged"):
        alerts.acknowledge(a.id, "other@college.example", now)
    got = alerts.assign(a.id, "deputy@college.example", "dsl@college.example", now)
    assert (got.status, got.assignee) == ("in_progress", "deputy@college.example")
    alerts.add_note(a.id, "Spoke to tutor; student seen at lunch.", "deputy@college.example", now)
    with pytest.raises(WorkflowError, match="unknown outcome"):
        alerts.close(a.id, "sorted", "deputy@college.example", now)
    closed = alerts.close(
        a.id,
        "spoke_with_student",
        "deputy@college.example",
        now + minutes(60),
        note="Parent informed.",
    )
    assert (closed.status, closed.outcome, closed.closed_by) == (
        "closed",
        "spoke_with_student",
        "deputy@college.example",
    )
    assert closed.acknowledged_at == now
    with pytest.raises(WorkflowError):
        alerts.close(a.id, "police", "x", now)
    assert [n.text for n in alerts.notes(a.id)] == [
        "Spoke to tutor; student seen at lunch.",
        "Parent informed.",
    ]
    history = [(h.actor, h.action) for h in alerts.history(a.id)]
    assert history == [
        ("system", "alert.raised"),
        ("dsl@college.example", "alert.acknowledge"),
        ("dsl@college.example", "alert.assign"),
        ("deputy@college.example", "alert.note"),
        ("deputy@college.example", "alert.close"),
        ("deputy@college.example", "alert.note"),
    ]
    assert alerts.verify_audit().ok
    with pytest.raises(NotFound):
        alerts.acknowledge(999, "x", now)
    with pytest.raises(WorkflowError, match="empty"):
        alerts.add_note(a.id, "   ", "x", now)


def test_closing_a_new_alert_acknowledges_it_on_the_way(
    store: SqlStore, alerts: AlertStore
) -> None:
    (dev,) = enrol(store)
    store.ingest(dev, [match(dev)], triggers(store))
    (a,) = alerts.find()
    closed = alerts.close(a.id, "false_positive", "dsl@x", T0 + minutes(1))
    assert closed.acknowledged_by == "dsl@x" and closed.acknowledged_at == T0 + minutes(1)


def test_audit_log_is_append_only_and_tamper_evident(store: SqlStore, alerts: AlertStore) -> None:
    (dev,) = enrol(store)
    store.ingest(dev, [match(dev)], triggers(store))
    (a,) = alerts.find()
    alerts.acknowledge(a.id, "dsl@x", T0)
    alerts.close(a.id, "no_further_action", "dsl@x", T0)
    assert alerts.verify_audit().ok and alerts.verify_audit().entries == 3
    with pytest.raises(DBAPIError, match="append-only"), store.engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET actor = 'nobody' WHERE seq = 2"))
    with pytest.raises(DBAPIError, match="append-only"), store.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq = 2"))
    # Someone with enough power to drop the guard can edit a row, but the chain shows it.
    with store.engine.begin() as conn:
        if store.engine.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
        else:
            conn.execute(text("DROP TRIGGER audit_log_no_update"))
        conn.execute(text("UPDATE audit_log SET actor = 'nobody' WHERE seq = 2"))
    check = alerts.verify_audit()
    assert not check.ok and check.first_bad_seq == 2 and "hash" in check.reason


def test_leases_give_each_job_one_runner(store: SqlStore, alerts: AlertStore) -> None:
    ttl = timedelta(seconds=30)
    assert alerts.acquire_lease("escalation", "replica-a", ttl, T0)
    assert not alerts.acquire_lease("escalation", "replica-b", ttl, T0 + timedelta(seconds=10))
    assert alerts.acquire_lease("escalation", "replica-a", ttl, T0 + timedelta(seconds=10))
    assert alerts.acquire_lease("escalation", "replica-b", ttl, T0 + timedelta(seconds=41))
    alerts.release_lease("escalation", "replica-b")
    assert alerts.acquire_lease("escalation", "replica-a", ttl, T0 + timedelta(seconds=42))


def test_outbox_claims_do_not_overlap(store: SqlStore, alerts: AlertStore) -> None:
    devs = enrol(store, 4)
    for i, dev in enumerate(devs):
        store.ingest(dev, [match(dev, user=f"u{i}", severity=5)], triggers(store))
    now = T0 + timedelta(days=1)
    first = alerts.claim_due("a", now, limit=3)
    second = alerts.claim_due("b", now, limit=3)
    assert len(first) == 3 and len(second) == 1
    assert not {c.id for c in first} & {c.id for c in second}
    assert alerts.claim_due("c", now) == []
    # An expired lease (a replica that died mid-send) is claimable again.
    assert len(alerts.claim_due("c", now + timedelta(minutes=5))) == 4


def test_precision_per_rule_from_outcomes(store: SqlStore, alerts: AlertStore) -> None:
    devs = enrol(store, 4)
    t = triggers(store)
    for i, dev in enumerate(devs):
        store.ingest(dev, [match(dev, user=f"u{i}")], t)
    ids = [a.id for a in alerts.find()]
    alerts.close(ids[0], "false_positive", "d", T0)
    alerts.close(ids[1], "early_help", "d", T0)
    alerts.close(ids[2], "no_further_action", "d", T0)
    (p,) = alerts.precision()
    assert (p.rule, p.closed, p.true_positive, p.false_positive, p.open) == ("suicide", 3, 2, 1, 1)
    assert p.precision == pytest.approx(2 / 3)
    assert p.outcomes == {"false_positive": 1, "early_help": 1, "no_further_action": 1}


def test_concurrent_ingest_and_staff_actions_keep_one_intact_chain(
    store: SqlStore, alerts: AlertStore
) -> None:
    """Several replicas' worth of writers at once: ingest raising and folding alerts (shared
    suppression keys included) while staff acknowledge and note. No deadlock, no lost audit row,
    and the hash chain verifies."""
    from concurrent.futures import ThreadPoolExecutor

    devs = enrol(store, 6)
    rules = {
        "rules": [
            {"id": "suicide", "match": {"category": ["suicide"]}},
            {
                "id": "any_user",
                "match": {"category": ["suicide"]},
                "group_by": ["user"],
                "suppress_for": "1m",
            },
        ]
    }
    t = TriggerEngine(None, 3, parse_rules([("t.yaml", rules)]))

    def agent(i: int) -> None:
        dev = devs[i % len(devs)]
        for k in range(8):
            store.ingest(
                dev, [match(dev, user="shared", severity=3 + (k % 3), at=T0 + minutes(k))], t
            )

    def staff() -> None:
        for _ in range(20):
            for a in alerts.find(AlertFilter(status=["new"])):
                try:
                    alerts.acknowledge(a.id, "dsl@x", T0)
                    alerts.add_note(a.id, "seen", "dsl@x", T0)
                except WorkflowError:
                    pass

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(agent, i) for i in range(6)] + [pool.submit(staff)]
        for f in futures:
            f.result()
    check = alerts.verify_audit()
    assert check.ok, check
    raised = sum(
        1
        for a in alerts.find(AlertFilter(limit=1000))
        for h in alerts.history(a.id)
        if h.action == "alert.raised"
    )
    assert raised == len(alerts.find(AlertFilter(limit=1000)))
