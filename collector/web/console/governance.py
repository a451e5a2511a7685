"""Coverage, trends and the annual review (trustees; dsl too; coverage also for IT).

Trustee pages show counts only: no login, name, device name or evidence reaches them.
"""

from collections.abc import Sequence
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, File, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from collector.clock import utcnow
from collector.coverage import CoverageReport, ExpectedDevice, coverage_report, match_expected
from collector.directory.importers import import_inventory
from collector.directory.importers.csvfile import MAX_FILE_BYTES, ExportError
from collector.directory.importers.mapping import MappingError
from collector.directory.store import DirectoryStore
from collector.store import Store
from collector.web import annual_report, charts, fleet, governance
from collector.web.audit import record
from collector.web.deps import AdminUser, CoverageUser, GovernanceUser, StoreDep
from collector.web.templating import page

router = APIRouter(tags=["console"], include_in_schema=False)


def build_coverage(
    store: Store, heartbeat: timedelta, expected: Sequence[ExpectedDevice] | None = None
) -> CoverageReport:
    """Coverage now, against `expected` (default: the directory's device inventory)."""
    if expected is None:
        expected = DirectoryStore.for_store(store).expected_devices()
    statuses = fleet.device_statuses(store, utcnow(), heartbeat)
    return coverage_report(statuses, expected)


def _coverage_page(
    request: Request, store: Store, role: str, message: str = "", status_code: int = 200
) -> Response:
    directory = DirectoryStore.for_store(store)
    expected = directory.expected_devices()
    report = build_coverage(store, request.app.state.heartbeat, expected)
    missing: list[ExpectedDevice] = []
    if role == "it_admin":
        # IT needs to know which laptops to go and enrol; trustees only ever get counts.
        live = [s.device for s in report.statuses if "revoked" not in s.flags]
        matched = {id(e) for e in match_expected(expected, live).values()}
        missing = [e for e in expected if id(e) not in matched][:500]
    last = directory.recent_imports(1, source="inventory")
    return page(
        request,
        "coverage.html",
        {
            "report": report,
            "last_import": last[0] if last else None,
            "not_enrolled": missing,
            "can_import": role == "it_admin",
            "message": message,
        },
        status_code=status_code,
    )


@router.get("/coverage", response_class=HTMLResponse)
def coverage_page(request: Request, store: StoreDep, user: CoverageUser) -> Response:
    """Expected against enrolled, reporting in 24 h / 7 d, blind — by site and group."""
    return _coverage_page(request, store, user.role)


@router.post("/coverage/inventory")
async def inventory_import(
    request: Request,
    store: StoreDep,
    user: AdminUser,
    file: Annotated[UploadFile, File()],
) -> Response:
    """Replace the device inventory (the devices coverage expects) with an MDM export (IT). The
    same import as the directory's (`POST /api/v1/groups/inventory`): it also places devices in
    their inventory groups."""
    data = await file.read(MAX_FILE_BYTES + 1)
    try:
        await run_in_threadpool(
            import_inventory,
            DirectoryStore.for_store(store),
            data,
            None,
            filename=file.filename or "",
            actor=user.email,
        )
    except (ExportError, MappingError) as exc:
        return _coverage_page(request, store, user.role, f"Import refused: {exc}", 422)
    return RedirectResponse("/coverage", status_code=303)


def _trend_context(store: Store) -> dict[str, object]:
    now = utcnow()
    engine = store.engine  # type: ignore[attr-defined]
    aggregates = governance.alert_aggregates(engine, now)
    trend = governance.fleet_trend(engine, now)
    return {
        "aggregates": aggregates,
        "trend": trend,
        "alerts_chart": charts.bar_chart(
            "Alerts raised per month", aggregates.months, aggregates.by_month
        ),
        "fleet_chart": charts.line_chart(
            "Devices enrolled and reporting per month",
            trend.months,
            [
                ("Enrolled", list(map(float, trend.enrolled))),
                ("Reporting", list(map(float, trend.reporting))),
            ],
        ),
        "ack_chart": charts.line_chart(
            "Median hours to acknowledge, per month",
            aggregates.months,
            [("Median hours", aggregates.median_ack_by_month)],
            unit=" h",
        ),
        "fmt": annual_report.fmt,
        "fmt_median": annual_report.fmt_median,
    }


@router.get("/governance", response_class=HTMLResponse)
def trends_page(request: Request, store: StoreDep, _user: GovernanceUser) -> Response:
    """12-month trends: alerts by month and category, response times, outcomes, reporting."""
    return page(request, "trends.html", _trend_context(store))


def _annual(store: Store, heartbeat: timedelta) -> annual_report.AnnualReport:
    now = utcnow()
    engine = store.engine  # type: ignore[attr-defined]
    aggregates = governance.alert_aggregates(engine, now)
    return annual_report.AnnualReport(
        generated_at=now,
        coverage=build_coverage(store, heartbeat),
        alerts=aggregates,
        trend=governance.fleet_trend(engine, now),
        policy_changes=annual_report.policy_change_counts(engine, aggregates.period_start),
    )


@router.get("/report", response_class=HTMLResponse)
def report_page(request: Request, store: StoreDep, _user: GovernanceUser) -> Response:
    """The annual review as a printable page."""
    report = _annual(store, request.app.state.heartbeat)
    return page(
        request, "report.html", {"r": report, "fmt": annual_report.fmt, **_trend_context(store)}
    )


@router.get("/report.pdf")
def report_pdf(request: Request, store: StoreDep, user: GovernanceUser) -> Response:
    """The annual review as a PDF for the board pack (audited)."""
    report = _annual(store, request.app.state.heartbeat)
    body = annual_report.render_pdf(report)
    record(store, user.email, "report.annual_pdf", "report", "annual", {"bytes": len(body)})
    name = f"lantern-annual-review-{report.generated_at:%Y-%m-%d}.pdf"
    return Response(
        body,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
