"""The alerts repository: raising alerts inside the ingest transaction, the lifecycle, notes,
the notification outbox, job leases and the queries behind precision figures and reports.

Raising happens in the caller's transaction (:func:`raise_candidates`), so an alert, its audit row
and its outbox row commit with the events that caused them or not at all.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.engine import Connection, RowMapping

from collector.alerts import audit
from collector.alerts import models as am
from collector.alerts.workflow import TRANSITIONS, WorkflowError, check_note, check_outcome
from collector.store import models as m
from collector.store.interface import AlertCandidate, AlertRecord, NotFound

if TYPE_CHECKING:
    from collector.store.sql import SqlStore

SYSTEM = "system"


# --------------------------------------------------------------------------- rule state
class SqlTriggerState:
    """TriggerState on the ingest transaction's connection (see collector.store.interface)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def record_hit(self, key: str, at: datetime, device_id: str, keep: timedelta) -> None:
        self.conn.execute(
            insert(am.trigger_hits).values(
                key=key, at=at, device_id=device_id, expires_at=at + keep
            )
        )

    def count_hits(self, key: str, since: datetime, until: datetime) -> int:
        h = am.trigger_hits
        q = select(func.count()).where(h.c.key == key, h.c.at >= since, h.c.at <= until)
        return int(self.conn.execute(q).scalar_one())

    def distinct_devices(self, key: str, since: datetime, until: datetime) -> int:
        h = am.trigger_hits
        q = select(func.count(func.distinct(h.c.device_id))).where(
            h.c.key == key, h.c.at >= since, h.c.at <= until
        )
        return int(self.conn.execute(q).scalar_one())

    def suppressed_until(self, key: str) -> datetime | None:
        s = am.trigger_suppressions
        return self.conn.execute(select(s.c.until).where(s.c.key == key)).scalar_one_or_none()

    def suppress(self, key: str, until: datetime) -> None:
        # An upsert: two replicas suppressing the same key at once must not fail on the key.
        s = am.trigger_suppressions
        if self.conn.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as upsert
        else:
            from sqlalchemy.dialects.sqlite import insert as upsert  # type: ignore[assignment]
        stmt = upsert(s).values(key=key, until=until)
        self.conn.execute(
            stmt.on_conflict_do_update(index_elements=[s.c.key], set_={"until": until})
        )

    def alerts_since(self, dedup_key: str, since: datetime) -> int:
        a = m.alerts
        q = select(func.count()).where(a.c.dedup_key == dedup_key, a.c.created_at >= since)
        return int(self.conn.execute(q).scalar_one())


# --------------------------------------------------------------------------- raising alerts
@dataclass(frozen=True, slots=True)
class Raised:
    raised: int
    updated: int
    alert_ids: tuple[int, ...]


def _enqueue(
    conn: Connection,
    alert_id: int,
    event: str,
    now: datetime,
    delay_s: float,
    payload: dict[str, Any] | None = None,
) -> None:
    conn.execute(
        insert(am.outbox).values(
            alert_id=alert_id,
            event=event,
            payload=payload or {},
            status="pending",
            attempts=0,
            next_attempt_at=now + timedelta(seconds=delay_s),
            created_at=now,
        )
    )


def _insert_alert(conn: Connection, c: AlertCandidate, now: datetime) -> int:
    res = conn.execute(
        insert(m.alerts).values(
            created_at=c.observed_at,
            last_seen_at=c.observed_at,
            count=1,
            status="new",
            severity=c.severity,
            category=c.category,
            rule=c.rule,
            source=c.source,
            device_id=c.device_id,
            os_user=c.os_user,
            person_id=c.person_id,
            app=c.app,
            title=c.title,
            matched=c.matched[:128],
            snippet=c.snippet[:256],
            first_event_id=c.event_id,
            dedup_key=c.dedup_key,
            kind=c.kind,
            cohort_key=c.cohort_key,
            members=1,
            site=c.site,
            group_name=c.group_name,
            reasons=list(c.reasons),
            updated_at=now,
            escalation_step=0,
            escalated_at=now,
        )
    )
    alert_id = int(res.inserted_primary_key[0])  # type: ignore[index]
    audit.append(
        conn,
        actor=SYSTEM,
        action="alert.raised",
        object_type="alert",
        object_id=alert_id,
        at=now,
        detail={"rule": c.rule, "severity": c.severity, "kind": c.kind, "reasons": c.reasons},
    )
    if c.notify:
        _enqueue(conn, alert_id, "raised", now, 0 if c.severity >= 5 else c.notify_delay_s)
    return alert_id


def _fold(conn: Connection, c: AlertCandidate, now: datetime, kind: str) -> int | None:
    a = m.alerts
    found = conn.execute(
        select(a.c.id, a.c.severity, a.c.last_seen_at)
        .where(
            a.c.dedup_key == c.dedup_key,
            a.c.kind == kind,
            a.c.status != "closed",
            a.c.last_seen_at >= c.observed_at - timedelta(seconds=c.dedup_window_s),
        )
        .order_by(a.c.id.desc())
        .limit(1)
    ).first()
    if found is None:
        return None
    alert_id, severity, last_seen = int(found[0]), int(found[1]), found[2]
    conn.execute(
        update(a)
        .where(a.c.id == alert_id)
        .values(
            count=a.c.count + 1,
            last_seen_at=max(last_seen, c.observed_at),
            severity=max(severity, c.severity),
            updated_at=now,
        )
    )
    if c.severity > severity:
        # A newly severe alert starts its escalation clock now, not when it was first raised.
        conn.execute(update(a).where(a.c.id == alert_id).values(escalated_at=now))
        audit.append(
            conn,
            actor=SYSTEM,
            action="alert.severity_raised",
            object_type="alert",
            object_id=alert_id,
            at=now,
            detail={"from": severity, "to": c.severity, "event_id": c.event_id},
        )
        if c.notify:
            _enqueue(conn, alert_id, "severity_raised", now, 0)
    return alert_id


def _add_member(
    conn: Connection,
    alert_id: int,
    device_id: str,
    os_user: str,
    event_id: str,
    severity: int,
    at: datetime,
) -> None:
    mm = am.alert_members
    exists = conn.execute(
        select(mm.c.id).where(
            mm.c.alert_id == alert_id, mm.c.device_id == device_id, mm.c.os_user == os_user
        )
    ).first()
    if exists is None:
        conn.execute(
            insert(mm).values(
                alert_id=alert_id,
                device_id=device_id,
                os_user=os_user,
                event_id=event_id,
                severity=severity,
                joined_at=at,
            )
        )


def _refresh_members(conn: Connection, alert_id: int) -> None:
    mm = am.alert_members
    n = conn.execute(
        select(func.count(func.distinct(mm.c.device_id))).where(mm.c.alert_id == alert_id)
    ).scalar_one()
    conn.execute(update(m.alerts).where(m.alerts.c.id == alert_id).values(members=int(n)))


def _raise_cluster(conn: Connection, c: AlertCandidate, now: datetime) -> tuple[int, bool]:
    """Fold into the cohort's open cluster alert, or open one and absorb the cohort's new singles."""
    a = m.alerts
    cluster_id = _fold(conn, c, now, "cluster")
    created = cluster_id is None
    if cluster_id is None:
        cluster_id = _insert_alert(conn, c, now)
        since = c.observed_at - timedelta(seconds=c.cohort_window_s)
        # Only untouched (new) singles below severity 5 join: a severity 5 stands alone, and an
        # alert someone is already working on stays where they left it.
        singles = conn.execute(
            select(
                a.c.id, a.c.device_id, a.c.os_user, a.c.first_event_id, a.c.severity, a.c.created_at
            ).where(
                a.c.cohort_key == c.cohort_key,
                a.c.kind == "single",
                a.c.cluster_id.is_(None),
                a.c.status == "new",
                a.c.severity < 5,
                a.c.last_seen_at >= since,
            )
        ).all()
        for s in singles:
            _add_member(conn, cluster_id, s[1], s[2], s[3], s[4], s[5])
        if singles:
            ids = [int(s[0]) for s in singles]
            conn.execute(
                update(a).where(a.c.id.in_(ids)).values(cluster_id=cluster_id, updated_at=now)
            )
            conn.execute(update(a).where(a.c.id == cluster_id).values(count=1 + len(ids)))
            audit.append(
                conn,
                actor=SYSTEM,
                action="alert.clustered",
                object_type="alert",
                object_id=cluster_id,
                at=now,
                detail={"absorbed": ids},
            )
    _add_member(conn, cluster_id, c.device_id, c.os_user, c.event_id, c.severity, c.observed_at)
    _refresh_members(conn, cluster_id)
    return cluster_id, created


def raise_candidates(
    conn: Connection, candidates: Iterable[AlertCandidate], now: datetime
) -> Raised:
    """Create or fold alerts for trigger candidates inside the caller's transaction."""
    raised = updated = 0
    ids: list[int] = []
    candidates = list(candidates)
    if candidates:
        audit.lock(conn)  # lock order: audit chain, then alert rows (see audit.lock)
    for c in candidates:
        if c.kind == "cluster":
            alert_id, created = _raise_cluster(conn, c, now)
        else:
            folded = _fold(conn, c, now, "single")
            created = folded is None
            alert_id = folded if folded is not None else _insert_alert(conn, c, now)
        if created:
            raised += 1
        else:
            updated += 1
        ids.append(alert_id)
    return Raised(raised, updated, tuple(ids))


# --------------------------------------------------------------------------- reading
def record(r: RowMapping) -> AlertRecord:
    return AlertRecord(
        id=r["id"],
        created_at=r["created_at"],
        last_seen_at=r["last_seen_at"],
        count=r["count"],
        status=r["status"],
        severity=r["severity"],
        category=r["category"],
        rule=r["rule"],
        source=r["source"],
        device_id=r["device_id"],
        hostname=r["hostname"],
        os_user=r["os_user"],
        app=r["app"],
        title=r["title"],
        matched=r["matched"],
        snippet=r["snippet"],
        first_event_id=r["first_event_id"],
        kind=r["kind"],
        assignee=r["assignee"],
        outcome=r["outcome"],
        acknowledged_at=r["acknowledged_at"],
        acknowledged_by=r["acknowledged_by"],
        closed_at=r["closed_at"],
        closed_by=r["closed_by"],
        cluster_id=r["cluster_id"],
        members=r["members"],
        site=r["site"],
        group_name=r["group_name"],
        reasons=tuple(r["reasons"] or ()),
        escalation_step=r["escalation_step"],
        person_id=r["person_id"],
    )


@dataclass(frozen=True, slots=True)
class AlertFilter:
    status: Sequence[str] | None = None
    min_severity: int | None = None
    category: str | None = None
    rule: str | None = None
    assignee: str | None = None
    device_id: str | None = None
    os_user: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    include_members: bool = False  # singles folded into a cluster are hidden by default
    limit: int = 100
    offset: int = 0


@dataclass(frozen=True, slots=True)
class Note:
    id: int
    at: datetime
    author: str
    text: str


@dataclass(frozen=True, slots=True)
class Member:
    device_id: str
    os_user: str
    event_id: str
    severity: int
    joined_at: datetime


@dataclass(frozen=True, slots=True)
class RulePrecision:
    rule: str
    closed: int
    true_positive: int
    false_positive: int
    open: int
    outcomes: dict[str, int]

    @property
    def precision(self) -> float | None:
        return self.true_positive / self.closed if self.closed else None


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    parent_id: int | None
    alert_id: int | None
    event: str
    channel: str | None
    target: str | None
    payload: dict[str, Any]
    attempts: int


class AlertStore:
    """Alert workflow on top of a SqlStore (it shares the engine and SQLite's write lock)."""

    def __init__(self, store: "SqlStore") -> None:
        self.store = store
        self.engine = store.engine

    # --- raising outside ingest (coverage rules, tests)
    def raise_alerts(self, candidates: Sequence[AlertCandidate], now: datetime) -> Raised:
        with self.store._write() as conn:
            return raise_candidates(conn, candidates, now)

    # --- reading
    def _query(self) -> Any:
        a, d = m.alerts, m.devices
        return select(a, d.c.hostname).join(d, d.c.id == a.c.device_id)

    def find(self, f: AlertFilter = AlertFilter()) -> list[AlertRecord]:
        a = m.alerts
        q = self._query().order_by(a.c.severity.desc(), a.c.created_at.desc(), a.c.id.desc())
        if f.status:
            q = q.where(a.c.status.in_(list(f.status)))
        if f.min_severity is not None:
            q = q.where(a.c.severity >= f.min_severity)
        for col, value in (
            (a.c.category, f.category),
            (a.c.rule, f.rule),
            (a.c.assignee, f.assignee),
            (a.c.device_id, f.device_id),
            (a.c.os_user, f.os_user),
        ):
            if value is not None:
                q = q.where(col == value)
        if f.since is not None:
            q = q.where(a.c.created_at >= f.since)
        if f.until is not None:
            q = q.where(a.c.created_at < f.until)
        if not f.include_members:
            q = q.where(a.c.cluster_id.is_(None))
        q = q.limit(f.limit).offset(f.offset)
        with self.engine.connect() as conn:
            return [record(r) for r in conn.execute(q).mappings()]

    def get(self, alert_id: int) -> AlertRecord:
        with self.engine.connect() as conn:
            r = conn.execute(self._query().where(m.alerts.c.id == alert_id)).mappings().first()
        if r is None:
            raise NotFound(f"no alert {alert_id}")
        return record(r)

    def notes(self, alert_id: int) -> list[Note]:
        n = am.alert_notes
        with self.engine.connect() as conn:
            rows = conn.execute(select(n).where(n.c.alert_id == alert_id).order_by(n.c.id))
            return [Note(r.id, r.at, r.author, r.text) for r in rows]

    def members(self, alert_id: int) -> list[Member]:
        mm = am.alert_members
        with self.engine.connect() as conn:
            rows = conn.execute(select(mm).where(mm.c.alert_id == alert_id).order_by(mm.c.id))
            return [
                Member(r.device_id, r.os_user, r.event_id, r.severity, r.joined_at) for r in rows
            ]

    def history(self, alert_id: int) -> list[audit.AuditEntry]:
        with self.engine.connect() as conn:
            return audit.history(conn, "alert", alert_id)

    def verify_audit(self) -> audit.ChainCheck:
        with self.engine.connect() as conn:
            return audit.verify(conn)

    # --- lifecycle
    def _transition(
        self,
        alert_id: int,
        action: str,
        actor: str,
        now: datetime,
        values: dict[str, Any],
        detail: dict[str, Any],
    ) -> AlertRecord:
        allowed, to = TRANSITIONS[action]
        a = m.alerts
        with self.store._write() as conn:
            audit.lock(conn)
            current = conn.execute(
                select(a.c.status, a.c.acknowledged_at).where(a.c.id == alert_id).with_for_update()
            ).first()
            if current is None:
                raise NotFound(f"no alert {alert_id}")
            status, acked_at = current
            if status not in allowed:
                raise WorkflowError(f"cannot {action} an alert that is {status}")
            vals = dict(values, status=to, updated_at=now)
            if acked_at is None and to != "acknowledged":
                # Assigning or closing a new alert acknowledges it on the way.
                vals.setdefault("acknowledged_at", now)
                vals.setdefault("acknowledged_by", actor)
            res = conn.execute(
                update(a).where(a.c.id == alert_id, a.c.status == status).values(**vals)
            )
            if res.rowcount != 1:
                raise WorkflowError(f"alert {alert_id} changed while you were acting on it")
            audit.append(
                conn,
                actor=actor,
                action=f"alert.{action}",
                object_type="alert",
                object_id=alert_id,
                at=now,
                detail={"from": status, "to": to, **detail},
            )
        return self.get(alert_id)

    def acknowledge(self, alert_id: int, actor: str, now: datetime) -> AlertRecord:
        return self._transition(
            alert_id,
            "acknowledge",
            actor,
            now,
            {"acknowledged_at": now, "acknowledged_by": actor},
            {},
        )

    def assign(self, alert_id: int, assignee: str, actor: str, now: datetime) -> AlertRecord:
        assignee = assignee.strip()
        if not assignee:
            raise WorkflowError("assign to whom?", code="invalid")
        return self._transition(
            alert_id, "assign", actor, now, {"assignee": assignee}, {"assignee": assignee}
        )

    def start(self, alert_id: int, actor: str, now: datetime) -> AlertRecord:
        return self._transition(alert_id, "start", actor, now, {}, {})

    def close(
        self, alert_id: int, outcome: str, actor: str, now: datetime, note: str | None = None
    ) -> AlertRecord:
        check_outcome(outcome)
        text = check_note(note) if note else None
        rec = self._transition(
            alert_id,
            "close",
            actor,
            now,
            {"outcome": outcome, "closed_at": now, "closed_by": actor},
            {"outcome": outcome},
        )
        if text:
            self.add_note(alert_id, text, actor, now)
        return rec

    def add_note(self, alert_id: int, text: str, author: str, now: datetime) -> Note:
        text = check_note(text)
        n = am.alert_notes
        with self.store._write() as conn:
            audit.lock(conn)
            if conn.execute(select(m.alerts.c.id).where(m.alerts.c.id == alert_id)).first() is None:
                raise NotFound(f"no alert {alert_id}")
            res = conn.execute(
                insert(n).values(alert_id=alert_id, at=now, author=author, text=text)
            )
            note_id = int(res.inserted_primary_key[0])  # type: ignore[index]
            # The audit row records that a note was added, not its text (the text is in the
            # record; the chain should not grow a second copy of sensitive detail).
            audit.append(
                conn,
                actor=author,
                action="alert.note",
                object_type="alert",
                object_id=alert_id,
                at=now,
                detail={"note_id": note_id, "chars": len(text)},
            )
        return Note(note_id, now, author, text)

    # --- precision from outcomes
    def precision(self, since: datetime | None = None) -> list[RulePrecision]:
        a = m.alerts
        q = (
            select(a.c.rule, a.c.status, a.c.outcome, func.count())
            .group_by(a.c.rule, a.c.status, a.c.outcome)
            .where(a.c.cluster_id.is_(None))
        )
        if since is not None:
            q = q.where(a.c.created_at >= since)
        per: dict[str, dict[str, Any]] = {}
        with self.engine.connect() as conn:
            for rule, status, outcome, n in conn.execute(q):
                p = per.setdefault(rule, {"closed": 0, "fp": 0, "open": 0, "outcomes": {}})
                if status == "closed" and outcome:
                    p["closed"] += n
                    p["outcomes"][outcome] = p["outcomes"].get(outcome, 0) + n
                    if outcome == "false_positive":
                        p["fp"] += n
                else:
                    p["open"] += n
        return [
            RulePrecision(
                rule, p["closed"], p["closed"] - p["fp"], p["fp"], p["open"], p["outcomes"]
            )
            for rule, p in sorted(per.items())
        ]

    # --- escalation
    def escalation_due(self, severities: Sequence[int], older_than: datetime) -> list[AlertRecord]:
        """Open alerts nobody acknowledged whose current escalation step began before the cut."""
        a = m.alerts
        q = (
            self._query()
            .where(
                a.c.status == "new",
                a.c.cluster_id.is_(None),
                a.c.severity.in_(list(severities)),
                a.c.escalated_at <= older_than,
            )
            .order_by(a.c.id)
        )
        with self.engine.connect() as conn:
            return [record(r) for r in conn.execute(q).mappings()]

    def escalate(
        self,
        alert_id: int,
        from_step: int,
        to_step: int,
        contacts: Sequence[dict[str, str]],
        now: datetime,
    ) -> bool:
        """Move an unacknowledged alert to the next rota step: record it and queue the messages.
        False when someone acknowledged it (or another replica escalated it) meanwhile."""
        a = m.alerts
        with self.store._write() as conn:
            audit.lock(conn)
            res = conn.execute(
                update(a)
                .where(a.c.id == alert_id, a.c.status == "new", a.c.escalation_step == from_step)
                .values(escalation_step=to_step, escalated_at=now, updated_at=now)
            )
            if res.rowcount != 1:
                return False
            audit.append(
                conn,
                actor=SYSTEM,
                action="alert.escalated",
                object_type="alert",
                object_id=alert_id,
                at=now,
                detail={"step": to_step, "contacts": [c["name"] for c in contacts]},
            )
            for contact in contacts:
                for channel, target in contact_targets(contact):
                    conn.execute(
                        insert(am.outbox).values(
                            alert_id=alert_id,
                            event="escalated",
                            channel=channel,
                            target=target,
                            payload={"step": to_step, "contact": contact["name"]},
                            status="pending",
                            attempts=0,
                            next_attempt_at=now,
                            created_at=now,
                        )
                    )
        return True

    # --- outbox
    def claim_due(
        self, owner: str, now: datetime, limit: int = 50, lease: timedelta = timedelta(seconds=60)
    ) -> list[Claimed]:
        """Lease due outbox rows to this dispatcher. PostgreSQL: FOR UPDATE SKIP LOCKED, so many
        replicas share the work; SQLite: the store's write lock serialises claims."""
        o = am.outbox
        with self.store._write() as conn:
            rows = (
                conn.execute(
                    select(o)
                    .where(
                        o.c.status == "pending",
                        o.c.next_attempt_at <= now,
                        or_(o.c.lease_until.is_(None), o.c.lease_until < now),
                    )
                    .order_by(o.c.next_attempt_at, o.c.id)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
                .mappings()
                .all()
            )
            if not rows:
                return []
            ids = [r["id"] for r in rows]
            conn.execute(
                update(o).where(o.c.id.in_(ids)).values(lease_owner=owner, lease_until=now + lease)
            )
        return [
            Claimed(
                r["id"],
                r["parent_id"],
                r["alert_id"],
                r["event"],
                r["channel"],
                r["target"],
                dict(r["payload"] or {}),
                r["attempts"],
            )
            for r in rows
        ]

    def expand(self, parent: Claimed, targets: Sequence[tuple[str, str]], now: datetime) -> None:
        """Turn an alert-level outbox row into one row per recipient (or skip it if none)."""
        o = am.outbox
        with self.store._write() as conn:
            for channel, target in targets:
                conn.execute(
                    insert(o).values(
                        parent_id=parent.id,
                        alert_id=parent.alert_id,
                        event=parent.event,
                        channel=channel,
                        target=target,
                        payload=parent.payload,
                        status="pending",
                        attempts=0,
                        next_attempt_at=now,
                        created_at=now,
                    )
                )
            conn.execute(
                update(o)
                .where(o.c.id == parent.id)
                .values(
                    status="expanded" if targets else "skipped",
                    done_at=now,
                    lease_until=None,
                    last_error=None if targets else "no recipients configured",
                )
            )

    def finish(
        self,
        row: Claimed,
        *,
        ok: bool,
        detail: str,
        duration_ms: int,
        now: datetime,
        retry_at: datetime | None,
    ) -> None:
        """Record one delivery attempt and settle the row: done, retry later, or failed."""
        o = am.outbox
        attempt = row.attempts + 1
        if ok:
            values: dict[str, Any] = {"status": "done", "done_at": now, "last_error": None}
        elif retry_at is not None:
            values = {"status": "pending", "next_attempt_at": retry_at, "last_error": detail[:512]}
        else:
            values = {"status": "failed", "done_at": now, "last_error": detail[:512]}
        with self.store._write() as conn:
            conn.execute(
                update(o)
                .where(o.c.id == row.id)
                .values(attempts=attempt, lease_owner=None, lease_until=None, **values)
            )
            conn.execute(
                insert(am.delivery_log).values(
                    outbox_id=row.id,
                    alert_id=row.alert_id,
                    at=now,
                    channel=row.channel or "",
                    target=row.target or "",
                    attempt=attempt,
                    ok=ok,
                    detail=detail[:512],
                    duration_ms=duration_ms,
                )
            )

    def skip(self, row: Claimed, reason: str, now: datetime) -> None:
        o = am.outbox
        with self.store._write() as conn:
            conn.execute(
                update(o)
                .where(o.c.id == row.id)
                .values(status="skipped", done_at=now, lease_until=None, last_error=reason[:512])
            )

    def enqueue_report(
        self, targets: Sequence[tuple[str, str]], payload: dict[str, Any], now: datetime
    ) -> None:
        with self.store._write() as conn:
            for channel, target in targets:
                conn.execute(
                    insert(am.outbox).values(
                        event="report",
                        channel=channel,
                        target=target,
                        payload=payload,
                        status="pending",
                        attempts=0,
                        next_attempt_at=now,
                        created_at=now,
                    )
                )

    def deliveries(self, alert_id: int | None = None) -> list[dict[str, Any]]:
        d = am.delivery_log
        q = select(d).order_by(d.c.id)
        if alert_id is not None:
            q = q.where(d.c.alert_id == alert_id)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    def outbox_rows(self, alert_id: int | None = None) -> list[dict[str, Any]]:
        q = select(am.outbox).order_by(am.outbox.c.id)
        if alert_id is not None:
            q = q.where(am.outbox.c.alert_id == alert_id)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    # --- leases and job state (several collector replicas, one runner per job)
    def acquire_lease(self, name: str, owner: str, ttl: timedelta, now: datetime) -> bool:
        lease = am.job_leases
        with self.store._write() as conn:
            res = conn.execute(
                update(lease)
                .where(lease.c.name == name, or_(lease.c.owner == owner, lease.c.until < now))
                .values(owner=owner, until=now + ttl)
            )
            if res.rowcount == 1:
                return True
            if conn.execute(select(lease.c.name).where(lease.c.name == name)).first() is not None:
                return False
        try:
            with self.store._write() as conn:
                conn.execute(insert(lease).values(name=name, owner=owner, until=now + ttl))
            return True
        except Exception:  # another replica inserted the row first (unique violation)
            return False

    def get_lease_owner(self, name: str) -> str | None:
        lease = am.job_leases
        with self.engine.connect() as conn:
            return conn.execute(
                select(lease.c.owner).where(lease.c.name == name)
            ).scalar_one_or_none()

    def release_lease(self, name: str, owner: str) -> None:
        lease = am.job_leases
        with self.store._write() as conn:
            conn.execute(delete(lease).where(lease.c.name == name, lease.c.owner == owner))

    def get_state(self, name: str) -> Any:
        s = am.job_state
        with self.engine.connect() as conn:
            return conn.execute(select(s.c.value).where(s.c.name == name)).scalar_one_or_none()

    def set_state(self, name: str, value: Any) -> None:
        s = am.job_state
        with self.store._write() as conn:
            conn.execute(delete(s).where(s.c.name == name))
            conn.execute(insert(s).values(name=name, value=value))

    def prune_trigger_state(self, now: datetime) -> int:
        with self.store._write() as conn:
            n = conn.execute(delete(am.trigger_hits).where(am.trigger_hits.c.expires_at < now))
            conn.execute(
                delete(am.trigger_suppressions).where(am.trigger_suppressions.c.until < now)
            )
            return int(n.rowcount or 0)

    # --- reports
    def save_report(
        self, kind: str, start: datetime, end: datetime, data: dict[str, Any], now: datetime
    ) -> bool:
        """Store a report once per period; False when another replica already made it."""
        r = am.reports
        with self.store._write() as conn:
            exists = conn.execute(
                select(r.c.id).where(r.c.kind == kind, r.c.period_start == start)
            ).first()
            if exists is not None:
                return False
            conn.execute(
                insert(r).values(
                    kind=kind, period_start=start, period_end=end, created_at=now, data=data
                )
            )
        return True

    def latest_report(self, kind: str) -> dict[str, Any] | None:
        recent = self.recent_reports(kind, limit=1)
        return recent[0] if recent else None

    def recent_reports(self, kind: str, limit: int = 26) -> list[dict[str, Any]]:
        """Stored reports of one kind, newest period first."""
        r = am.reports
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(r.c.data)
                .where(r.c.kind == kind)
                .order_by(r.c.period_start.desc())
                .limit(limit)
            ).all()
        return [dict(row[0]) for row in rows]

    def alerts_between(self, start: datetime, end: datetime) -> list[AlertRecord]:
        a = m.alerts
        q = self._query().where(
            a.c.created_at >= start, a.c.created_at < end, a.c.cluster_id.is_(None)
        )
        with self.engine.connect() as conn:
            return [record(r) for r in conn.execute(q).mappings()]

    def closed_between(self, start: datetime, end: datetime) -> list[AlertRecord]:
        a = m.alerts
        q = self._query().where(
            a.c.closed_at >= start, a.c.closed_at < end, a.c.cluster_id.is_(None)
        )
        with self.engine.connect() as conn:
            return [record(r) for r in conn.execute(q).mappings()]

    def open_alerts(self, before: datetime) -> list[AlertRecord]:
        a = m.alerts
        q = self._query().where(
            a.c.status != "closed", a.c.created_at < before, a.c.cluster_id.is_(None)
        )
        with self.engine.connect() as conn:
            return [record(r) for r in conn.execute(q).mappings()]

    def coverage_events_after(
        self, cursor: datetime, kinds: Sequence[str], limit: int = 5000
    ) -> list[RowMapping]:
        e = m.events
        q = (
            select(e)
            .where(e.c.kind.in_(list(kinds)), e.c.received_at > cursor)
            .order_by(e.c.received_at)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return list(conn.execute(q).mappings().all())


def contact_targets(contact: dict[str, str]) -> list[tuple[str, str]]:
    """(channel, target) pairs for one rota contact: email and/or a personal webhook."""
    out = []
    if contact.get("email"):
        out.append(("email", contact["email"]))
    for channel in ("teams", "slack", "webhook"):
        if contact.get(channel):
            out.append((channel, contact[channel]))
    return out
