"""Alert actions from the console: acknowledge, assign, note, close with an outcome.

The lifecycle belongs to collector.alerts (workflow rules, AlertStore applying them atomically
with an audit row); the console only translates form posts into those calls.
"""

from dataclasses import dataclass
from typing import Any

from collector.alerts import workflow
from collector.alerts.store import AlertStore
from collector.clock import utcnow
from collector.store import NotFound, Store

OUTCOMES = workflow.OUTCOMES


@dataclass(frozen=True, slots=True)
class ActionRefused(Exception):
    """The action cannot be done; `not_found` for an unknown alert."""

    message: str
    not_found: bool = False

    def __str__(self) -> str:
        return self.message


class AlertActions:
    def __init__(self, store: Store) -> None:
        self._alerts = AlertStore(store)  # type: ignore[arg-type]

    def _run(self, fn: Any, *args: Any) -> None:
        try:
            fn(*args)
        except NotFound as exc:
            raise ActionRefused(str(exc), not_found=True) from None
        except workflow.WorkflowError as exc:
            raise ActionRefused(str(exc)) from None

    def acknowledge(self, alert_id: int, actor: str) -> None:
        self._run(self._alerts.acknowledge, alert_id, actor, utcnow())

    def assign(self, alert_id: int, assignee: str, actor: str) -> None:
        self._run(self._alerts.assign, alert_id, assignee, actor, utcnow())

    def note(self, alert_id: int, text: str, actor: str) -> None:
        self._run(self._alerts.add_note, alert_id, text, actor, utcnow())

    def close(self, alert_id: int, outcome: str, actor: str, note: str = "") -> None:
        self._run(self._alerts.close, alert_id, outcome, actor, utcnow(), note.strip() or None)

    def members(self, alert_id: int) -> list[dict[str, Any]]:
        """The devices and logins folded into a cohort cluster alert."""
        return [
            {
                "device_id": x.device_id,
                "os_user": x.os_user,
                "severity": x.severity,
                "joined_at": x.joined_at,
            }
            for x in self._alerts.members(alert_id)
        ]

    def history(self, alert_id: int) -> list[dict[str, Any]]:
        """Everything done to the alert, from the audit chain, oldest first."""
        return [
            {
                "at": h.at,
                "actor": h.actor,
                "action": h.action.removeprefix("alert."),
                "detail": h.detail,
            }
            for h in self._alerts.history(alert_id)
        ]

    def notes(self, alert_id: int) -> list[dict[str, Any]]:
        return [
            {"at": n.at, "author": n.author, "text": n.text} for n in self._alerts.notes(alert_id)
        ]
