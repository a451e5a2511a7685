"""resolve(os_user, device_id, at): every login form to one person; guests, shared, unknown."""

from datetime import UTC, datetime, timedelta

import pytest

from collector.directory.importers import import_inventory, import_people
from collector.directory.store import DirectoryError, DirectoryStore
from collector.store import SqlStore
from collector.store.interface import EventRow
from lantern.ids import uuid7_str
from tests.collector.directory.conftest import EXAMPLES, NOW, enrol


@pytest.fixture
def college(directory: DirectoryStore) -> DirectoryStore:
    import_people(
        directory,
        (EXAMPLES / "mis.csv").read_bytes(),
        "mis",
        EXAMPLES / "mapping-mis.yaml",
        now=NOW,
    )
    import_people(directory, (EXAMPLES / "entra.csv").read_bytes(), "entra", now=NOW)
    return directory


FORMS = (
    "s204817",
    "S204817",
    "COLLEGE\\s204817",
    "college\\S204817",
    "s204817@college.example.ac.uk",
    "S204817@College.Example.AC.UK",
    "  s204817 ",
)


def test_every_login_form_resolves_to_the_person(store: SqlStore, college: DirectoryStore) -> None:
    device = enrol(store)
    for os_user in FORMS:
        s = college.resolve(os_user, device, NOW)
        assert (s.kind, s.external_id, s.display_name) == ("person", "S204817", "Millie Hartwell")
        assert (s.role, s.course, s.tutor_group, s.site) == (
            "student",
            "Level 3 Applied Science",
            "SCI-1A",
            "Northgate",
        )
        assert s.age_band == "16_17" and s.hostname == "LAPTOP-0193" and s.at == NOW


def test_staff_sam_and_upn_and_local_aliases(store: SqlStore, college: DirectoryStore) -> None:
    device = enrol(store)
    dana = college.person_by_external_id("E10442")
    assert college.resolve("COLLEGE\\dachterberg", device, NOW).person_id == dana.id
    assert college.resolve("d.achterberg@college.example.ac.uk", device, NOW).role == "staff"
    assert college.resolve("LAPTOP-0193\\dana", device, NOW).kind == "unknown"
    college.add_login(dana.id, "Dana", actor="it@college.example")
    assert college.resolve("LAPTOP-0193\\dana", device, NOW).person_id == dana.id
    assert college.audit_log(dana.id)[0].action == "login.added"


def test_age_band_is_computed_at_the_time_of_the_event(
    store: SqlStore, directory: DirectoryStore
) -> None:
    csv = b"Student ID,Forename,Surname,DOB,Username\n1,Sam,Teen,2010-06-15,sam16\n2,Ada,Adult,2007-11-24,ada19\n"
    import_people(directory, csv, "mis", now=NOW)
    device = enrol(store)
    # Sam turns 16 on 15 June 2026; 00:30 BST that day is 23:30 UTC on the 14th.
    birthday = datetime(2026, 6, 14, 23, 30, tzinfo=UTC)
    assert directory.resolve("sam16", device, birthday - timedelta(hours=1)).age_band == "under_16"
    assert directory.resolve("sam16", device, birthday).age_band == "16_17"
    assert directory.resolve("sam16", device, NOW).age_band == "16_17"
    assert (
        directory.resolve("ada19", device, datetime(2025, 11, 23, 12, tzinfo=UTC)).age_band
        == "16_17"
    )
    assert (
        directory.resolve("ada19", device, datetime(2025, 11, 24, 12, tzinfo=UTC)).age_band
        == "18_plus"
    )
    # No date of birth: unknown, never a guess.
    import_people(directory, b"external_id,given_name,username\nx,No,nodob\n", "plain", now=NOW)
    assert directory.resolve("nodob", device, NOW).age_band == "unknown"


def test_guest_shared_and_unknown_logins_carry_device_and_time(
    store: SqlStore, college: DirectoryStore
) -> None:
    device = enrol(store, "LIB-KIOSK-01", "5CG1234XYZ")
    guest = college.resolve("Guest", device, NOW)
    assert (guest.kind, guest.role, guest.hostname, guest.at) == (
        "guest",
        "guest",
        "LIB-KIOSK-01",
        NOW,
    )
    college.set_special_login("library", "shared", "Library kiosks", actor="it")
    college.set_special_login("exam*", "shared", "Exam accounts", actor="it")
    shared = college.resolve("COLLEGE\\Library", device, NOW)
    assert (shared.kind, shared.label, shared.person_id) == ("shared", "Library kiosks", None)
    assert college.resolve("exam07", device, NOW).label == "Exam accounts"
    unknown = college.resolve("zz999", device, NOW)
    assert (unknown.kind, unknown.reason, unknown.device_id, unknown.hostname) == (
        "unknown",
        "no_match",
        device,
        "LIB-KIOSK-01",
    )
    assert college.resolve("", device, NOW).reason == "empty"
    with pytest.raises(DirectoryError):
        college.set_special_login("kiosk", "robot", "", actor="it")


def test_a_login_two_active_people_share_is_ambiguous(
    store: SqlStore, directory: DirectoryStore
) -> None:
    import_people(directory, b"Student ID,Forename,Username\n1,A,dup\n2,B,b2\n", "mis", now=NOW)
    directory.add_login(directory.person_by_external_id("2").id, "DUP", actor="it")
    device = enrol(store)
    assert directory.resolve("dup", device, NOW).reason == "ambiguous"
    assert directory.resolve("b2", device, NOW).external_id == "2"


def test_an_export_row_with_a_new_id_but_a_known_login_is_that_person(
    directory: DirectoryStore,
) -> None:
    import_people(directory, b"Student ID,Forename,Username\n1,A,dup\n", "mis", now=NOW)
    report = import_people(
        directory, b"external_id,given_name,username\n2,A,dup\n", "plain", now=NOW
    )
    assert report.added == [] and report.unchanged == 1
    assert directory.person_by_external_id("1").sources == ("mis", "plain")


def test_leavers_still_resolve_and_say_so(store: SqlStore, directory: DirectoryStore) -> None:
    import_people(directory, b"Student ID,Forename,Username\n1,A,a1\n2,B,b2\n", "mis", now=NOW)
    import_people(directory, b"Student ID,Forename,Username\n1,A,a1\n", "mis", now=NOW)
    s = directory.resolve("b2", enrol(store), NOW)
    assert (s.kind, s.left) == ("person", True)


def test_site_and_groups_from_the_device(store: SqlStore, college: DirectoryStore) -> None:
    import_inventory(college, (EXAMPLES / "devices.csv").read_bytes(), now=NOW)
    by_serial = enrol(store, "renamed-host", "pf3xk2q2", group="Year 12")
    by_host = enrol(store, "STAFF-LT-017", "", group=None)
    s = college.resolve(
        "s204819", by_serial, NOW
    )  # Priya: Riverside apprentice on a Northgate laptop
    assert (s.person_site, s.device_site, s.site) == ("Riverside", "Northgate", "Riverside")
    assert s.device_groups == ("student_laptops", "year_12")
    assert s.person_groups == ("apprentices", "student")
    assert set(s.groups) == {"apprentices", "student", "student_laptops", "year_12"}
    facts = college.device_facts(by_host)
    assert (facts.site, facts.groups) == ("Riverside", ("staff_devices",))
    unknown = college.resolve("nobody", by_host, NOW)
    assert (unknown.site, unknown.groups) == ("Riverside", ("staff_devices",))


def test_inventory_reimport_is_idempotent_and_drops_missing_devices(
    directory: DirectoryStore,
) -> None:
    data = (EXAMPLES / "devices.csv").read_bytes()
    assert len(import_inventory(directory, data, now=NOW).added) == 4
    again = import_inventory(directory, data, now=NOW)
    assert (again.added, again.changed, again.left, again.unchanged) == ([], [], [], 4)
    fewer = b"\n".join(data.splitlines()[:3]).replace(b"Northgate", b"Eastgate")
    report = import_inventory(directory, fewer, now=NOW)
    assert report.changed == ["PF3XK2Q1", "PF3XK2Q2"] and report.left == [
        "5CG1234XYZ",
        "C02ZL0AAMD6M",
    ]


def test_unresolved_logins_list_unknown_guest_and_shared_with_device_and_time(
    store: SqlStore, college: DirectoryStore
) -> None:
    device = enrol(store)
    users = ["s204817", "guest", "zz999", "zz999"]
    rows = [
        EventRow(
            uuid7_str(),
            device,
            i + 1,
            "window_focus",
            NOW + timedelta(minutes=i),
            NOW + timedelta(minutes=i),
            u,
            "app",
            "t",
        )
        for i, u in enumerate(users)
    ]
    store.ingest(device, rows, lambda _rows: [])
    seen = {s.os_user: s for s in college.unresolved_logins(NOW - timedelta(days=1))}
    assert set(seen) == {"guest", "zz999"}
    z = seen["zz999"]
    assert (z.kind, z.reason, z.hostname, z.events) == ("unknown", "no_match", "LAPTOP-0193", 2)
    assert (z.first_seen, z.last_seen) == (NOW + timedelta(minutes=2), NOW + timedelta(minutes=3))
