"""People imports against the store (SQLite and PostgreSQL): idempotent, reported, never deleting."""

from datetime import timedelta

from collector.directory.importers import import_people
from collector.directory.store import DirectoryStore
from collector.store import SqlStore
from tests.collector.directory.conftest import EXAMPLES, NOW, enrol

MAPPING = EXAMPLES / "mapping-mis.yaml"
HEADER = "Student ID,Forename,Surname,DOB,Tutor Group,Username\n"


def rows(*lines: str) -> bytes:
    return (HEADER + "".join(line + "\n" for line in lines)).encode()


def test_import_reports_added_then_is_idempotent(directory: DirectoryStore) -> None:
    data = (EXAMPLES / "mis.csv").read_bytes()
    first = import_people(directory, data, "mis", MAPPING, filename="mis.csv", now=NOW)
    assert first.summary() == {
        "rows": 5,
        "added": 4,
        "changed": 0,
        "unchanged": 0,
        "left": 0,
        "returned": 0,
        "unusable": 0,
        "inactive": 1,  # Chidinma is Withdrawn
    }
    assert first.inactive == ["S204821"]
    again = import_people(directory, data, "mis", MAPPING, now=NOW + timedelta(days=1))
    assert again.summary()["added"] == again.summary()["changed"] == again.summary()["left"] == 0
    assert again.unchanged == 4
    millie = directory.person_by_external_id("S204817")
    assert millie.display_name == "Millie Hartwell"
    assert millie.role == "student" and millie.sources == ("mis",)
    assert millie.groups == ("study_programme_16_18",)
    assert directory.count_people() == 4


def test_changes_leavers_and_returners(directory: DirectoryStore) -> None:
    import_people(
        directory,
        rows(
            "1,Ana,Lima,01/02/2009,T1,ana1",
            "2,Ben,Ode,01/02/2009,T1,ben2",
            "3,Cy,Fox,01/02/2009,T2,cy3",
        ),
        "mis",
        now=NOW,
    )
    report = import_people(
        directory,
        rows("1,Ana,Lima,01/02/2009,T9,ana1", "3,Cy,Fox,01/02/2009,T2,cy3"),
        "mis",
        now=NOW,
    )
    assert (report.changed, report.left, report.unchanged) == (["1"], ["2"], 1)
    assert directory.person_by_external_id("1").tutor_group == "T9"
    ben = directory.person_by_external_id("2")
    assert (
        ben.status == "left" and ben.left_at == NOW and ben.logins == ("ben2",)
    )  # kept, not deleted
    assert [p.external_id for p in directory.find_people(status="active")] == ["3", "1"]
    back = import_people(
        directory,
        rows(
            "1,Ana,Lima,01/02/2009,T9,ana1",
            "2,Ben,Ode,01/02/2009,T1,ben2",
            "3,Cy,Fox,01/02/2009,T2,cy3",
        ),
        "mis",
        now=NOW,
    )
    assert back.returned == ["2"] and back.changed == [] and back.added == []
    assert directory.person_by_external_id("2").status == "active"
    actions = [a.action for a in directory.audit_log(directory.person_by_external_id("2").id)]
    assert actions == ["person.returned", "person.left", "person.added"]


def test_an_unusable_row_does_not_make_its_person_leave(directory: DirectoryStore) -> None:
    import_people(
        directory, rows("1,Ana,Lima,01/02/2009,T1,a", "2,Ben,Ode,01/02/2009,T1,b"), "mis", now=NOW
    )
    report = import_people(
        directory, rows("1,Ana,Lima,01/02/2009,T1,a", "2,Ben,Ode,31/02/2009,T1,b"), "mis", now=NOW
    )
    assert (
        report.left == [] and report.unusable[0].line == 3 and report.unusable[0].external_id == "2"
    )
    assert directory.person_by_external_id("2").status == "active"


def test_a_truncated_export_is_refused_and_dry_runs_write_nothing(
    directory: DirectoryStore,
) -> None:
    everyone = [f"{i},N{i},S{i},01/02/2009,T1,u{i}" for i in range(40)]
    import_people(directory, rows(*everyone), "mis", now=NOW)
    refused = import_people(directory, rows(*everyone[:5]), "mis", now=NOW)
    assert "would mark 35 of 40" in refused.refused and refused.import_id is None
    assert directory.count_people() == 40
    dry = import_people(
        directory,
        rows(*everyone[:30], "99,New,Person,01/02/2009,T1,new"),
        "mis",
        now=NOW,
        dry_run=True,
    )
    assert (len(dry.added), len(dry.left), dry.dry_run) == (1, 10, True)
    assert directory.count_people() == 40
    forced = import_people(directory, rows(*everyone[:5]), "mis", now=NOW, allow_mass_leave=True)
    assert len(forced.left) == 35 and directory.count_people() == 5


def test_entra_links_to_mis_people_and_leaving_needs_every_source(
    directory: DirectoryStore,
) -> None:
    import_people(directory, (EXAMPLES / "mis.csv").read_bytes(), "mis", MAPPING, now=NOW)
    report = import_people(directory, (EXAMPLES / "entra.csv").read_bytes(), "entra", now=NOW)
    assert sorted(report.added) == ["E10442", "e2f4a6c8-5d7b-4a9c-8e1f-4b6d8f0a3e04"]
    assert report.changed == [] and report.unchanged == 2  # same names and logins as the MIS
    millie = directory.person_by_external_id("S204817")
    assert millie.sources == ("entra", "mis")
    assert millie.preferred_name == "Millie"  # Entra does not say, so MIS's value stays
    assert directory.person_by_external_id("E10442").role == "staff"  # Entra's default_role
    assert directory.person_by_external_id("e2f4a6c8-5d7b-4a9c-8e1f-4b6d8f0a3e04").role == "guest"
    # Millie leaves Entra but is still in the MIS: she is not a leaver.
    entra_without = b"\n".join(
        line
        for line in (EXAMPLES / "entra.csv").read_bytes().splitlines()
        if b"S204817" not in line
    )
    again = import_people(directory, entra_without, "entra", now=NOW)
    assert again.left == [] and directory.person_by_external_id("S204817").status == "active"


def test_an_export_without_ids_links_by_login(directory: DirectoryStore) -> None:
    import_people(directory, rows("1001,Ana,Lima,01/02/2009,T1,alima"), "mis", now=NOW)
    entra = b"id,userPrincipalName,displayName\nguid-1,ALima@college.ac.uk,Ana Lima\n"
    first = import_people(directory, entra, "entra", now=NOW)
    assert first.added == [] and first.changed == ["1001"]
    assert import_people(directory, entra, "entra", now=NOW).unchanged == 1
    assert directory.person_by_external_id("1001").logins == ("alima", "alima@college.ac.uk")


def test_find_people_searches_names_ids_and_logins(directory: DirectoryStore) -> None:
    import_people(directory, (EXAMPLES / "mis.csv").read_bytes(), "mis", MAPPING, now=NOW)
    assert [p.external_id for p in directory.find_people("hartw")] == ["S204817"]
    assert [p.external_id for p in directory.find_people("S204818")] == ["S204818"]
    assert [p.external_id for p in directory.find_people("millie")] == ["S204817"]
    assert [p.external_id for p in directory.find_people(group="Adult Learners")] == ["S204820"]
    assert len(directory.find_people(site="Riverside")) == 2


def test_a_recycled_username_makes_a_new_person_not_a_returner(
    store: SqlStore, directory: DirectoryStore
) -> None:
    import_people(
        directory,
        rows("1,Jo,Smith,01/02/2009,T1,jsmith", "2,Al,Bee,01/02/2009,T1,abee"),
        "mis",
        now=NOW,
    )
    import_people(directory, rows("2,Al,Bee,01/02/2009,T1,abee"), "mis", now=NOW)  # Jo leaves
    report = import_people(
        directory,
        rows("2,Al,Bee,01/02/2009,T1,abee", "3,Jay,Smith,01/02/2010,T2,jsmith"),
        "mis",
        now=NOW,
    )
    assert (report.added, report.returned) == (["3"], [])
    assert directory.person_by_external_id("1").status == "left"
    # The login now means the current student; the leaver keeps their record.
    assert directory.resolve("jsmith", enrol(store), NOW).external_id == "3"
