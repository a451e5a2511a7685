"""What the safeguarding pages read: the queue, one alert with its context, a student's history.

Reads go straight to the store's tables (one query per page section); the lifecycle changes
(acknowledge, assign, note, close) go through `collector.web.workflow`, the seam to the alert
workflow module.
"""

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select

from collector.store import models as m

STATUSES = ("new", "acknowledged", "in_progress", "closed")
OPEN_STATUSES = ("new", "acknowledged", "in_progress")
# The context timeline shows what the device was doing this long either side of the alert.
CONTEXT_WINDOW = timedelta(minutes=20)
CONTEXT_LIMIT = 200


@dataclass(frozen=True, slots=True)
class QueueFilter:
    category: str = ""
    status: str = "open"  # open | all | one of STATUSES
    site: str = ""
    student: str = ""  # part of the OS login

    def as_query(self) -> dict[str, str]:
        """The filter as query parameters (for the export link and the live update)."""
        values = {
            "category": self.category,
            "status": self.status,
            "site": self.site,
            "student": self.student,
        }
        return {k: v for k, v in values.items() if v}


def _alert_query() -> Any:
    a, d = m.alerts, m.devices
    return select(a, d.c.hostname, d.c.hardware_serial).join(d, d.c.id == a.c.device_id)


def _filtered(query: Any, flt: QueueFilter) -> Any:
    a = m.alerts
    if flt.status == "open":
        query = query.where(a.c.status.in_(OPEN_STATUSES))
    elif flt.status in STATUSES:
        query = query.where(a.c.status == flt.status)
    if flt.category:
        query = query.where(a.c.category == flt.category)
    if flt.site:
        query = query.where(a.c.site == flt.site)
    if flt.student:
        query = query.where(a.c.os_user.ilike(f"%{_escape_like(flt.student)}%", escape="\\"))
    return query.where(a.c.cluster_id.is_(None))  # cohort members show inside their cluster


def queue(engine: Engine, flt: QueueFilter, limit: int = 500) -> list[dict[str, Any]]:
    """Alerts most severe first, then longest waiting first (open ones), newest first (closed)."""
    a = m.alerts
    query = _filtered(_alert_query(), flt)
    # Open work: longest waiting first. The closed archive: most recent first.
    age = a.c.created_at.desc() if flt.status == "closed" else a.c.created_at.asc()
    with engine.connect() as conn:
        rows = (
            conn.execute(query.order_by(a.c.severity.desc(), age, a.c.id).limit(limit))
            .mappings()
            .all()
        )
    return [dict(r) for r in rows]


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def latest_alert_id(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.coalesce(func.max(m.alerts.c.id), 0))).scalar_one())


def alerts_after(
    engine: Engine, after_id: int, flt: QueueFilter, limit: int = 50
) -> list[dict[str, Any]]:
    """Alerts raised since the page was drawn that the page's filter would show (live queue)."""
    a = m.alerts
    query = _filtered(_alert_query(), flt).where(a.c.id > after_id)
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(a.c.id).limit(limit)).mappings().all()
    return [dict(r) for r in rows]


def alert(engine: Engine, alert_id: int) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = conn.execute(_alert_query().where(m.alerts.c.id == alert_id)).mappings().first()
    return dict(row) if row else None


def filter_choices(engine: Engine) -> dict[str, list[str]]:
    """Categories and sites that occur, for the filter drop-downs."""
    a = m.alerts
    with engine.connect() as conn:
        cats = [r[0] for r in conn.execute(select(a.c.category).distinct().order_by(a.c.category))]
        sites = [r[0] for r in conn.execute(select(a.c.site).distinct().order_by(a.c.site)) if r[0]]
    return {"categories": cats, "sites": sites}


@dataclass(frozen=True, slots=True)
class TimelineItem:
    at: datetime
    kind: str  # window_focus | risk_match | circumvention | gap | agent_state
    app: str
    title: str
    detail: dict[str, Any]
    is_alert_event: bool


def context_timeline(engine: Engine, row: dict[str, Any]) -> list[TimelineItem]:
    """Window and title changes and other matches on the same device around the alert."""
    e = m.events
    start = row["created_at"] - CONTEXT_WINDOW
    end = row["last_seen_at"] + CONTEXT_WINDOW
    query = (
        select(e.c.event_id, e.c.kind, e.c.observed_at, e.c.app, e.c.title, e.c.detail, e.c.os_user)
        .where(
            e.c.device_id == row["device_id"],
            e.c.observed_at >= start,
            e.c.observed_at <= end,
            e.c.kind.in_(("window_focus", "risk_match", "circumvention", "gap")),
        )
        .order_by(e.c.observed_at, e.c.seq)
        .limit(CONTEXT_LIMIT)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return [
        TimelineItem(
            at=r["observed_at"],
            kind=r["kind"],
            app=r["app"],
            title=r["title"],
            detail=dict(r["detail"] or {}),
            is_alert_event=r["event_id"] == row["first_event_id"],
        )
        for r in rows
    ]


def repeat_history(engine: Engine, row: dict[str, Any], limit: int = 50) -> list[dict[str, Any]]:
    """Earlier and later alerts for the same login (or the same device when there is no login)."""
    a = m.alerts
    who = a.c.os_user == row["os_user"] if row["os_user"] else a.c.device_id == row["device_id"]
    query = _alert_query().where(who, a.c.id != row["id"]).order_by(a.c.created_at.desc())
    with engine.connect() as conn:
        rows = conn.execute(query.limit(limit)).mappings().all()
    return [dict(r) for r in rows]


def student_alerts(engine: Engine, login: str, limit: int = 500) -> list[dict[str, Any]]:
    a = m.alerts
    query = _alert_query().where(a.c.os_user == login).order_by(a.c.created_at.desc())
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query.limit(limit)).mappings().all()]


def student_devices(engine: Engine, login: str) -> list[dict[str, Any]]:
    """Devices the login has used, with first and last time seen (from events)."""
    e, d = m.events, m.devices
    query = (
        select(
            d.c.id,
            d.c.hostname,
            func.min(e.c.observed_at).label("first_seen"),
            func.max(e.c.observed_at).label("last_seen"),
            func.count().label("events"),
        )
        .join(d, d.c.id == e.c.device_id)
        .where(e.c.os_user == login)
        .group_by(d.c.id, d.c.hostname)
        .order_by(func.max(e.c.observed_at).desc())
    )
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings().all()]


def category_counts(rows: Iterable[dict[str, Any]]) -> list[tuple[str, int]]:
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["category"]] = counts.get(r["category"], 0) + 1
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


# CPOMS and MyConcern both import a flat CSV with one concern per row; these headers map to
# their import templates (date/time of concern, student identifier, category, description,
# action taken, outcome, recorded by). Dates are UK format, times 24-hour.
EXPORT_HEADERS = (
    "Incident ID",
    "Date",
    "Time",
    "Student login",
    "Student name",
    "Site",
    "Category",
    "Severity",
    "Status",
    "Description",
    "Evidence",
    "Application",
    "Window title",
    "Device",
    "Assigned to",
    "Outcome",
    "Acknowledged by",
    "Closed by",
    "Closed at",
)


def export_rows(
    engine: Engine, since: datetime | None, until: datetime | None
) -> list[dict[str, Any]]:
    a = m.alerts
    query = _alert_query().where(a.c.cluster_id.is_(None))
    if since is not None:
        query = query.where(a.c.created_at >= since)
    if until is not None:
        query = query.where(a.c.created_at < until)
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(a.c.created_at, a.c.id)).mappings().all()
    return [dict(r) for r in rows]


def _cell(value: Any) -> str:
    """Neutralise spreadsheet formula injection (a title starting '=' runs in Excel)."""
    text = "" if value is None else str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


def export_csv(rows: Sequence[dict[str, Any]], names: dict[int, str]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(EXPORT_HEADERS)
    for r in rows:
        when: datetime = r["created_at"]
        closed_at = r.get("closed_at")
        description = (
            f"Lantern {r['category'].replace('_', ' ')} alert (severity {r['severity']}, "
            f"rule {r['rule']}, {r['source']}; seen {r['count']} time(s))"
        )
        writer.writerow(
            [
                _cell(v)
                for v in (
                    f"LANTERN-{r['id']}",
                    when.strftime("%d/%m/%Y"),
                    when.strftime("%H:%M"),
                    r["os_user"],
                    names.get(r["id"], ""),
                    r.get("site", ""),
                    r["category"],
                    r["severity"],
                    r["status"],
                    description,
                    f"{r['matched']}: {r['snippet']}" if r["snippet"] else r["matched"],
                    r["app"],
                    r["title"],
                    r["hostname"],
                    r.get("assignee") or "",
                    r.get("outcome") or "",
                    r.get("acknowledged_by") or "",
                    r.get("closed_by") or "",
                    closed_at.strftime("%d/%m/%Y %H:%M") if closed_at else "",
                )
            ]
        )
    return buf.getvalue()
