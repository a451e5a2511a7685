"""Escalation: an unacknowledged alert moves down the on-call rota until someone acknowledges.

The rota (collector.alerts.config) lists contacts per severity for working hours and out of hours.
A new alert pages contact 0 (notify.initial_targets). Every `ack_timeout` (default 10 minutes)
that it stays `new`, the tick moves it one step: contact 1, 2, … and round again, recording each
step in the audit log and queueing the messages in the outbox. Acknowledging (or assigning, or
closing) stops it. The step update is conditional, so two replicas never escalate the same step.
"""

from dataclasses import dataclass
from datetime import datetime

from collector.alerts.config import AlertsConfig
from collector.alerts.store import AlertStore
from collector.triggers.calendar import Calendar


@dataclass(frozen=True, slots=True)
class Escalated:
    alert_id: int
    step: int
    contact: str


def escalation_tick(
    alerts: AlertStore, config: AlertsConfig, calendar: Calendar, now: datetime
) -> list[Escalated]:
    """Escalate every alert whose current step has waited longer than its rota's timeout."""
    done: list[Escalated] = []
    for entry in config.rota:
        contacts = entry.contacts(calendar, now)
        if not contacts:
            continue
        for alert in alerts.escalation_due(entry.severities, now - entry.timeout):
            step = alert.escalation_step + 1
            contact = contacts[step % len(contacts)]
            if alerts.escalate(alert.id, alert.escalation_step, step, [contact.as_dict()], now):
                done.append(Escalated(alert.id, step, contact.name))
    return done
