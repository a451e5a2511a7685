"""Coverage: monitoring coverage counts (every role; counts only, nothing about students)."""

from fastapi import APIRouter, Request
from pydantic import BaseModel

from collector.coverage import CoverageRow
from collector.web.console.governance import build_coverage
from collector.web.deps import CoverageUser, StoreDep

router = APIRouter(prefix="/api/v1/coverage", tags=["coverage"])


class Slice(BaseModel):
    name: str
    expected: int
    enrolled: int
    not_enrolled: int
    online: int
    reporting_24h: int
    reporting_7d: int
    blind: int
    never_connected: int
    missing: int
    coverage_percent: float | None


class Coverage(BaseModel):
    total: Slice
    by_site: list[Slice]
    by_group: list[Slice]


def _slice(row: CoverageRow) -> Slice:
    return Slice(
        name=row.name,
        expected=row.expected,
        enrolled=row.enrolled,
        not_enrolled=row.not_enrolled,
        online=row.online,
        reporting_24h=row.reporting_24h,
        reporting_7d=row.reporting_7d,
        blind=row.blind,
        never_connected=row.never_connected,
        missing=row.missing,
        coverage_percent=row.coverage_percent,
    )


@router.get("", response_model=Coverage)
def get_coverage(request: Request, store: StoreDep, _user: CoverageUser) -> Coverage:
    """Expected devices against enrolled, reporting and blind: in total, by site, by group."""
    report = build_coverage(store, request.app.state.heartbeat)
    return Coverage(
        total=_slice(report.total),
        by_site=[_slice(r) for r in report.by_site],
        by_group=[_slice(r) for r in report.by_group],
    )
