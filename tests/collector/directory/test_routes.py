"""The directory's REST routes: role checks first, then behaviour through HTTP."""

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from collector.clock import utcnow
from collector.directory.routes import router
from collector.security.credentials import token_hash
from collector.store import SqlStore, open_store
from tests.collector.directory.conftest import EXAMPLES, enrol


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SqlStore]:
    s = open_store(f"sqlite:///{tmp_path / 'lantern.db'}")
    yield s
    s.close()


@pytest.fixture
def client(sqlite_store: SqlStore) -> TestClient:
    app = FastAPI()
    app.state.store = sqlite_store
    app.include_router(router)
    return TestClient(app)


def token(store: SqlStore, role: str) -> dict[str, str]:
    user = store.add_user(f"{role}@college.example", role, "h")
    store.add_api_token(user.id, token_hash(f"tok-{role}"), utcnow() + timedelta(hours=1))
    return {"Authorization": f"Bearer tok-{role}"}


@pytest.fixture
def roles(sqlite_store: SqlStore) -> dict[str, dict[str, str]]:
    return {r: token(sqlite_store, r) for r in ("dsl", "it_admin", "trustee")}


def upload(client: TestClient, headers: dict[str, str], name: str, fmt: str, **params: str):  # type: ignore[no-untyped-def]
    files = {"file": (name, (EXAMPLES / name).read_bytes(), "text/csv")}
    if fmt == "mis":
        files["mapping"] = (
            "m.yaml",
            (EXAMPLES / "mapping-mis.yaml").read_bytes(),
            "application/yaml",
        )
    return client.post(
        "/api/v1/people/import", params={"format": fmt, **params}, files=files, headers=headers
    )


def test_roles_are_enforced(client: TestClient, roles: dict[str, dict[str, str]]) -> None:
    dsl_only = [
        "/api/v1/people",
        "/api/v1/people/known-cases",
        "/api/v1/people/1",
        "/api/v1/people/1/flags",
    ]
    for path in dsl_only:
        assert client.get(path, headers=roles["it_admin"]).status_code == 403, path
        assert client.get(path, headers=roles["trustee"]).status_code == 403, path
    assert client.get("/api/v1/people").status_code in (401, 403)
    for path in [
        "/api/v1/groups",
        "/api/v1/people/unresolved-logins",
        "/api/v1/people/special-logins",
    ]:
        assert client.get(path, headers=roles["trustee"]).status_code == 403, path
        assert client.get(path, headers=roles["it_admin"]).status_code == 200, path
    assert upload(client, roles["dsl"], "mis.csv", "mis").status_code == 403
    assert (
        client.put("/api/v1/groups/staff/policy", json={}, headers=roles["dsl"]).status_code == 403
    )
    assert (
        client.post(
            "/api/v1/people/1/flags", json={"reason": "x"}, headers=roles["it_admin"]
        ).status_code
        == 403
    )


def test_import_search_flag_and_clear(client: TestClient, roles: dict[str, dict[str, str]]) -> None:
    dry = upload(client, roles["it_admin"], "mis.csv", "mis", dry_run="true")
    assert dry.status_code == 200 and dry.json()["summary"]["added"] == 4 and dry.json()["dry_run"]
    assert client.get("/api/v1/people", headers=roles["dsl"]).json() == []
    report = upload(client, roles["it_admin"], "mis.csv", "mis").json()
    assert report["summary"]["added"] == 4 and "Hartwell" not in str(report)  # ids, not names
    found = client.get("/api/v1/people", params={"q": "hartwell"}, headers=roles["dsl"]).json()
    assert [(p["external_id"], p["display_name"], p["tutor_group"]) for p in found] == [
        ("S204817", "Millie Hartwell", "SCI-1A")
    ]
    pid = found[0]["id"]
    flag = client.post(
        f"/api/v1/people/{pid}/flags", json={"reason": "SG-114"}, headers=roles["dsl"]
    )
    assert flag.status_code == 201 and flag.json()["set_by"] == "dsl@college.example"
    again = client.post(
        f"/api/v1/people/{pid}/flags", json={"reason": "SG-114"}, headers=roles["dsl"]
    )
    assert again.status_code == 409
    cases = client.get("/api/v1/people/known-cases", headers=roles["dsl"]).json()
    assert [c["person"]["external_id"] for c in cases] == ["S204817"]
    cleared = client.post(
        f"/api/v1/people/flags/{flag.json()['id']}/clear",
        json={"reason": "closed"},
        headers=roles["dsl"],
    )
    assert cleared.json()["open"] is False
    assert client.get("/api/v1/people/999", headers=roles["dsl"]).status_code == 404
    audit = client.get(f"/api/v1/people/{pid}/audit", headers=roles["dsl"]).json()
    assert [a["action"] for a in audit] == ["flag.cleared", "flag.set", "person.added"]
    assert client.get(f"/api/v1/people/{pid}/audit", headers=roles["it_admin"]).status_code == 403


def test_bad_files_and_truncated_exports_are_explained(
    client: TestClient, roles: dict[str, dict[str, str]]
) -> None:
    bad = client.post(
        "/api/v1/people/import",
        params={"format": "mis"},
        files={"file": ("x.csv", b"Name,Email\nA,B\n", "text/csv")},
        headers=roles["it_admin"],
    )
    assert bad.status_code == 422 and "no header row" in bad.json()["detail"]
    wrong = client.post(
        "/api/v1/people/import",
        params={"format": "sims"},
        files={"file": ("x.csv", b"a\n", "text/csv")},
        headers=roles["it_admin"],
    )
    assert wrong.status_code == 422


def test_policies_and_device_policy(
    client: TestClient, sqlite_store: SqlStore, roles: dict[str, dict[str, str]]
) -> None:
    upload(client, roles["it_admin"], "mis.csv", "mis")
    device = enrol(sqlite_store, group="Student laptops")
    put = client.put(
        "/api/v1/groups/Adult Learners/policy",
        json={"notice_text": "Adult learners notice", "min_severity": {"*": 4}},
        headers=roles["it_admin"],
    )
    assert put.status_code == 200 and put.json()["version"] == 1
    assert (
        client.put(
            "/api/v1/groups/x/policy", json={"categories": ["knitting"]}, headers=roles["it_admin"]
        ).status_code
        == 422
    )
    got = client.get("/api/v1/groups/adult_learners/policy", headers=roles["dsl"]).json()
    assert got["settings"]["notice_text"] == "Adult learners notice"
    eff = client.get(
        f"/api/v1/groups/devices/{device}/policy",
        params={"os_user": "s204820"},
        headers=roles["it_admin"],
    ).json()
    assert eff["notice_text"] == "Adult learners notice" and eff["min_severity"] == {"*": 4}
    assert eff["applied"] == [{"group": "adult_learners", "version": 1, "source": "person"}]
    groups = {g["name"]: g for g in client.get("/api/v1/groups", headers=roles["it_admin"]).json()}
    assert groups["adult_learners"]["people"] == 1 and groups["student_laptops"]["devices"] == 1
    assert (
        client.delete("/api/v1/groups/adult_learners/policy", headers=roles["it_admin"]).status_code
        == 204
    )
    assert (
        client.get("/api/v1/groups/adult_learners/policy", headers=roles["dsl"]).status_code == 404
    )


def test_login_mapping_special_logins_and_inventory(
    client: TestClient, sqlite_store: SqlStore, roles: dict[str, dict[str, str]]
) -> None:
    upload(client, roles["it_admin"], "mis.csv", "mis")
    it = roles["it_admin"]
    assert (
        client.post(
            "/api/v1/people/logins",
            json={"external_id": "S204817", "login": "millie.h"},
            headers=it,
        ).status_code
        == 204
    )
    assert (
        client.post(
            "/api/v1/people/logins", json={"external_id": "nope", "login": "x"}, headers=it
        ).status_code
        == 404
    )
    assert (
        client.put(
            "/api/v1/people/special-logins",
            json={"login": "exam*", "kind": "shared", "label": "Exams"},
            headers=it,
        ).status_code
        == 200
    )
    assert client.get("/api/v1/people/special-logins", headers=it).json() == [
        {"login": "exam*", "kind": "shared", "label": "Exams"}
    ]
    inv = client.post(
        "/api/v1/groups/inventory",
        files={"file": ("d.csv", (EXAMPLES / "devices.csv").read_bytes(), "text/csv")},
        headers=it,
    )
    assert inv.status_code == 200 and inv.json()["summary"]["added"] == 4
    assert (
        client.post(
            "/api/v1/groups/library_kiosks/members", json={"external_id": "S204817"}, headers=it
        ).status_code
        == 204
    )
    person = client.get("/api/v1/people", params={"q": "millie.h"}, headers=roles["dsl"]).json()[0]
    assert "library_kiosks" in person["groups"] and "millie.h" in person["logins"]
