"""Retention: how long each class of personal data is kept, and the purge job that enforces it.

Defaults (days) and why — see docs/privacy.md for the full data inventory:

| class | default | why |
|---|---|---|
| window_events | 30 | context for recent alerts and coverage; an alert copies its own evidence |
| match_events | 395 | matches that did not alert are kept 13 months for tuning and the annual review |
| closed_alerts | 2555 | safeguarding records that led to action: 7 years after closing (limitation period and transfer between providers; IRMS toolkit guidance for education) |
| false_positives | 365 | closed as false positive: kept a year for per-rule precision, then gone |
| deliveries | 90 | notification outbox and delivery log: enough to investigate a missed alert |
| web_sessions | 30 | sign-in sessions and attempts: security investigations |
| left_people | 2555 | a leaver's directory record lives as long as the alerts that name them |
| reports | 2555 | weekly and annual reports, for year-on-year review by governors |
| audit | 2555 | who saw and did what: as long as the records it is about |

Open alerts are never purged, whatever their age. When old audit rows go, the hash chain is
re-anchored on the last one deleted (`collector.alerts.audit.prune`), so what remains still verifies.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, and_, delete, or_, select
from sqlalchemy.engine import Connection

from collector.alerts import audit
from collector.alerts import models as am
from collector.store import models as m
from collector.web import models as wm

RETENTION_DAYS: dict[str, int] = {
    "window_events": 30,
    "match_events": 395,
    "closed_alerts": 2555,
    "false_positives": 365,
    "deliveries": 90,
    "web_sessions": 30,
    "left_people": 2555,
    "reports": 2555,
    "audit": 2555,
}

WINDOW_KINDS = ("window_focus", "agent_state", "gap", "limit_tripped")
MATCH_KINDS = ("risk_match", "circumvention")


@dataclass(frozen=True)
class PurgeReport:
    deleted: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.deleted.values())


Purger = Callable[[Connection, datetime], int]


def _events(kinds: tuple[str, ...]) -> Purger:
    def purge(conn: Connection, cutoff: datetime) -> int:
        e = m.events
        # Events an open alert still points at stay: the DSL is working from them.
        open_refs = select(m.alerts.c.first_event_id).where(m.alerts.c.status != "closed")
        res = conn.execute(
            delete(e).where(
                e.c.kind.in_(kinds), e.c.received_at < cutoff, e.c.event_id.not_in(open_refs)
            )
        )
        return res.rowcount or 0

    return purge


def _alerts(false_positive: bool) -> Purger:
    def purge(conn: Connection, cutoff: datetime) -> int:
        a = m.alerts
        outcome = a.c.outcome == "false_positive"
        ids = select(a.c.id).where(
            a.c.status == "closed",
            a.c.closed_at < cutoff,
            outcome
            if false_positive
            else or_(a.c.outcome.is_(None), a.c.outcome != "false_positive"),
        )
        alert_ids = [r[0] for r in conn.execute(ids)]
        if not alert_ids:
            return 0
        for table in (am.alert_notes, am.alert_members, am.delivery_log, am.outbox):
            conn.execute(delete(table).where(table.c.alert_id.in_(alert_ids)))
        return conn.execute(delete(a).where(a.c.id.in_(alert_ids))).rowcount or 0

    return purge


def _deliveries(conn: Connection, cutoff: datetime) -> int:
    n = conn.execute(delete(am.delivery_log).where(am.delivery_log.c.at < cutoff)).rowcount or 0
    o = am.outbox
    n += (
        conn.execute(
            delete(o).where(o.c.status.in_(("done", "failed", "skipped")), o.c.created_at < cutoff)
        ).rowcount
        or 0
    )
    return n


def _web_sessions(conn: Connection, cutoff: datetime) -> int:
    s = wm.web_sessions
    n = (
        conn.execute(
            delete(s).where(
                or_(s.c.expires_at < cutoff, and_(s.c.revoked, s.c.last_seen_at < cutoff))
            )
        ).rowcount
        or 0
    )
    n += (
        conn.execute(delete(wm.login_attempts).where(wm.login_attempts.c.at < cutoff)).rowcount or 0
    )
    return n


def _reports(conn: Connection, cutoff: datetime) -> int:
    return conn.execute(delete(am.reports).where(am.reports.c.created_at < cutoff)).rowcount or 0


def _trigger_state(conn: Connection, now: datetime) -> int:
    """Rule counters and suppressions past their own expiry (not personal history, just state)."""
    n = (
        conn.execute(delete(am.trigger_hits).where(am.trigger_hits.c.expires_at < now)).rowcount
        or 0
    )
    s = am.trigger_suppressions
    n += conn.execute(delete(s).where(s.c.until < now)).rowcount or 0
    return n


PURGERS: dict[str, Purger] = {
    "window_events": _events(WINDOW_KINDS),
    "match_events": _events(MATCH_KINDS),
    "closed_alerts": _alerts(false_positive=False),
    "false_positives": _alerts(false_positive=True),
    "deliveries": _deliveries,
    "web_sessions": _web_sessions,
    "reports": _reports,
    "audit": lambda conn, cutoff: audit.prune(conn, cutoff),
}


def purge(
    engine: Engine,
    now: datetime,
    days: dict[str, int] | None = None,
    *,
    purge_left_people: Callable[[datetime], int] | None = None,
) -> PurgeReport:
    """Delete everything past its retention period. Safe to run repeatedly and on any replica."""
    limits = {**RETENTION_DAYS, **(days or {})}
    deleted: dict[str, int] = {}
    with engine.begin() as conn:
        for name, purger in PURGERS.items():
            deleted[name] = purger(conn, now - timedelta(days=limits[name]))
        deleted["trigger_state"] = _trigger_state(conn, now)
    if purge_left_people is not None:
        deleted["left_people"] = purge_left_people(now - timedelta(days=limits["left_people"]))
    return PurgeReport(deleted)
