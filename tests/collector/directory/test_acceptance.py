"""Issue 4 acceptance: a 2,000-row MIS export and an Entra export of the same people link every
login form to the right person, and age bands split a 16-year-old from a 19-year-old."""

import csv
import io
import random
from datetime import date, timedelta

from collector.directory.importers import import_people
from collector.directory.store import DirectoryStore
from collector.store import SqlStore
from tests.collector.directory.conftest import NOW, enrol

N = 2000


def college(seed: int = 4) -> tuple[bytes, bytes, list[dict[str, str]]]:
    rng = random.Random(seed)
    given = [
        "Amelia",
        "Oliver",
        "Isla",
        "Noah",
        "Ava",
        "Leo",
        "Freya",
        "Arthur",
        "Zainab",
        "Kacper",
    ]
    family = [
        "Smith",
        "Jones",
        "Taylor",
        "Brown",
        "Khan",
        "Evans",
        "Nowak",
        "O'Brien",
        "Patel",
        "Hughes",
    ]
    people = []
    for i in range(N):
        sid = f"S{300000 + i}"
        dob = date(2004, 1, 1) + timedelta(days=rng.randrange(365 * 7))
        people.append(
            {
                "id": sid,
                "given": rng.choice(given),
                "family": rng.choice(family),
                "dob": dob.strftime("%d/%m/%Y"),
                "course": f"Course {i % 40}",
                "tutor": f"TG-{i % 90:02d}",
                "user": sid.lower(),
            }
        )
    mis, entra = io.StringIO(), io.StringIO()
    m = csv.writer(mis)
    m.writerow(
        [
            "Student ID",
            "Forename",
            "Surname",
            "Date of Birth",
            "Course",
            "Tutor Group",
            "Network Username",
        ]
    )
    e = csv.writer(entra)
    e.writerow(
        ["id", "userPrincipalName", "displayName", "givenName", "surname", "employeeId", "jobTitle"]
    )
    for i, p in enumerate(people):
        m.writerow([p["id"], p["given"], p["family"], p["dob"], p["course"], p["tutor"], p["user"]])
        e.writerow(
            [
                f"guid-{i}",
                f"{p['user']}@college.example.ac.uk",
                f"{p['given']} {p['family']}",
                p["given"],
                p["family"],
                p["id"],
                "Student",
            ]
        )
    return mis.getvalue().encode(), entra.getvalue().encode(), people


def test_mis_and_entra_exports_of_2000_people_link_every_login_form(
    store: SqlStore, directory: DirectoryStore
) -> None:
    mis, entra, people = college()
    assert len(import_people(directory, mis, "mis", now=NOW).added) == N
    linked = import_people(directory, entra, "entra", now=NOW)
    assert (linked.added, linked.unusable) == ([], [])
    device = enrol(store)
    # The Windows domain form for everyone; every form for every tenth person.
    forms = ("{u}", "{U}", "{u}@college.example.ac.uk", "{U}@COLLEGE.EXAMPLE.AC.UK", ".\\{u}")
    cases = [("COLLEGE\\{u}", p) for p in people] + [(f, p) for p in people[::10] for f in forms]
    subjects = directory.resolve_many(
        (form.format(u=p["user"], U=p["user"].upper()), device, NOW) for form, p in cases
    )
    for (_form, p), s in zip(cases, subjects, strict=True):
        assert (s.kind, s.external_id, s.tutor_group) == ("person", p["id"], p["tutor"]), s.os_user
    assert import_people(directory, mis, "mis", now=NOW).unchanged == N


def test_age_bands_split_sixteen_from_nineteen(store: SqlStore, directory: DirectoryStore) -> None:
    csv_text = (
        "Student ID,Forename,Surname,Date of Birth,Network Username\n"
        "S1,Sixteen,Year,01/09/2010,s1\n"
        "S2,Nineteen,Year,01/09/2007,s2\n"
    )
    import_people(directory, csv_text.encode(), "mis", now=NOW)
    device = enrol(store)
    assert directory.resolve("COLLEGE\\s1", device, NOW).age_band == "16_17"
    assert directory.resolve("s2", device, NOW).age_band == "18_plus"


def test_a_trigger_keyed_on_age_band_resolves_inside_the_ingest_transaction(
    store: SqlStore, directory: DirectoryStore
) -> None:
    """The shape the trigger engine uses: resolve() during ingest (SQLite holds its write lock
    then), an alert only for the under-18, and the alert's subject named for the DSL."""
    from collector.directory.routes import SubjectOut
    from collector.store.interface import AlertCandidate, EventRow
    from lantern.ids import uuid7_str

    csv_text = (
        "Student ID,Forename,Surname,Date of Birth,Course,Tutor Group,Network Username\n"
        "S1,Sixteen,Year,01/09/2010,Level 3 Science,SCI-1A,s1\n"
        "S2,Nineteen,Year,01/09/2007,Access to HE,ACC-1,s2\n"
    )
    import_people(directory, csv_text.encode(), "mis", now=NOW)
    device = enrol(store)

    def minors_only(rows):  # type: ignore[no-untyped-def]
        out = []
        for r in rows:
            subject = directory.resolve(r.os_user, r.device_id, r.observed_at)
            if subject.age_band in ("under_16", "16_17", "unknown"):
                out.append(
                    AlertCandidate(
                        dedup_key=f"{r.device_id}|{r.os_user}|rule",
                        severity=4,
                        category="self_harm",
                        rule="self_harm.test",
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
                )
        return out

    rows = [
        EventRow(uuid7_str(), device, seq, "risk_match", NOW, NOW, user, "Word", "Essay")
        for seq, user in enumerate(["COLLEGE\\s1", "COLLEGE\\s2"], start=1)
    ]
    result = store.ingest(device, rows, minors_only)
    assert result.alerts_raised == 1
    (alert,) = store.list_alerts()
    (subject,) = directory.resolve_many([(alert.os_user, alert.device_id, alert.created_at)])
    shown = SubjectOut.of(subject)
    assert (shown.display_name, shown.course, shown.tutor_group, shown.age_band) == (
        "Sixteen Year",
        "Level 3 Science",
        "SCI-1A",
        "16_17",
    )
