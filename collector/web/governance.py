"""Figures for trustees: aggregate alerts, response times, outcomes and coverage over time.

Nothing here returns a login, a name, a device name or evidence: only counts by category,
month, outcome and site. Any count from 1 to 4 is suppressed (shown as "<5"), with
complementary suppression so totals cannot give it back, and a median built on fewer than 5
alerts is not shown: a small college cannot identify a student from a board paper ("the one
self-harm alert in March").
"""

import statistics
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, and_, func, select

from collector.alerts.workflow import OUTCOMES
from collector.store import models as m

SUPPRESS_BELOW = 5


def suppress(n: int) -> int | None:
    """None (shown "<5") for small non-zero counts."""
    return None if 0 < n < SUPPRESS_BELOW else n


def protect_table(
    grid: dict[str, list[int]],
) -> tuple[dict[str, list[int | None]], dict[str, int | None], list[int | None], int | None]:
    """Suppress a category × month table with its row, column and grand totals.

    Primary suppression hides counts 1-4. That alone leaks: if one cell of a row is hidden and
    the row total is shown, subtraction gives it back. So, until nothing changes, any line
    (a row with its total, a column with its total, the totals with the grand total) with
    exactly one hidden value also hides its smallest other non-zero value (complementary
    suppression, as statistics offices do for small-area tables).
    """
    cats = list(grid)
    months = len(next(iter(grid.values()))) if grid else 0
    value: dict[tuple[str, int], int] = {}
    for c in cats:
        for i in range(months):
            value[(c, i)] = grid[c][i]
        value[(c, -1)] = sum(grid[c])  # row total
    for i in range(months):
        value[("", i)] = sum(grid[c][i] for c in cats)  # column total
    value[("", -1)] = sum(value[(c, -1)] for c in cats)  # grand total
    hidden = {k for k, v in value.items() if 0 < v < SUPPRESS_BELOW}
    lines = [[(c, i) for i in [*range(months), -1]] for c in [*cats, ""]]
    lines += [[(c, i) for c in [*cats, ""]] for i in [*range(months), -1]]
    changed = True
    while changed:
        changed = False
        for line in lines:
            inside = [k for k in line if k in hidden]
            if len(inside) != 1:
                continue
            others = [k for k in line if k not in hidden and value[k] > 0]
            if others:
                hidden.add(min(others, key=lambda k: value[k]))
                changed = True

    def shown(key: tuple[str, int]) -> int | None:
        return None if key in hidden else value[key]

    cells = {c: [shown((c, i)) for i in range(months)] for c in cats}
    return (
        cells,
        {c: shown((c, -1)) for c in cats},
        [shown(("", i)) for i in range(months)],
        shown(("", -1)),
    )


def month_starts(now: datetime, months: int = 12) -> list[datetime]:
    """The first instant of each of the last `months` calendar months, oldest first."""
    y, mo = now.year, now.month
    out = []
    for _ in range(months):
        out.append(datetime(y, mo, 1, tzinfo=UTC))
        mo -= 1
        if mo == 0:
            y, mo = y - 1, 12
    return out[::-1]


def _next_month(start: datetime) -> datetime:
    return (start + timedelta(days=32)).replace(day=1)


def month_label(start: datetime) -> str:
    return start.strftime("%b %y")


@dataclass
class Aggregates:
    """Alert figures for a period, already suppressed."""

    period_start: datetime
    period_end: datetime
    months: list[str]
    total: int | None
    by_month: list[int | None]
    categories: list[str]
    by_category: dict[str, int | None]
    by_category_month: dict[str, list[int | None]]
    median_ack_hours: float | None
    acknowledged: int | None
    median_ack_by_month: list[float | None]
    outcomes: dict[str, int | None]
    true_positive_rate: float | None = None
    notes: list[str] = field(default_factory=list)


def alert_aggregates(engine: Engine, now: datetime, months: int = 12) -> Aggregates:
    starts = month_starts(now, months)
    begin, end = starts[0], _next_month(starts[-1])
    a = m.alerts
    cols = [a.c.created_at, a.c.category, a.c.status]
    has_workflow = "acknowledged_at" in a.c
    if has_workflow:
        cols += [a.c.acknowledged_at, a.c.outcome]
    query = select(*cols).where(a.c.created_at >= begin, a.c.created_at < end)
    if "cluster_id" in a.c:
        query = query.where(a.c.cluster_id.is_(None))
    with engine.connect() as conn:
        rows = conn.execute(query).all()

    def month_index(at: datetime) -> int:
        return (at.year - begin.year) * 12 + at.month - begin.month

    per_cat: dict[str, int] = {}
    per_cat_month: dict[str, list[int]] = {}
    ack_hours: list[float] = []
    ack_by_month: list[list[float]] = [[] for _ in range(months)]
    outcomes: dict[str, int] = {}
    for r in rows:
        i = month_index(r[0])
        if not 0 <= i < months:
            continue
        per_cat[r[1]] = per_cat.get(r[1], 0) + 1
        per_cat_month.setdefault(r[1], [0] * months)[i] += 1
        if has_workflow:
            if r[3] is not None:
                hours = max((r[3] - r[0]).total_seconds() / 3600, 0.0)
                ack_hours.append(hours)
                ack_by_month[i].append(hours)
            if r[2] == "closed" and r[4]:
                outcomes[r[4]] = outcomes.get(r[4], 0) + 1

    def median(values: list[float]) -> float | None:
        if len(values) < SUPPRESS_BELOW:
            return None
        return round(statistics.median(values), 1)

    closed = sum(outcomes.values())
    true_pos = sum(n for k, n in outcomes.items() if k != "false_positive")
    categories = sorted(per_cat, key=lambda c: (-per_cat[c], c))
    cells, by_category, by_month, total = protect_table({c: per_cat_month[c] for c in categories})
    if not categories:
        by_month, total = [0] * months, 0
    outcome_cells, _, _, _ = protect_table({k: [n] for k, n in sorted(outcomes.items())})
    return Aggregates(
        period_start=begin,
        period_end=end,
        months=[month_label(s) for s in starts],
        total=total,
        by_month=by_month,
        categories=categories,
        by_category=by_category,
        by_category_month=cells,
        median_ack_hours=median(ack_hours),
        acknowledged=suppress(len(ack_hours)),
        median_ack_by_month=[median(v) for v in ack_by_month],
        outcomes={OUTCOMES.get(k, k): outcome_cells[k][0] for k in sorted(outcomes)},
        true_positive_rate=round(100 * true_pos / closed, 0) if closed >= SUPPRESS_BELOW else None,
    )


@dataclass(frozen=True, slots=True)
class FleetTrend:
    months: list[str]
    enrolled: list[int]
    reporting: list[int]  # devices with at least one event stored in the month

    @property
    def reporting_percent(self) -> list[float | None]:
        return [
            round(100 * r / e, 1) if e else None
            for r, e in zip(self.reporting, self.enrolled, strict=True)
        ]


def fleet_trend(engine: Engine, now: datetime, months: int = 12) -> FleetTrend:
    """Devices enrolled at each month's end and devices that reported during it."""
    d, e = m.devices, m.events
    starts = month_starts(now, months)
    enrolled, reporting = [], []
    with engine.connect() as conn:
        for start in starts:
            end = min(_next_month(start), now)
            enrolled.append(
                int(
                    conn.execute(
                        select(func.count()).where(d.c.enrolled_at < end, d.c.revoked.is_(False))
                    ).scalar_one()
                )
            )
            reporting.append(
                int(
                    conn.execute(
                        select(func.count(func.distinct(e.c.device_id))).where(
                            and_(e.c.observed_at >= start, e.c.observed_at < end)
                        )
                    ).scalar_one()
                )
            )
    return FleetTrend([month_label(s) for s in starts], enrolled, reporting)
