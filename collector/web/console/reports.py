"""The weekly safeguarding report as a page (dsl): the link in the weekly email lands here.

The report itself is built and stored once a week by the jobs (collector/alerts/reports.py); it
holds counts only — no student and no device is named — so the page shows exactly what was sent.
"""

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from collector.web.deps import SafeguardingUser
from collector.web.routes.alerts import AlertsDep
from collector.web.templating import page

router = APIRouter(tags=["console"], include_in_schema=False)


@router.get("/reports/weekly", response_class=HTMLResponse)
def weekly_report_page(
    request: Request,
    _user: SafeguardingUser,
    alerts: AlertsDep,
    start: str = Query("", max_length=10, description="the week's Monday, YYYY-MM-DD"),
) -> Response:
    """One week's report (the latest unless `start` picks another), with the earlier weeks."""
    reports = alerts.recent_reports("weekly")
    shown = next((r for r in reports if r["period"]["start"][:10] == start), None)
    if shown is None and reports and not start:
        shown = reports[0]
    response = page(
        request,
        "weekly.html",
        {"report": shown, "weeks": [r["period"]["start"][:10] for r in reports], "start": start},
    )
    if start and shown is None:
        response.status_code = 404
    return response
