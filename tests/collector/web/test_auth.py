"""Sign-in: passwords, TOTP, sessions and their cookies, CSRF, throttling and lockout."""

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from collector.store import SqlStore
from collector.web.models import login_attempts, web_sessions
from tests.collector.web.conftest import (
    CSRF,
    PASSWORD,
    add_user,
    password_step,
    sign_in,
    totp_code,
)


def test_trustee_signs_in_with_password_only(app: Any, store: SqlStore) -> None:
    email = add_user(store, "trustee")
    client = TestClient(app)
    response = password_step(client, email)
    assert response.status_code == 303
    assert response.headers["location"] == "/coverage"
    assert client.get("/coverage").status_code == 200


def test_session_cookie_is_httponly_and_samesite_lax_and_not_secure_over_http(
    app: Any, store: SqlStore
) -> None:
    email = add_user(store, "trustee")
    response = password_step(TestClient(app), email)
    cookie = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith("lantern_session=")
    )
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie or "SameSite=Lax" in cookie
    assert "Secure" not in cookie


def test_session_cookie_is_secure_over_tls(app: Any, store: SqlStore) -> None:
    email = add_user(store, "trustee")
    response = password_step(TestClient(app, base_url="https://testserver"), email)
    cookie = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith("lantern_session=")
    )
    assert "Secure" in cookie
    assert response.headers["strict-transport-security"].startswith("max-age=")


def test_only_a_hash_of_the_session_token_is_stored(app: Any, store: SqlStore) -> None:
    client = TestClient(app)
    password_step(client, add_user(store, "trustee"))
    token = client.cookies["lantern_session"]
    with store.engine.connect() as conn:
        ids = [r[0] for r in conn.execute(select(web_sessions.c.id))]
    assert token not in ids and len(ids) == 1


def test_wrong_password_and_unknown_email_get_the_same_answer(app: Any, store: SqlStore) -> None:
    email = add_user(store, "trustee")
    wrong = password_step(TestClient(app), email, "not the password at all")
    unknown = password_step(TestClient(app), "nobody@college.example", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert "do not match" in wrong.text and "do not match" in unknown.text


def test_dsl_needs_totp_before_any_page(app: Any, store: SqlStore) -> None:
    email = add_user(store, "dsl")
    client = TestClient(app)
    response = password_step(client, email)
    assert response.headers["location"].startswith("/login/totp")
    # Half signed in: the queue and the API refuse.
    assert client.get("/alerts", follow_redirects=False).status_code in (303, 401)
    assert client.get("/api/v1/alerts").status_code == 401
    setup = client.get("/login/totp")
    assert "totp-secret" in setup.text and "<svg" in setup.text  # key and QR code shown once
    pending = CSRF.search(setup.text)
    assert pending
    bad = client.post(
        "/login/totp",
        data={"code": "000000", "csrf_token": pending.group(1)},
        follow_redirects=False,
    )
    assert bad.status_code == 401
    good = client.post(
        "/login/totp",
        data={"code": totp_code(store, email), "csrf_token": pending.group(1)},
        follow_redirects=False,
    )
    assert good.status_code == 303 and good.headers["location"] == "/alerts"
    assert client.get("/alerts").status_code == 200


def test_totp_session_is_replaced_after_second_factor(app: Any, store: SqlStore) -> None:
    email = add_user(store, "it_admin")
    client = TestClient(app)
    password_step(client, email)
    before = client.cookies["lantern_session"]
    page = client.get("/login/totp")
    pending = CSRF.search(page.text)
    assert pending
    client.post(
        "/login/totp", data={"code": totp_code(store, email), "csrf_token": pending.group(1)}
    )
    assert client.cookies["lantern_session"] != before
    stale = TestClient(app, cookies={"lantern_session": before})
    assert stale.get("/devices", follow_redirects=False).status_code in (303, 401)


def test_a_totp_code_cannot_be_replayed(app: Any, store: SqlStore) -> None:
    browser = sign_in(app, store, "dsl")
    code = totp_code(store, browser.email)
    browser.client.post("/logout", data={"csrf_token": browser.csrf})
    client = TestClient(app)
    password_step(client, browser.email)
    page = client.get("/login/totp")
    assert "totp-secret" not in page.text  # already set up: no secret shown again
    pending = CSRF.search(page.text)
    assert pending
    replay = client.post(
        "/login/totp", data={"code": code, "csrf_token": pending.group(1)}, follow_redirects=False
    )
    assert replay.status_code == 401
    later = totp_code(store, browser.email, datetime.now(UTC) + timedelta(seconds=30))
    ok = client.post(
        "/login/totp", data={"code": later, "csrf_token": pending.group(1)}, follow_redirects=False
    )
    assert ok.status_code == 303


def test_lockout_after_five_failures_even_with_the_right_password(
    app: Any, store: SqlStore
) -> None:
    email = add_user(store, "trustee")
    for _ in range(5):
        assert password_step(TestClient(app), email, "wrong password!!").status_code == 401
    locked = password_step(TestClient(app), email)
    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) > 0
    with store.engine.connect() as conn:
        attempts = conn.execute(
            select(login_attempts.c.ok).where(login_attempts.c.email == email)
        ).all()
    assert len(attempts) == 5  # the refused attempt was not even tried


def test_one_address_spraying_many_accounts_is_throttled(app: Any, store: SqlStore) -> None:
    client = TestClient(app)
    for i in range(20):
        password_step(client, f"guess{i}@college.example", "wrong password!!")
    response = password_step(client, add_user(store, "trustee"))
    assert response.status_code == 429


def test_login_form_needs_its_csrf_cookie(app: Any, store: SqlStore) -> None:
    email = add_user(store, "trustee")
    response = TestClient(app).post(
        "/login", data={"email": email, "password": PASSWORD, "csrf_token": "forged"}
    )
    assert response.status_code == 403


def test_form_posts_need_the_session_csrf_token(app: Any, store: SqlStore) -> None:
    browser = sign_in(app, store, "it_admin")
    missing = browser.client.post("/tokens", data={"uses": "1"}, follow_redirects=False)
    wrong = browser.client.post(
        "/tokens", data={"uses": "1", "csrf_token": "x" * 43}, follow_redirects=False
    )
    right = browser.post("/tokens", {"uses": "1"})
    assert missing.status_code == 403 and wrong.status_code == 403
    assert right.status_code == 200 and "new-token" in right.text


def test_csrf_header_works_for_scripts_using_the_session(app: Any, store: SqlStore) -> None:
    browser = sign_in(app, store, "it_admin")
    response = browser.client.post(
        "/tokens/999/revoke", headers={"X-CSRF-Token": browser.csrf}, follow_redirects=False
    )
    assert response.status_code == 404  # past the CSRF check; no such token


def test_sign_out_ends_the_session(app: Any, store: SqlStore) -> None:
    browser = sign_in(app, store, "trustee")
    cookie = browser.client.cookies["lantern_session"]
    assert browser.post("/logout").status_code == 303
    again = TestClient(app, cookies={"lantern_session": cookie})
    assert again.get("/coverage", follow_redirects=False).status_code in (303, 401)


def test_next_is_only_followed_to_local_paths(app: Any, store: SqlStore) -> None:
    email = add_user(store, "trustee")
    client = TestClient(app)
    form = client.get("/login")
    token = CSRF.search(form.text)
    assert token
    response = client.post(
        "/login",
        data={
            "email": email,
            "password": PASSWORD,
            "csrf_token": token.group(1),
            "next": "//evil.example/",
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == "/coverage"


def test_anonymous_page_request_is_sent_to_sign_in(app: Any) -> None:
    response = TestClient(app).get(
        "/alerts?status=closed", headers={"Accept": "text/html"}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=/alerts")


def test_disabled_user_loses_session(app: Any, store: SqlStore) -> None:
    admin = sign_in(app, store, "it_admin")
    trustee = sign_in(app, store, "trustee")
    target = store.user_by_email(trustee.email)
    assert admin.post(f"/users/{target.id}", {"action": "disable"}).status_code == 303
    assert trustee.get("/coverage").status_code in (303, 401)
    assert password_step(TestClient(app), trustee.email).status_code == 401


def test_admin_cannot_remove_their_own_access(app: Any, store: SqlStore) -> None:
    admin = sign_in(app, store, "it_admin")
    me = store.user_by_email(admin.email)
    response = admin.post(f"/users/{me.id}", {"action": "role", "role": "trustee"})
    assert response.status_code == 200 and "cannot remove your own access" in response.text
    assert store.user_by_email(admin.email).role == "it_admin"


def test_sign_ins_are_in_the_audit_log(app: Any, store: SqlStore) -> None:
    from collector.alerts.models import audit_log

    browser = sign_in(app, store, "dsl")
    password_step(TestClient(app), browser.email, "wrong password!!")
    with store.engine.connect() as conn:
        actions = [
            r[0]
            for r in conn.execute(
                select(audit_log.c.action).where(audit_log.c.actor == browser.email)
            )
        ]
    assert actions == ["signin.ok", "signin.failed"]


def test_expired_sessions_and_old_attempts_are_purged_by_retention(
    app: Any, store: SqlStore
) -> None:
    from collector.retention import RETENTION_DAYS, purge

    email = add_user(store, "trustee")
    password_step(TestClient(app), email, "wrong password!!")
    password_step(TestClient(app), email)
    kept = purge(store.engine, datetime.now(UTC) + timedelta(days=1))
    assert kept.deleted["web_sessions"] == 0, "a live session and fresh attempts are kept"
    later = datetime.now(UTC) + timedelta(days=RETENTION_DAYS["web_sessions"] + 1)
    # The session (expired long before) and both sign-in attempts.
    assert purge(store.engine, later).deleted["web_sessions"] == 3


def test_a_post_from_another_site_is_refused_even_with_the_token(app: Any, store: SqlStore) -> None:
    browser = sign_in(app, store, "it_admin")
    evil = browser.client.post(
        "/tokens",
        data={"csrf_token": browser.csrf, "uses": "1"},
        headers={"Origin": "https://evil.example"},
        follow_redirects=False,
    )
    same = browser.client.post(
        "/tokens",
        data={"csrf_token": browser.csrf, "uses": "1"},
        headers={"Origin": "http://testserver"},
        follow_redirects=False,
    )
    assert evil.status_code == 403 and same.status_code == 200


def test_change_password_signs_out_other_browsers(app: Any, store: SqlStore) -> None:
    browser = sign_in(app, store, "trustee")
    other = TestClient(app)
    password_step(other, browser.email)
    wrong = browser.post(
        "/account/password",
        {"current": "nope", "new": "a brand new password", "repeat": "a brand new password"},
    )
    assert wrong.status_code == 422 and "not right" in wrong.text
    ok = browser.post(
        "/account/password",
        {"current": PASSWORD, "new": "a brand new password", "repeat": "a brand new password"},
    )
    assert ok.status_code == 200 and "Password changed." in ok.text
    assert browser.get("/coverage").status_code == 200  # this browser stays signed in
    assert other.get("/coverage", follow_redirects=False).status_code in (303, 401)
    assert password_step(TestClient(app), browser.email).status_code == 401
    assert password_step(TestClient(app), browser.email, "a brand new password").status_code == 303
