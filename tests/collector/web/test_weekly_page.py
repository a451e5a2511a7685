"""The weekly report page (the link in the weekly email): counts, earlier weeks, no names."""

from datetime import UTC, datetime, timedelta
from typing import Any

from collector.alerts.reports import build_weekly, render_weekly
from collector.alerts.store import AlertStore
from collector.store import SqlStore
from tests.collector.web.conftest import add_alert, add_device

MONDAY = datetime(2026, 11, 16, tzinfo=UTC)


def make_report(store: SqlStore, start: datetime) -> dict[str, Any]:
    alerts = AlertStore(store)
    end = start + timedelta(days=7)
    report = build_weekly(alerts, store.list_devices(), start, end, end)
    assert alerts.save_report("weekly", start, end, report, end)
    return report


def test_the_weekly_page_shows_the_stored_report_and_names_no_one(
    as_role: Any, store: SqlStore
) -> None:
    dsl = as_role("dsl")
    empty = dsl.get("/reports/weekly")
    assert empty.status_code == 200 and "No weekly report yet" in empty.text

    device = add_device(store, "LAB-03", last_seen=MONDAY + timedelta(days=6))
    for day, category in ((1, "self_harm"), (2, "self_harm"), (3, "bullying")):
        add_alert(
            store, device, category=category, at=MONDAY + timedelta(days=day), os_user="zz_kid"
        )
    make_report(store, MONDAY - timedelta(days=7))
    latest = make_report(store, MONDAY)

    page = dsl.get("/reports/weekly")
    assert page.status_code == 200
    assert '<strong id="week-start">2026-11-16</strong>' in page.text
    assert 'id="fig-raised">3<' in page.text
    by_category = page.text.split('id="by-category"')[1].split("</table>")[0]
    assert 'self harm</td><td class="num">2<' in by_category
    assert "zz_kid" not in page.text and "LAB-03" not in page.text
    earlier = dsl.get("/reports/weekly?start=2026-11-09")
    assert '<strong id="week-start">2026-11-09</strong>' in earlier.text
    assert 'id="fig-raised">0<' in earlier.text
    assert dsl.get("/reports/weekly?start=2025-01-06").status_code == 404
    # The emailed report links to this page.
    _, body = render_weekly(latest, "https://lantern.college.example")
    assert "https://lantern.college.example/reports/weekly" in body
    assert as_role("it_admin").get("/reports/weekly").status_code == 403
