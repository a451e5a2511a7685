"""The directory console page: IT imports an export and sees counts and unmatched logins, never
a student's details."""

from datetime import UTC, datetime, timedelta
from typing import Any

from collector.store import SqlStore
from tests.collector.web.conftest import add_device, add_event

EXPORT = (
    "external_id,role,given_name,family_name,date_of_birth,email,username\n"
    "S1,student,Zebedee,Quillfeather,2009-05-01,s1@college.example,s1\n"
    "S2,student,Yolanda,Marchbanks,2008-11-20,s2@college.example,s2\n"
    ",student,No,Identifier,2009-01-01,,\n"
)


def upload(browser: Any, *, dry_run: bool = False) -> Any:
    data = {"format": "plain", **({"dry_run": "true"} if dry_run else {})}
    return browser.post(
        "/directory/import", data, files={"file": ("people.csv", EXPORT, "text/csv")}
    )


def test_it_imports_an_export_and_sees_counts_and_no_names(as_role: Any, store: SqlStore) -> None:
    it = as_role("it_admin")
    dry = upload(it, dry_run=True)
    assert dry.status_code == 200 and "nothing was changed" in dry.text
    assert 'data-count="added">2<' in dry.text and 'data-count="unusable">1<' in dry.text
    assert "No imports yet" in it.get("/directory").text, "a dry run writes nothing"

    done = upload(it)
    assert done.status_code == 200 and "Imported people.csv" in done.text
    assert 'data-count="added">2<' in done.text
    page = it.get("/directory").text
    imports = page.split('id="imports"')[1].split("</table>")[0]
    assert "people.csv" in imports and it.email in imports
    for detail in ("Zebedee", "Quillfeather", "Marchbanks", "2009-05-01", "s1@college.example"):
        assert detail not in page and detail not in done.text, detail

    again = upload(it)
    assert 'data-count="added">0<' in again.text and 'data-count="unchanged">2<' in again.text


def test_a_login_that_matches_no_one_is_listed_for_it_to_map(as_role: Any, store: SqlStore) -> None:
    device = add_device(store, "LAB-07", last_seen=datetime.now(UTC))
    add_event(
        store, device, "window_focus", datetime.now(UTC) - timedelta(hours=1), os_user="ghost"
    )
    page = as_role("dsl").get("/directory")
    assert page.status_code == 200
    unresolved = page.text.split('id="unresolved"')[1].split("</table>")[0]
    assert "ghost" in unresolved and "LAB-07" in unresolved
    assert 'action="/directory/import"' not in page.text, "only IT imports"


def test_an_unreadable_export_is_refused_with_a_reason(as_role: Any, store: SqlStore) -> None:
    it = as_role("it_admin")
    bad = it.post(
        "/directory/import",
        {"format": "mis"},
        files={"file": ("x.csv", b"\xff\xfe\x00garbage", "text/csv")},
    )
    assert bad.status_code == 422 and "Import refused" in bad.text
    assert (
        it.post("/directory/import", {"format": "nope"}, files={"file": ("x.csv", b"")}).status_code
        == 422
    )
