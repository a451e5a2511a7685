"""Alert actions from the console: acknowledge, assign, note, close with an outcome.

The rules are collector.alerts.workflow's. When the workflow's `AlertStore` is available the
console calls it (one implementation of the lifecycle); until then `_DirectActions` applies the
same rules with a conditional UPDATE and an audit row in one transaction.
"""

from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import insert, select, update

from collector.alerts import workflow
from collector.alerts.models import alert_notes
from collector.clock import utcnow
from collector.store import Store
from collector.store import models as m
from collector.web.audit import append, write

WorkflowError = workflow.WorkflowError
OUTCOMES = workflow.OUTCOMES


class AlertActions(Protocol):
    def acknowledge(self, alert_id: int, actor: str) -> None: ...
    def assign(self, alert_id: int, assignee: str, actor: str) -> None: ...
    def note(self, alert_id: int, text: str, actor: str) -> None: ...
    def close(self, alert_id: int, outcome: str, actor: str, note: str = "") -> None: ...


def notes(store: Store, alert_id: int) -> list[dict[str, Any]]:
    n = alert_notes
    with store.engine.connect() as conn:  # type: ignore[attr-defined]
        rows = conn.execute(
            select(n.c.at, n.c.author, n.c.text).where(n.c.alert_id == alert_id).order_by(n.c.at)
        ).mappings()
        return [dict(r) for r in rows]


class _DirectActions:
    def __init__(self, store: Store) -> None:
        self.store = store

    def _transition(self, alert_id: int, action: str, actor: str, **values: Any) -> None:
        allowed_from, to = workflow.TRANSITIONS[action]
        a = m.alerts
        now = utcnow()
        with write(self.store) as conn:
            current = conn.execute(select(a.c.status).where(a.c.id == alert_id)).scalar()
            if current is None:
                raise WorkflowError(f"no alert {alert_id}", code="not_found")
            if current not in allowed_from:
                raise WorkflowError(f"cannot {action} an alert that is {current}")
            extra: dict[str, Any] = dict(values)
            if action == "acknowledge" or (action == "assign" and current == "new"):
                extra.update(acknowledged_at=now, acknowledged_by=actor)
            if action == "close":
                extra.update(closed_at=now, closed_by=actor)
            res = conn.execute(
                update(a)
                .where(a.c.id == alert_id, a.c.status == current)
                .values(status=to, updated_at=now, **extra)
            )
            if res.rowcount != 1:
                raise WorkflowError("someone else changed this alert; reload and try again")
            append(
                conn,
                actor,
                f"alert.{action}",
                "alert",
                alert_id,
                {"from": current, "to": to, **{k: _plain(v) for k, v in values.items()}},
            )

    def acknowledge(self, alert_id: int, actor: str) -> None:
        self._transition(alert_id, "acknowledge", actor)

    def assign(self, alert_id: int, assignee: str, actor: str) -> None:
        self._transition(alert_id, "assign", actor, assignee=assignee)

    def note(self, alert_id: int, text: str, actor: str) -> None:
        text = workflow.check_note(text)
        with write(self.store) as conn:
            exists = conn.execute(select(m.alerts.c.id).where(m.alerts.c.id == alert_id)).first()
            if exists is None:
                raise WorkflowError(f"no alert {alert_id}", code="not_found")
            conn.execute(
                insert(alert_notes).values(alert_id=alert_id, at=utcnow(), author=actor, text=text)
            )
            append(conn, actor, "alert.note", "alert", alert_id, {"chars": len(text)})

    def close(self, alert_id: int, outcome: str, actor: str, note: str = "") -> None:
        workflow.check_outcome(outcome)
        if note.strip():
            self.note(alert_id, note, actor)
        self._transition(alert_id, "close", actor, outcome=outcome)


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def actions_for(store: Store) -> AlertActions:
    """The workflow's own store when it exists, else the direct implementation."""
    return _DirectActions(store)
