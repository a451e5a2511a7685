"""Background jobs on a real store: coverage rules, the weekly report, and the running loops
delivering to a real SMTP server (one runner per leased job across replicas)."""

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from collector.alerts.config import AlertsConfig, Contact, SmtpConfig, WeeklyReportConfig
from collector.alerts.jobs import AlertJobs, run_coverage
from collector.alerts.reports import last_week
from collector.alerts.store import AlertStore
from collector.clock import utcnow
from collector.store import SqlStore
from collector.store.interface import EventRow
from collector.triggers.calendar import Calendar
from collector.triggers.engine import TriggerEngine
from collector.triggers.rules import load_rules, parse_rules
from lantern.ids import uuid7_str
from tests.collector.alerts.conftest import enrol
from tests.collector.alerts.receivers import smtp_server
from tests.collector.triggers.helpers import match

IN_TERM = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
HOLIDAY = datetime(2026, 12, 28, 12, 0, tzinfo=UTC)


def sign(device: str, event_kind: str, at: datetime, **detail: Any) -> EventRow:
    return EventRow(uuid7_str(), device, 1, event_kind, at, at, "s1", "", "", detail)


def no_triggers(rows: Any) -> list[Any]:
    return []


def test_coverage_rules_offline_blind_tamper_circumvention_gap(store: SqlStore) -> None:
    rules = load_rules()
    alerts = AlertStore(store)
    quiet, blind, busy = enrol(store, 3)
    store.record_heartbeat(quiet, IN_TERM - timedelta(days=4), None, None)
    store.record_heartbeat(blind, IN_TERM, {"windows": "ok", "keyboard": "unavailable: wayland"}, 0)
    store.record_heartbeat(busy, IN_TERM, {"windows": "ok", "keyboard": "ok"}, 0)
    # Coverage signs arrive through ingest like any event (received "now").
    now = utcnow()
    store.ingest(
        busy,
        [
            sign(busy, "circumvention", now, kind="tamper", detail="unit stopped"),
            sign(busy, "circumvention", now, kind="vpn", detail="wg0"),
            sign(busy, "gap", now, reason="spool_full", dropped=40),
        ],
        no_triggers,
    )
    assert run_coverage(store, alerts, rules, IN_TERM) == 4
    got = sorted((a.rule, a.severity, a.device_id == quiet) for a in alerts.find())
    assert got == [
        ("coverage.circumvention", 3, False),
        ("coverage.offline_term_time", 2, True),
        ("coverage.spool_gap", 2, False),
        ("coverage.tamper", 4, False),
    ]
    # The blind device alerts once it has been blind for the rule's hour; events are not re-read.
    store.record_heartbeat(
        blind,
        IN_TERM + timedelta(hours=2),
        {"windows": "ok", "keyboard": "unavailable: wayland"},
        0,
    )
    store.record_heartbeat(busy, IN_TERM + timedelta(hours=2), None, None)
    assert run_coverage(store, alerts, rules, IN_TERM + timedelta(hours=2)) == 2  # blind + offline
    blind_alert = next(a for a in alerts.find() if a.rule == "coverage.blind")
    assert blind_alert.device_id == blind and "keyboard: unavailable" in blind_alert.matched
    offline = next(a for a in alerts.find() if a.rule == "coverage.offline_term_time")
    assert offline.count == 2  # folded, not a second alert


def test_offline_devices_in_the_holidays_are_not_alerts(sqlite_store: SqlStore) -> None:
    (dev,) = enrol(sqlite_store)
    sqlite_store.record_heartbeat(dev, HOLIDAY - timedelta(days=10), None, None)
    alerts = AlertStore(sqlite_store)
    run_coverage(sqlite_store, alerts, load_rules(), HOLIDAY)
    assert alerts.find() == []


def test_weekly_report_is_made_once_and_emailed(sqlite_store: SqlStore) -> None:
    store = sqlite_store
    devs = enrol(store, 3)
    rules = parse_rules([("t.yaml", {"rules": [{"id": "r", "match": {}}]})])
    t = TriggerEngine(None, 3, rules)
    cal = Calendar()
    now = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # Monday 08:00 GMT
    start, end = last_week(cal, now)
    assert (start.isoformat(), end.isoformat()) == (
        "2026-11-23T00:00:00+00:00",
        "2026-11-30T00:00:00+00:00",
    )
    mid = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    for i, dev in enumerate(devs):
        store.ingest(
            dev,
            [
                match(
                    dev,
                    user=f"student{i}",
                    severity=5 - i,
                    category=["suicide", "bullying", "violence"][i],
                    at=mid,
                )
            ],
            t,
        )
    alerts = AlertStore(store)
    ids = [a.id for a in alerts.find()]
    alerts.acknowledge(ids[0], "dsl", mid + timedelta(minutes=4))
    alerts.close(ids[1], "early_help", "dsl", mid + timedelta(minutes=30))
    cfg = AlertsConfig(
        weekly_report=WeeklyReportConfig(recipients=["dsl@c.example"]),
        console_url="https://lantern.example",
    )
    with smtp_server() as (box, port):
        cfg = cfg.model_copy(update={"smtp": SmtpConfig(host="127.0.0.1", port=port)})
        jobs = AlertJobs(store, load_rules(), cfg)
        assert jobs.weekly_report_once(datetime(2026, 11, 30, 6, 0, tzinfo=UTC)) is None  # early
        report = jobs.weekly_report_once(now)
        assert report is not None
        assert jobs.weekly_report_once(now + timedelta(minutes=10)) is None  # once per week
        assert report["alerts"]["total"] == 3
        assert report["alerts"]["by_severity"] == {"5": 1, "4": 1, "3": 1}
        assert report["still_open"]["total"] == 2
        assert report["outcomes"] == {"early_help": 1}
        tta = report["time_to_acknowledge"]["all"]
        assert tta["acknowledged"] == 2 and tta["median_minutes"] == 17.0
        assert report["coverage"]["devices"] == 3
        assert alerts.latest_report("weekly") == report
        jobs.dispatcher.clock = lambda: now + timedelta(minutes=1)
        asyncio.run(jobs.dispatcher.run_once())
        box.wait_for(1)
        (mail,) = box.messages
        assert mail["Subject"] == "[Lantern] Weekly safeguarding report 2026-11-23 to 2026-11-29"
        body = mail.get_payload()
        assert "Alerts raised: 3" in body and "early_help: 1" in body
        assert "student" not in body and "LAPTOP" not in body


async def test_running_jobs_email_a_new_alert_within_a_second(sqlite_store: SqlStore) -> None:
    store = sqlite_store
    (dev,) = enrol(store)
    rules = parse_rules([("t.yaml", {"rules": [{"id": "r", "match": {}}]})])
    with smtp_server() as (box, port):
        cfg = AlertsConfig(
            smtp=SmtpConfig(host="127.0.0.1", port=port),
            channels=[Contact(name="dsl", email="dsl@c.example")],
        )
        a = AlertJobs(store, rules, cfg, owner="replica-a", escalation_interval=0.05)
        b = AlertJobs(store, rules, cfg, owner="replica-b", escalation_interval=0.05)
        runner = asyncio.gather(a.run(), b.run())
        try:
            await asyncio.sleep(0.2)
            t0 = time.perf_counter()
            await asyncio.to_thread(
                store.ingest, dev, [match(dev, severity=5)], TriggerEngine(None, 3, rules)
            )
            while not box.messages and time.perf_counter() - t0 < 5:
                await asyncio.sleep(0.01)
            assert box.messages and box.received_at[0] - t0 < 1.0
            await asyncio.sleep(0.3)
            assert len(box.messages) == 1  # two replicas, one email
            holder = AlertStore(store).get_lease_owner("escalation")
            other = {"replica-a": "replica-b", "replica-b": "replica-a"}[holder]
            assert not AlertStore(store).acquire_lease(
                "escalation", other, timedelta(seconds=30), utcnow()
            )
        finally:
            runner.cancel()
            try:
                await runner
            except asyncio.CancelledError:
                pass
