"""One contract, every backend: the same tests run against SQLite and PostgreSQL (GRR's pattern)."""

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from collector.store import Store, StoreError, TokenRejected, open_store
from collector.store.interface import AlertCandidate, DeviceRegistration, EventRow
from lantern.ids import uuid7_str
from tests.postgres import fresh_database, postgres_server  # noqa: F401 - fixture

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
REG = DeviceRegistration("inst-1", "LAPTOP-0193", "SN1", "linux", "Debian 12", "0.1.0")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'lantern.db'}"
    else:
        url = fresh_database(request.getfixturevalue("postgres_server"))
    s = open_store(url)
    yield s
    s.close()


def enrolled(store: Store, instance: str = "inst-1") -> str:
    store.add_enrolment_token(f"tok-{instance}", "Year 12", 5, NOW + timedelta(days=1))
    reg = DeviceRegistration(instance, "LAPTOP", "SN", "linux", "12", "0.1.0")
    return store.enrol_device(f"tok-{instance}", reg, "secret-hash", NOW).id


def row(
    device_id: str,
    kind: str = "risk_match",
    event_id: str | None = None,
    seq: int = 1,
    **detail: object,
) -> EventRow:
    return EventRow(
        event_id=event_id or uuid7_str(),
        device_id=device_id,
        seq=seq,
        kind=kind,
        observed_at=NOW,
        received_at=NOW,
        os_user="s204817",
        app="xterm",
        title="Essay",
        detail=dict(detail),
    )


def alert_every_match(rows: Sequence[EventRow]) -> list[AlertCandidate]:
    return [
        AlertCandidate(
            dedup_key=f"{r.device_id}|{r.os_user}|{r.detail['rule']}",
            severity=4,
            category="suicide",
            rule=str(r.detail["rule"]),
            source="typed",
            device_id=r.device_id,
            os_user=r.os_user,
            app=r.app,
            title=r.title,
            matched="m",
            snippet="s",
            event_id=r.event_id,
            observed_at=r.observed_at,
        )
        for r in rows
        if r.kind == "risk_match"
    ]


def test_users_are_unique_by_email(store: Store) -> None:
    store.add_user("a@college.example", "dsl", "h")
    assert store.user_by_email("a@college.example").role == "dsl"
    with pytest.raises(StoreError):
        store.add_user("a@college.example", "trustee", "h")


def test_api_tokens_expire_and_resolve_to_users(store: Store) -> None:
    user = store.add_user("b@college.example", "it_admin", "h")
    store.add_api_token(user.id, "live", NOW + timedelta(hours=1))
    store.add_api_token(user.id, "old", NOW - timedelta(hours=1))
    assert store.user_for_api_token("live", NOW).email == "b@college.example"
    with pytest.raises(TokenRejected, match="expired"):
        store.user_for_api_token("old", NOW)
    with pytest.raises(TokenRejected, match="unknown"):
        store.user_for_api_token("nope", NOW)


def test_enrolment_token_uses_and_expiry(store: Store) -> None:
    store.add_enrolment_token("once", "Staff", 1, NOW + timedelta(days=1))
    device = store.enrol_device("once", REG, "h1", NOW)
    assert device.group_name == "Staff" and device.hostname == "LAPTOP-0193"
    with pytest.raises(TokenRejected, match="used up"):
        store.enrol_device("once", DeviceRegistration("inst-2", "L2", "", "", "", ""), "h", NOW)
    store.add_enrolment_token("stale", None, None, NOW - timedelta(seconds=1))
    with pytest.raises(TokenRejected, match="expired"):
        store.enrol_device("stale", REG, "h", NOW)


def test_re_enrolling_the_same_instance_keeps_the_device(store: Store) -> None:
    store.add_enrolment_token("many", None, None, None)
    first = store.enrol_device("many", REG, "h1", NOW)
    second = store.enrol_device("many", REG, "h2", NOW)
    assert first.id == second.id
    with pytest.raises(TokenRejected):
        store.authenticate_device(first.id, "h1")  # the old secret no longer works
    assert store.authenticate_device(first.id, "h2").id == first.id


def test_a_re_sent_event_id_is_stored_once(store: Store) -> None:
    device = enrolled(store)
    same = uuid7_str()
    first = store.ingest(device, [row(device, event_id=same, rule="r")], alert_every_match)
    again = store.ingest(
        device,
        [row(device, event_id=same, rule="r"), row(device, event_id=same, rule="r")],
        alert_every_match,
    )
    assert (first.stored, first.duplicates, first.alerts_raised) == (1, 0, 1)
    assert (again.stored, again.duplicates, again.alerts_raised) == (0, 2, 0)
    assert store.count_events(device) == 1
    assert len(store.list_alerts()) == 1


def test_repeats_fold_into_one_open_alert(store: Store) -> None:
    device = enrolled(store)
    store.ingest(
        device, [row(device, rule="suicide.kms", seq=i) for i in range(1, 4)], alert_every_match
    )
    store.ingest(device, [row(device, rule="other", seq=9)], alert_every_match)
    alerts = {a.rule: a for a in store.list_alerts()}
    assert alerts["suicide.kms"].count == 3
    assert alerts["other"].count == 1
    assert alerts["suicide.kms"].hostname == "LAPTOP"


def test_heartbeat_updates_last_seen_and_capabilities(store: Store) -> None:
    device = enrolled(store)
    store.record_heartbeat(device, NOW, {"keyboard": "ok"}, 4)
    store.record_heartbeat(device, NOW + timedelta(seconds=30), None, None)
    (d,) = store.list_devices()
    assert d.last_seen_at == NOW + timedelta(seconds=30)
    assert d.capabilities == {"keyboard": "ok"} and d.spool_depth == 4


def test_unknown_and_revoked_devices_are_refused(store: Store) -> None:
    with pytest.raises(TokenRejected, match="unknown_device"):
        store.authenticate_device("no-such-device", "h")
