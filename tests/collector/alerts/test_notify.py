"""Notifications against real receivers: aiosmtpd for email, a local HTTP server for Teams,
Slack and generic webhooks. Retries, backoff, permanent failures, the delivery log, held
notifications skipped when a cohort absorbs the alert, and escalation down the rota."""

from datetime import datetime, timedelta
from typing import Any

from collector.alerts.config import AlertsConfig, Contact, RotaEntry, SmtpConfig
from collector.alerts.escalation import escalation_tick
from collector.alerts.notify import Dispatcher, backoff
from collector.alerts.store import AlertStore
from collector.clock import utcnow
from collector.store import SqlStore
from collector.triggers.calendar import Calendar
from collector.triggers.engine import TriggerEngine
from collector.triggers.rules import parse_rules
from collector.triggers.subjects import DeviceGroupResolver
from tests.collector.alerts.conftest import enrol
from tests.collector.alerts.receivers import smtp_server, webhook_server
from tests.collector.triggers.helpers import T0, match, minutes

RULES: dict[str, Any] = {
    "rules": [
        {"id": "suicide", "match": {"category": ["suicide"]}},
        {
            "id": "violence",
            "match": {"category": "violence"},
            "cohort": {"min_devices": 3, "within": "15m", "by": "group"},
        },
    ]
}
ALWAYS_WORKING = Calendar(
    working_days=frozenset(range(7)), day_start=datetime.min.time(), day_end=datetime.max.time()
)


def engine(store: SqlStore, hold: float = 120.0) -> TriggerEngine:
    return TriggerEngine(
        None,
        3,
        parse_rules([("t.yaml", RULES)]),
        subjects=DeviceGroupResolver.for_store(store),
        notify_delay_s=hold,
    )


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


def config(port: int, hook: str = "", **kw: Any) -> AlertsConfig:
    channels = [Contact(name="dsl team", email="dsl-team@college.example", min_severity=4)]
    if hook:
        channels += [
            Contact(name="teams", teams=f"{hook}/teams", min_severity=3),
            Contact(name="slack", slack=f"{hook}/slack", min_severity=5),
            Contact(name="siem", webhook=f"{hook}/generic", min_severity=5),
        ]
    return AlertsConfig(
        console_url="https://lantern.college.example",
        smtp=SmtpConfig(
            host="127.0.0.1", port=port, sender="lantern@college.example", timeout_seconds=2
        ),
        channels=channels,
        **kw,
    )


async def test_a_severity_5_alert_reaches_email_teams_and_slack_without_evidence(
    sqlite_store: SqlStore,
) -> None:
    store = sqlite_store
    (dev,) = enrol(store)
    store.ingest(dev, [match(dev, severity=5, user="s204817")], engine(store))
    alerts = AlertStore(store)
    with smtp_server() as (box, port), webhook_server() as (hooks, url):
        d = Dispatcher(alerts, config(port, url), ALWAYS_WORKING, "replica-a")
        assert await d.run_once() == 5  # the alert-level row, then its 4 recipients
        box.wait_for(1)
        (mail,) = box.messages
        assert mail["Subject"] == "[Lantern] Severity 5 alert #1 needs you"
        assert box.envelopes == [["dsl-team@college.example"]]
        body = mail.get_payload()
        assert "https://lantern.college.example/alerts/1" in body
        for evidence in ("kms", "tonight", "s204817", "LAPTOP", "suicide"):
            assert evidence not in body and evidence not in mail["Subject"]
        paths = {p: payload for p, payload in hooks.posts}
        assert set(paths) == {"/teams", "/slack", "/generic"}
        card = paths["/teams"]["attachments"][0]
        assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
        assert card["content"]["actions"][0]["url"] == "https://lantern.college.example/alerts/1"
        assert paths["/slack"]["text"].startswith("[Lantern] Severity 5")
        assert paths["/slack"]["blocks"][-1]["elements"][0]["url"].endswith("/alerts/1")
        assert "kms" not in str(paths)
    log = alerts.deliveries(1)
    assert sorted(e["channel"] for e in log) == ["email", "slack", "teams", "webhook"]
    assert all(e["ok"] for e in log)
    assert await d.run_once() == 0  # nothing is sent twice


async def test_evidence_only_when_configured(sqlite_store: SqlStore) -> None:
    store = sqlite_store
    (dev,) = enrol(store)
    store.ingest(dev, [match(dev, severity=5)], engine(store))
    with smtp_server() as (box, port):
        d = Dispatcher(AlertStore(store), config(port, include_evidence=True), ALWAYS_WORKING, "a")
        await d.run_once()
        box.wait_for(1)
        body = box.messages[0].get_payload()
        assert "Matched: kms" in body and "Category: suicide" in body


async def test_webhook_retries_with_backoff_then_delivers(sqlite_store: SqlStore) -> None:
    store = sqlite_store
    (dev,) = enrol(store)
    store.ingest(dev, [match(dev, severity=3)], engine(store))
    alerts = AlertStore(store)
    clock = Clock()
    with webhook_server() as (hooks, url):
        hooks.script = [503, 503]
        cfg = config(1, url)
        d = Dispatcher(alerts, cfg, ALWAYS_WORKING, "a", clock=clock)
        await d.run_once()
        assert len(hooks.posts) == 1
        row = next(r for r in alerts.outbox_rows() if r["channel"] == "teams")
        assert row["status"] == "pending" and row["attempts"] == 1
        assert row["next_attempt_at"] > clock.now + timedelta(seconds=3)
        await d.run_once()
        assert len(hooks.posts) == 1  # not due yet
        clock.advance(seconds=10)
        await d.run_once()
        clock.advance(seconds=30)
        await d.run_once()
        assert len(hooks.posts) == 3
    attempts = [(e["attempt"], e["ok"], e["detail"]) for e in alerts.deliveries(1)]
    assert attempts == [(1, False, "HTTP 503"), (2, False, "HTTP 503"), (3, True, "HTTP 200")]


async def test_permanent_failures_stop_and_dead_smtp_retries(sqlite_store: SqlStore) -> None:
    from tests.conftest import free_port

    store = sqlite_store
    (dev,) = enrol(store)
    store.ingest(dev, [match(dev, severity=4)], engine(store))
    alerts = AlertStore(store)
    with webhook_server() as (hooks, url):
        hooks.script = [404]
        d = Dispatcher(alerts, config(free_port(), url), ALWAYS_WORKING, "a")
        await d.run_once()
    rows = {r["channel"]: r for r in alerts.outbox_rows() if r["channel"]}
    assert rows["teams"]["status"] == "failed" and rows["teams"]["last_error"] == "HTTP 404"
    assert rows["email"]["status"] == "pending" and "smtp" in rows["email"]["last_error"]


def test_backoff_grows_and_is_capped() -> None:
    import random

    rng = random.Random(1)
    delays = [backoff(n, 5, 900, rng) for n in range(1, 12)]
    assert 4 <= delays[0] <= 6 and 8 <= delays[1] <= 12
    assert max(delays) <= 900 * 1.2 and delays[-1] >= 900 * 0.8


async def test_held_notifications_are_skipped_when_a_cohort_absorbs_the_alert(
    sqlite_store: SqlStore,
) -> None:
    store = sqlite_store
    devs = enrol(store, 3)
    t = engine(store, hold=60)
    for i, dev in enumerate(devs):
        store.ingest(
            dev, [match(dev, user=f"u{i}", category="violence", severity=4, at=T0 + minutes(i))], t
        )
    alerts = AlertStore(store)
    clock = Clock()
    clock.advance(seconds=61)
    with smtp_server() as (box, port):
        d = Dispatcher(alerts, config(port), ALWAYS_WORKING, "a", clock=clock)
        await d.run_once()
        # The two singles were absorbed; only the cluster (severity 3) was due... and it is
        # below the email channel's min_severity 4, so nobody is emailed and nothing is lost.
        statuses = sorted(
            (r["alert_id"], r["status"], r["last_error"] or "") for r in alerts.outbox_rows()
        )
    assert statuses[0][1:] == ("skipped", "absorbed into cluster alert #3")
    assert statuses[1][1:] == ("skipped", "absorbed into cluster alert #3")
    assert statuses[2][1:] == ("skipped", "no recipients configured")
    assert box.messages == []


async def test_unacknowledged_severity_5_escalates_down_the_rota(sqlite_store: SqlStore) -> None:
    store = sqlite_store
    (dev,) = enrol(store)
    store.ingest(dev, [match(dev, severity=5)], engine(store))
    alerts = AlertStore(store)
    rota = RotaEntry(
        severities=[5],
        ack_timeout="10m",
        working_hours=[
            Contact(name="DSL", email="dsl@c.example"),
            Contact(name="Deputy", email="deputy@c.example"),
        ],
        out_of_hours=[
            Contact(name="On call", email="oncall@c.example"),
            Contact(name="Principal", email="principal@c.example"),
        ],
    )
    never_working = Calendar(working_days=frozenset())
    with smtp_server() as (box, port):
        cfg = AlertsConfig(smtp=SmtpConfig(host="127.0.0.1", port=port), rota=[rota])
        raised = utcnow()  # escalation counts from when the collector raised the alert
        clock = Clock()
        d = Dispatcher(alerts, cfg, ALWAYS_WORKING, "a", clock=clock)
        await d.run_once()
        box.wait_for(1)
        assert box.envelopes == [["dsl@c.example"]]  # working hours: the DSL first
        assert escalation_tick(alerts, cfg, never_working, raised + minutes(5)) == []
        (step1,) = escalation_tick(alerts, cfg, never_working, raised + minutes(11))
        assert (step1.step, step1.contact) == (1, "Principal")  # out-of-hours list, step 1
        assert escalation_tick(alerts, cfg, never_working, raised + minutes(16)) == []
        (step2,) = escalation_tick(alerts, cfg, never_working, raised + minutes(22))
        assert (step2.step, step2.contact) == (2, "On call")  # and round again
        clock.now = raised + minutes(23)
        await d.run_once()
        box.wait_for(3)
        # Both steps were delivered by one dispatcher run, in either order; the order of the
        # steps themselves is asserted above.
        assert sorted(box.envelopes[1:]) == [["oncall@c.example"], ["principal@c.example"]]
        assert "Escalated" in box.messages[1]["Subject"]
        alerts.acknowledge(1, "oncall@c.example", raised + minutes(24))
        assert escalation_tick(alerts, cfg, never_working, raised + minutes(60)) == []
    steps = [h.detail for h in alerts.history(1) if h.action == "alert.escalated"]
    assert steps == [{"step": 1, "contacts": ["Principal"]}, {"step": 2, "contacts": ["On call"]}]
