"""GET /api/v1/alerts names the student (issue 4): the login resolves to a person at alert time."""

from dataclasses import replace
from pathlib import Path

from fastapi.testclient import TestClient

from collector.directory.importers import import_people
from collector.directory.store import DirectoryStore
from collector.security.credentials import API_PREFIX, hash_password, new_token, token_hash
from collector.store import open_store
from collector.web.app import create_app
from tests.collector.store.test_contract import alert_every_match, enrolled, row

ROOT = Path(__file__).resolve().parents[3]


def test_alerts_carry_the_resolved_student(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    import_people(
        DirectoryStore.for_store(store),
        (ROOT / "docs/examples/directory/mis.csv").read_bytes(),
        "mis",
    )
    device = enrolled(store)
    store.ingest(
        device,
        [
            replace(row(device, seq=1, rule="r1"), os_user="COLLEGE\\s204817"),
            replace(row(device, seq=2, rule="r2"), os_user="visitor42"),
        ],
        alert_every_match,
    )
    user = store.add_user("dsl@college.example", "dsl", hash_password("x" * 16))
    token = new_token(API_PREFIX)
    store.add_api_token(user.id, token_hash(token), None)
    client = TestClient(create_app(store))
    alerts = client.get("/api/v1/alerts", headers={"Authorization": f"Bearer {token}"}).json()
    by_login = {a["os_user"]: a["subject"] for a in alerts}
    known = by_login["COLLEGE\\s204817"]
    assert known["kind"] == "person" and known["external_id"] == "S204817"
    assert known["display_name"] and known["tutor_group"] == "SCI-1A"
    assert known["age_band"] in {"under_16", "16_17", "18_plus"}
    assert by_login["visitor42"]["kind"] == "unknown"
    store.close()


def test_an_alert_keeps_naming_its_person_after_the_login_passes_to_someone_else(
    tmp_path: Path,
) -> None:
    """Usernames get reused and MIS records corrected: an old alert must not start naming the
    login's new owner. The person is recorded when the alert is raised (alerts.person_id)."""
    from collector.triggers.engine import TriggerEngine
    from lantern.detection import Engine

    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    directory = DirectoryStore.for_store(store)
    header = "external_id,role,given_name,family_name,date_of_birth,email,username\n"
    first = "S1,student,Ada,Firstowner,2009-01-01,s1@college.example,jsmith\n"
    second = "S2,student,Ben,Secondowner,2009-02-02,s2@college.example,jsmith\n"
    import_people(directory, (header + first).encode(), "plain")
    device = enrolled(store)
    triggers = TriggerEngine(Engine.load(), subjects=directory)
    risk = replace(
        row(device, seq=1, category="self_harm", severity=4, rule="r1", matched="m", snippet="s"),
        os_user="jsmith",
    )
    store.ingest(device, [risk], triggers)
    # Next year's export: S1 has left and the username now belongs to S2.
    import_people(directory, (header + second).encode(), "plain", allow_mass_leave=True)
    later = replace(
        row(device, seq=2, category="bullying", severity=4, rule="r2", matched="m", snippet="s"),
        os_user="jsmith",
    )
    store.ingest(device, [later], triggers)

    user = store.add_user("dsl@college.example", "dsl", hash_password("x" * 16))
    token = new_token(API_PREFIX)
    store.add_api_token(user.id, token_hash(token), None)
    client = TestClient(create_app(store))
    alerts = client.get("/api/v1/alerts", headers={"Authorization": f"Bearer {token}"}).json()
    named = {a["category"]: a["subject"]["external_id"] for a in alerts}
    assert named == {"self_harm": "S1", "bullying": "S2"}
    store.close()
