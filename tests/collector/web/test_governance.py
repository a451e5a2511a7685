"""Trustee pages: coverage that matches the devices table, suppressed aggregates, the annual
review as a page and a PDF — and nothing that identifies a student."""

import random
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import update

from collector.store import SqlStore
from collector.store import models as m
from tests.collector.web.conftest import NOW, add_alert, add_device


def _seed_fleet(store: SqlStore, n: int = 300) -> dict[str, int]:
    """Devices in mixed states; returns the figures computed independently of the app."""
    now = datetime.now(UTC)  # not the import-time NOW: "online" is a matter of seconds
    rng = random.Random(7)
    truth = dict(enrolled=0, online=0, r24=0, r7=0, blind=0, never=0, missing=0)
    rows = ["Device name,Serial number,Primary user UPN,Device category"]
    for i in range(n):
        state = rng.choice(["online", "online", "offline", "missing", "never", "blind", "quiet"])
        serial = f"SN{i:04d}"
        seen = {
            "online": now - timedelta(seconds=20),
            "blind": now - timedelta(seconds=20),
            "quiet": now - timedelta(seconds=20),
            "offline": now - timedelta(hours=rng.randint(2, 100)),
            "missing": now - timedelta(days=rng.randint(8, 60)),
            "never": None,
        }[state]
        event = None
        if state in ("online", "blind"):
            event = now - timedelta(hours=rng.randint(0, 23))
        elif state == "offline":
            event = seen
        caps = {"windows": "ok", "keyboard": "unavailable: wayland"} if state == "blind" else None
        revoked = i % 97 == 0
        add_device(
            store,
            f"PC-{i:04d}",
            serial=serial,
            last_seen=seen,
            last_event=event,
            capabilities=caps,
            revoked=revoked,
        )
        if not revoked:
            truth["enrolled"] += 1
            truth["online"] += state in ("online", "blind", "quiet")
            truth["r24"] += event is not None and now - event <= timedelta(hours=24)
            truth["r7"] += event is not None and now - event <= timedelta(days=7)
            truth["blind"] += state == "blind"
            truth["never"] += state == "never"
            truth["missing"] += state == "missing"
        if i % 10 != 0:  # every tenth enrolled device is unknown to the MDM
            rows.append(
                f"PC-{i:04d},{serial},student{i}@college.example,{'North' if i % 2 else 'South'}"
            )
    for j in range(25):  # laptops the MDM knows that never enrolled
        rows.append(f"SPARE-{j},SPARE{j},,North")
    truth["expected"] = len(rows) - 1
    truth["csv"] = 0
    return truth | {"_csv": "\n".join(rows)}  # type: ignore[dict-item]


def _figure(html: str, fig: str) -> str:
    match = re.search(rf'id="fig-{fig}">([^<]+)<', html)
    assert match, fig
    return match.group(1)


def test_coverage_matches_the_devices_table(as_role: Any, store: SqlStore) -> None:
    truth = _seed_fleet(store)
    it = as_role("it_admin")
    upload = it.post(
        "/coverage/inventory",
        {},
        files={"file": ("intune.csv", str(truth["_csv"]).encode(), "text/csv")},
    )
    assert upload.status_code == 303
    html = as_role("trustee").get("/coverage").text
    assert _figure(html, "expected") == str(truth["expected"])
    assert _figure(html, "enrolled") == str(truth["enrolled"])
    assert _figure(html, "reporting-24h") == str(truth["r24"])
    assert _figure(html, "blind") == str(truth["blind"])
    api = it.client.get("/api/v1/coverage").json()["total"]
    assert api["enrolled"] == truth["enrolled"] and api["online"] == truth["online"]
    assert api["reporting_7d"] == truth["r7"] and api["never_connected"] == truth["never"]
    assert api["missing"] == truth["missing"] and api["expected"] == truth["expected"]
    assert api["not_enrolled"] == 25 + sum(1 for i in range(300) if i % 97 == 0 and i % 10 != 0)
    # Intune's device category is the group; enrolled devices the MDM does not know have none.
    groups = {s["name"]: s for s in it.client.get("/api/v1/coverage").json()["by_group"]}
    assert set(groups) == {"north", "south", "(no group)"}
    assert groups["north"]["expected"] + groups["south"]["expected"] == truth["expected"]
    assert sum(g["enrolled"] for g in groups.values()) == truth["enrolled"]
    # The MDM's user column is personal data: never stored, never shown.
    assert "student1@college.example" not in it.get("/coverage").text


def test_inventory_import_refuses_a_file_without_device_columns(as_role: Any) -> None:
    it = as_role("it_admin")
    page = it.post(
        "/coverage/inventory",
        {},
        files={"file": ("x.csv", b"a,b\n1,2\n", "text/csv")},
    )
    assert page.status_code == 422 and "serial number or device name column" in page.text


def test_coverage_and_the_directory_share_one_device_inventory(
    as_role: Any, store: SqlStore
) -> None:
    """The export imported on the coverage page is the directory's device inventory: it places
    devices in their inventory groups too, and an import on the directory side is what coverage
    then expects."""
    from collector.directory.importers import import_inventory
    from collector.directory.store import DirectoryStore

    it = as_role("it_admin")
    device_id = add_device(store, "PC-0001", serial="SN-1", last_seen=NOW)
    export = b"Device name,Serial number,Device category\nPC-0001,SN-1,Year 12\nSPARE,SN-2,Staff\n"
    upload = it.post("/coverage/inventory", {}, files={"file": ("i.csv", export, "text/csv")})
    assert upload.status_code == 303
    directory = DirectoryStore.for_store(store)
    assert {(e.serial, e.group_name) for e in directory.expected_devices()} == {
        ("SN-1", "year_12"),
        ("SN-2", "staff"),
    }
    assert directory.device_facts(device_id).groups == ("year_12",)
    html = it.get("/coverage").text
    assert _figure(html, "expected") == "2" and "spare" in html  # not enrolled: listed for IT
    # An import on the directory side (API, CLI, drop folder) replaces what coverage expects.
    import_inventory(directory, b"serial,hostname\nSN-1,PC-0001\n", actor="it@college")
    assert _figure(it.get("/coverage").text, "expected") == "1"


def test_aggregates_suppress_small_counts(as_role: Any, store: SqlStore) -> None:
    d = add_device(store, "LAB-01", last_seen=NOW)
    this_month = NOW.replace(day=1, hour=12)
    last_month = this_month - timedelta(days=3)
    for _ in range(6):
        add_alert(store, d, category="bullying", at=this_month)
    for _ in range(7):
        add_alert(store, d, category="bullying", at=last_month)
    for _ in range(2):
        add_alert(store, d, category="extremism", at=this_month)
    for _ in range(5):
        add_alert(store, d, category="drugs", at=this_month)
    html = as_role("trustee").get("/governance").text

    def row(category: str) -> list[str]:
        match = re.search(rf'<th scope="row">{category}</th>(.*?)</tr>', html, re.S)
        assert match, category
        return re.findall(r'<td class="num">([^<]*)</td>', match.group(1))

    assert row("extremism")[-2:] == ["&lt;5", "&lt;5"]  # this month and the total
    assert row("bullying")[-3:] == ["7", "6", "13"]
    # drugs (5) is hidden too: otherwise month total minus the others gives extremism back.
    assert row("drugs")[-2:] == ["&lt;5", "&lt;5"]
    assert "2" not in row("extremism")


def test_median_time_to_acknowledge_and_outcomes(as_role: Any, store: SqlStore) -> None:
    d = add_device(store, "LAB-01", last_seen=NOW)
    for hours in (1, 2, 3, 4, 5):
        alert_id = add_alert(store, d, at=NOW - timedelta(days=1))
        with store.engine.begin() as conn:
            conn.execute(
                update(m.alerts)
                .where(m.alerts.c.id == alert_id)
                .values(
                    acknowledged_at=NOW - timedelta(days=1) + timedelta(hours=hours),
                    status="closed",
                    outcome="early_help",
                    closed_at=NOW,
                )
            )
    html = as_role("trustee").get("/governance").text
    assert _figure(html, "ack") == "3 h"
    assert re.search(r"<td>Early help</td><td class=\"num\">5</td>", html)


def _seed_identifiable(store: SqlStore) -> None:
    d = add_device(store, "JSMITH-LAPTOP", last_seen=NOW, last_event=NOW)
    for _ in range(6):
        add_alert(store, d, os_user="COLLEGE\\jsmith", matched="zzmatchzz", snippet="zzsnippetzz")


IDENTIFIERS = ("jsmith", "JSMITH", "zzmatchzz", "zzsnippetzz")


def test_trustee_pages_and_pdf_show_no_student_identifiers(as_role: Any, store: SqlStore) -> None:
    _seed_identifiable(store)
    trustee = as_role("trustee")
    for path in ("/coverage", "/governance", "/report", "/api/v1/coverage"):
        page = trustee.get(path)
        assert page.status_code == 200, path
        for ident in IDENTIFIERS:
            assert ident not in page.text, (path, ident)
    pdf = trustee.get("/report.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert pdf.headers["content-type"] == "application/pdf"
    for ident in IDENTIFIERS:
        assert ident.encode() not in pdf.content


def test_charts_are_inline_svg_without_script(as_role: Any, store: SqlStore) -> None:
    d = add_device(store, "LAB-01", last_seen=NOW)
    add_alert(store, d)
    html = as_role("trustee").get("/governance").text
    assert html.count("<svg") == 3 and "<script" not in html.split("</head>")[1]


def test_report_page_prints_and_links_the_pdf(app: Any, as_role: Any) -> None:
    html = as_role("dsl").get("/report").text
    assert 'href="/report.pdf"' in html and "Annual review of filtering and monitoring" in html
    assert TestClient(app).get("/report.pdf").status_code == 401


def test_a_single_hidden_count_cannot_be_recovered_from_totals() -> None:
    from collector.web.governance import protect_table

    cells, rows, cols, _total = protect_table({"bullying": [6, 5], "suicide": [1, 0]})
    assert cells["suicide"] == [None, 0] and rows["suicide"] is None
    # Each line with a hidden value has a second one, so subtraction gives nothing back.
    assert rows["bullying"] is None or cells["bullying"][0] is None
    hidden_in_column0 = [
        v for v in (cells["bullying"][0], cells["suicide"][0], cols[0]) if v is None
    ]
    assert len(hidden_in_column0) != 1
