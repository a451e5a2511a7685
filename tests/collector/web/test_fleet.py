"""IT pages: device status, enrolment tokens, policy editor, users — and no alert content."""

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from collector.alerts.models import audit_log
from collector.security.credentials import token_hash
from collector.store import SqlStore, TokenRejected
from collector.store import models as m
from collector.store.interface import DeviceRegistration
from collector.web import policy
from collector.web.models import policy_changes
from tests.collector.web.conftest import NOW, add_alert, add_device, add_event


def _row(html: str, device_id: str) -> str:
    match = re.search(rf'<tr data-device-id="{device_id}">(.*?)</tr>', html, re.S)
    assert match, device_id
    return match.group(1)


def test_devices_page_shows_each_status(as_role: Any, store: SqlStore) -> None:
    fresh = datetime.now(UTC) - timedelta(seconds=10)  # "online" is a matter of seconds
    online = add_device(store, "ONLINE", last_seen=fresh, last_event=fresh, agent_version="1.2.0")
    offline = add_device(
        store, "OFFLINE", last_seen=NOW - timedelta(hours=3), agent_version="1.2.0"
    )
    missing = add_device(store, "MISSING", last_seen=NOW - timedelta(days=9), agent_version="1.2.0")
    never = add_device(store, "NEVER", agent_version="1.2.0")
    blind = add_device(
        store,
        "BLIND",
        last_seen=fresh,
        agent_version="1.2.0",
        capabilities={"windows": "ok", "keyboard": "unavailable: wayland"},
    )
    old = add_device(store, "OLD", last_seen=fresh, agent_version="1.1.9")
    tampered = add_device(store, "TAMPERED", last_seen=fresh, agent_version="1.2.0")
    add_event(store, tampered, "circumvention", NOW - timedelta(hours=1), detail={"kind": "proxy"})
    # Two students' agents on one shared laptop (one serial): shared, not cloned.
    shared_a = add_device(store, "LIB-1", serial="SN-1", last_seen=fresh, agent_version="1.2.0")
    shared_b = add_device(store, "LIB-1", serial="SN-1", last_seen=fresh, agent_version="1.2.0")
    # One identity presented by two live agents at once (ingest flagged it): cloned.
    cloned = add_device(store, "CLONE", serial="SN-2", last_seen=fresh, agent_version="1.2.0")
    with store.engine.begin() as conn:
        conn.execute(
            update(m.devices).where(m.devices.c.id == cloned).values(clone_suspected_at=NOW)
        )
    add_event(
        store,
        offline,
        "gap",
        NOW - timedelta(days=1),
        detail={"dropped": 42, "reason": "spool_full"},
    )
    html = as_role("it_admin").get("/devices").text
    assert "tag-online" in _row(html, online)
    assert "tag-offline" in _row(html, offline) and ">42<" in _row(html, offline)
    assert "tag-missing" in _row(html, missing)
    assert "never connected" in _row(html, never)
    assert "tag-blind" in _row(html, blind) and "unavailable: wayland" in _row(html, blind)
    assert "tag-outdated" in _row(html, old) and "1.1.9" in _row(html, old)
    assert "tag-tampered" in _row(html, tampered)
    assert "tag-shared" in _row(html, shared_a) and "tag-shared" in _row(html, shared_b)
    assert "tag-cloned" not in _row(html, shared_a)
    assert "tag-cloned" in _row(html, cloned)


def test_it_never_sees_alert_content(as_role: Any, store: SqlStore) -> None:
    d = add_device(store, "LAB-01", last_seen=NOW)
    alert_id = add_alert(
        store, d, os_user="COLLEGE\\secretkid", matched="zzmatchedzz", snippet="zzsnippetzz"
    )
    it = as_role("it_admin")
    for path in ("/devices", "/tokens", "/policy", "/users", "/coverage"):
        page = it.get(path)
        assert page.status_code == 200, path
        for secret in ("secretkid", "zzmatchedzz", "zzsnippetzz"):
            assert secret not in page.text, (path, secret)
    assert it.get(f"/alerts/{alert_id}").status_code == 403
    assert it.get("/alerts/export.csv").status_code == 403
    assert it.client.get("/api/v1/alerts").status_code == 403


def test_create_and_revoke_an_enrolment_token(as_role: Any, store: SqlStore) -> None:
    it = as_role("it_admin")
    page = it.post("/tokens", {"group": "library", "uses": "2", "expires": "1d"})
    token = re.search(r'<code id="new-token">([^<]+)</code>', page.text).group(1)  # type: ignore[union-attr]
    assert token.startswith("lte_")
    reg = DeviceRegistration("inst-1", "LIB-01", "SN9", "linux", "13", "1.0")
    device = store.enrol_device(token_hash(token), reg, "s" * 64, NOW)
    assert device.group_name == "library"
    listing = it.get("/tokens").text
    assert re.search(r"<td>library</td><td class=\"num\">1</td>", listing)
    token_id = int(re.search(r'action="/tokens/(\d+)/revoke"', listing).group(1))  # type: ignore[union-attr]
    assert it.post(f"/tokens/{token_id}/revoke").status_code == 303
    try:
        store.enrol_device(
            token_hash(token), DeviceRegistration("inst-2", "LIB-02", "", "", "", ""), "t" * 64, NOW
        )
    except TokenRejected as exc:
        assert "revoked" in exc.reason
    else:
        raise AssertionError("a revoked token enrolled a device")
    assert "revoked" in it.get("/tokens").text


def test_bad_token_form_is_explained(as_role: Any) -> None:
    page = as_role("it_admin").post("/tokens", {"uses": "0"})
    assert page.status_code == 422 and "uses must be 1 or more" in page.text


def test_policy_changes_need_a_reason_and_are_recorded(as_role: Any, store: SqlStore) -> None:
    it = as_role("it_admin")
    refused = it.post(
        "/policy/keywords",
        {"action": "add", "phrase": "blue whale", "category": "self_harm", "reason": ""},
    )
    assert refused.status_code == 422
    ok = it.post(
        "/policy/keywords",
        {
            "action": "add",
            "phrase": "Blue  Whale",
            "category": "self_harm",
            "severity": "4",
            "reason": "local trend, DSL request",
        },
    )
    assert ok.status_code == 303
    it.post(
        "/policy/keywords",
        {
            "action": "remove",
            "phrase": "scunthorpe",
            "category": "pornography",
            "reason": "place name",
        },
    )
    it.post(
        "/policy/excluded-apps", {"app": "Kooth", "action": "add", "reason": "counselling service"}
    )
    it.post(
        "/policy/notice",
        {
            "text": "This device is monitored by the college safeguarding team.",
            "reason": "plainer words",
        },
    )
    over = policy.overrides(store.engine)
    assert [k.phrase for k in over.added] == ["blue whale"] and over.added[0].severity == 4
    assert [k.phrase for k in over.removed] == ["scunthorpe"]
    assert "kooth" in over.excluded_apps
    assert over.notice_text.startswith("This device is monitored")
    page = it.get("/policy").text
    assert "local trend, DSL request" in page and "counselling service" in page
    keyword_id = int(re.search(r"/policy/keywords/(\d+)/withdraw", page).group(1))  # type: ignore[union-attr]
    assert (
        it.post(
            f"/policy/keywords/{keyword_id}/withdraw", {"reason": "no longer needed"}
        ).status_code
        == 303
    )
    with store.engine.connect() as conn:
        kinds = [
            r[0] for r in conn.execute(select(policy_changes.c.kind).order_by(policy_changes.c.id))
        ]
        audited = [
            r[0]
            for r in conn.execute(
                select(audit_log.c.action).where(audit_log.c.action.like("policy.%"))
            )
        ]
    assert kinds == [
        "keyword_add",
        "keyword_remove",
        "excluded_app_add",
        "notice_text",
        "keyword_withdraw",
    ]
    assert len(audited) == 5


def test_users_add_role_change_and_totp_reset(as_role: Any, store: SqlStore) -> None:
    it = as_role("it_admin")
    short = it.post("/users", {"email": "new@college.example", "role": "dsl", "password": "short"})
    assert "at least 12" in short.text
    assert (
        it.post(
            "/users",
            {"email": "New@College.example", "role": "dsl", "password": "a long enough password"},
        ).status_code
        == 303
    )
    user = store.user_by_email("new@college.example")
    assert user.role == "dsl"
    assert it.post(f"/users/{user.id}", {"action": "role", "role": "trustee"}).status_code == 303
    assert store.user_by_email("new@college.example").role == "trustee"
    assert it.post(f"/users/{user.id}", {"action": "role", "role": "root"}).status_code == 422
    page = it.get("/users").text
    assert "new@college.example" in page


def test_audit_log_page_verifies_the_chain_and_hides_students_from_it(
    as_role: Any, store: SqlStore
) -> None:
    d = add_device(store, "LAB-01")
    add_alert(store, d, os_user="COLLEGE\\hiddenkid")
    dsl = as_role("dsl")
    dsl.get("/student?login=COLLEGE%5Chiddenkid")
    page = dsl.get("/audit").text
    assert "Hash chain intact" in page and "hiddenkid" in page
    it_page = as_role("it_admin").get("/audit").text
    assert "Hash chain intact" in it_page and "student.view" in it_page
    assert "hiddenkid" not in it_page


def test_editor_settings_reach_the_base_policy(as_role: Any, store: SqlStore) -> None:
    from lantern.v1 import lantern_pb2 as pb

    base = pb.Policy(version=1, notice_text="default notice", excluded_apps=["keepassxc"])
    assert policy.apply_to_base(base, store.engine) is base  # nothing edited: unchanged
    it = as_role("it_admin")
    it.post("/policy/excluded-apps", {"app": "kooth", "action": "add", "reason": "counselling"})
    it.post(
        "/policy/notice",
        {"text": "Monitored by the safeguarding team at this college.", "reason": "clearer"},
    )
    out = policy.apply_to_base(base, store.engine)
    assert out.notice_text.startswith("Monitored by the safeguarding team")
    assert "kooth" in out.excluded_apps and "keepassxc" in out.excluded_apps
    assert base.notice_text == "default notice"
