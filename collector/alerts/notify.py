"""Notifications: messages (email, Microsoft Teams, Slack, generic webhook), the senders, and the
dispatcher that delivers the outbox with retries, backoff and a delivery log.

Alert and outbox rows are written in the ingest transaction; this module only ever reads the
outbox after that commit, so a crash between commit and send delays a message, never loses it.
By default a message carries no evidence (no matched text, snippet, user or device): "a severity 5
alert needs you" and a link to the console, where access is controlled and audited.
"""

import asyncio
import json
import logging
import random
import smtplib
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any, Protocol

from collector.alerts.config import AlertsConfig, SmtpConfig
from collector.alerts.store import AlertStore, Claimed
from collector.clock import utcnow
from collector.store.interface import AlertRecord, NotFound
from collector.triggers.calendar import Calendar

log = logging.getLogger(__name__)

SEVERITY_WORDS = {1: "logged", 2: "low", 3: "may escalate", 4: "needs attention", 5: "immediate"}


@dataclass(frozen=True, slots=True)
class Message:
    subject: str
    text: str
    link: str
    severity: int
    fields: tuple[tuple[str, str], ...] = ()  # extra facts (evidence only when enabled)


class DeliveryError(Exception):
    """A send that failed; `permanent` ones are not retried (e.g. a 4xx from a webhook)."""

    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Sender(Protocol):
    def send(self, target: str, message: Message) -> str:
        """Deliver or raise DeliveryError; returns a short receipt for the delivery log."""


# --------------------------------------------------------------------------- messages
def alert_message(
    alert: AlertRecord, event: str, config: AlertsConfig, step: int | None = None
) -> Message:
    link = f"{config.console_url.rstrip('/')}/alerts/{alert.id}"
    sev = alert.severity
    what = "cluster alert" if alert.kind == "cluster" else "alert"
    if event == "escalated":
        subject = f"[Lantern] Escalated: severity {sev} {what} #{alert.id} is not acknowledged"
        lead = (
            f"A severity {sev} safeguarding {what} has not been acknowledged and is now "
            f"escalated to you (step {step})."
        )
    elif event == "severity_raised":
        subject = f"[Lantern] Severity {sev} {what} #{alert.id} needs you"
        lead = f"A safeguarding {what} has risen to severity {sev} ({SEVERITY_WORDS[sev]})."
    else:
        subject = f"[Lantern] Severity {sev} {what} #{alert.id} needs you"
        lead = f"A severity {sev} safeguarding {what} ({SEVERITY_WORDS[sev]}) needs you."
    fields: list[tuple[str, str]] = []
    if config.include_evidence:
        fields = [
            ("Category", alert.category),
            ("Rule", alert.rule),
            ("Device", alert.hostname),
            ("User", alert.os_user),
            ("Matched", alert.matched),
            ("Context", alert.snippet),
        ]
        if alert.kind == "cluster":
            fields.append(("Devices", str(alert.members)))
    text = (
        f"{lead}\n\nOpen it in Lantern: {link}\n\n"
        + "".join(f"{k}: {v}\n" for k, v in fields)
        + ("\n" if fields else "")
        + "This message deliberately holds no evidence; sign in to see the alert. "
        "Acknowledging it in the console stops escalation.\n"
    )
    return Message(subject, text, link, sev, tuple(fields))


def teams_payload(message: Message) -> dict[str, Any]:
    """An Adaptive Card in the envelope Teams incoming webhooks and Workflows accept."""
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": message.subject.removeprefix("[Lantern] "),
            "weight": "Bolder",
            "size": "Medium",
            "wrap": True,
            "color": "Attention" if message.severity >= 4 else "Default",
        },
        {"type": "TextBlock", "text": message.text.split("\n\n")[0], "wrap": True},
    ]
    if message.fields:
        body.append(
            {"type": "FactSet", "facts": [{"title": k, "value": v} for k, v in message.fields]}
        )
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": body,
                    "actions": [
                        {"type": "Action.OpenUrl", "title": "Open in Lantern", "url": message.link}
                    ],
                },
            }
        ],
    }


def slack_payload(message: Message) -> dict[str, Any]:
    """Slack incoming-webhook message: `text` for notifications, blocks for the layout."""
    blocks: list[dict[str, Any]] = [
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": f"*{message.subject.removeprefix('[Lantern] ')}*\n"
                f"{message.text.split(chr(10) * 2)[0]}",
            },
        },
    ]
    if message.fields:
        blocks.append(
            {
                "type": "section",
                "fields": [{"type": "mrkdwn", "text": f"*{k}*\n{v}"} for k, v in message.fields][
                    :10
                ],
            }
        )
    blocks.append(
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "Open in Lantern"},
                    "url": message.link,
                }
            ],
        }
    )
    return {"text": message.subject, "blocks": blocks}


def generic_payload(message: Message) -> dict[str, Any]:
    return {
        "subject": message.subject,
        "severity": message.severity,
        "url": message.link,
        "text": message.text,
        "fields": dict(message.fields),
    }


# --------------------------------------------------------------------------- senders
class SmtpSender:
    def __init__(self, config: SmtpConfig) -> None:
        self.config = config

    def send(self, target: str, message: Message) -> str:
        c = self.config
        msg = EmailMessage()
        msg["From"] = c.sender
        msg["To"] = target
        msg["Subject"] = message.subject
        msg["Message-ID"] = make_msgid(domain=c.sender.rpartition("@")[2] or "lantern")
        msg.set_content(message.text)
        try:
            smtp_cls = smtplib.SMTP_SSL if c.ssl else smtplib.SMTP
            with smtp_cls(c.host, c.port, timeout=c.timeout_seconds) as smtp:
                if c.starttls and not c.ssl:
                    smtp.starttls(context=ssl.create_default_context())
                if c.username:
                    smtp.login(c.username, c.password)
                refused = smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError(f"recipient refused: {exc.recipients}", permanent=True) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"smtp: {type(exc).__name__}: {exc}") from None
        if refused:
            raise DeliveryError(f"recipient refused: {refused}", permanent=True)
        return f"accepted by {c.host}:{c.port}"


class WebhookSender:
    """POSTs JSON; 2xx is delivered, 429/5xx/network errors retry, other 4xx are permanent."""

    def __init__(self, payload: Callable[[Message], dict[str, Any]], timeout: float = 10.0) -> None:
        self.payload = payload
        self.timeout = timeout

    def send(self, target: str, message: Message) -> str:
        if not target.startswith(("https://", "http://")):
            raise DeliveryError("webhook URL must be http(s)", permanent=True)
        body = json.dumps(self.payload(message)).encode()
        req = urllib.request.Request(
            target,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "lantern-collector"},
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return f"HTTP {resp.status}"
        except urllib.error.HTTPError as exc:
            permanent = 400 <= exc.code < 500 and exc.code not in (408, 429)
            raise DeliveryError(f"HTTP {exc.code}", permanent=permanent) from None
        except (urllib.error.URLError, OSError) as exc:
            raise DeliveryError(f"webhook: {exc}") from None


def default_senders(config: AlertsConfig) -> dict[str, Sender]:
    return {
        "email": SmtpSender(config.smtp),
        "teams": WebhookSender(teams_payload),
        "slack": WebhookSender(slack_payload),
        "webhook": WebhookSender(generic_payload),
    }


def backoff(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with ±20 % jitter: base · 2^(attempt-1), capped."""
    delay = min(cap, base * 2 ** max(0, attempt - 1))
    return delay * (0.8 + 0.4 * (rng or random).random())


def initial_targets(
    alert: AlertRecord, config: AlertsConfig, calendar: Calendar, now: datetime
) -> list[tuple[str, str]]:
    """Who hears about a new alert: broadcast channels at its severity and the rota's first
    contact for the time of day."""
    targets: list[tuple[str, str]] = []
    for ch in config.channels:
        if alert.severity >= ch.min_severity:
            targets.extend(ch.targets())
    entry = config.rota_for(alert.severity)
    if entry is not None:
        contacts = entry.contacts(calendar, now)
        if contacts:
            targets.extend(contacts[0].targets())
    seen: set[tuple[str, str]] = set()
    return [t for t in targets if not (t in seen or seen.add(t))]  # type: ignore[func-returns-value]


# --------------------------------------------------------------------------- dispatcher
class Dispatcher:
    """Delivers due outbox rows. Safe on several replicas: rows are leased when claimed."""

    def __init__(
        self,
        alerts: AlertStore,
        config: AlertsConfig,
        calendar: Calendar,
        owner: str,
        senders: dict[str, Sender] | None = None,
        clock: Callable[[], datetime] = utcnow,
        concurrency: int = 8,
    ) -> None:
        self.alerts = alerts
        self.config = config
        self.calendar = calendar
        self.owner = owner
        self.senders = senders if senders is not None else default_senders(config)
        self.clock = clock
        self.concurrency = concurrency
        self.wake = asyncio.Event()

    async def run_once(self) -> int:
        """Claim and handle everything due now; returns how many rows were handled."""
        handled = 0
        sem = asyncio.Semaphore(self.concurrency)

        async def one(row: Claimed) -> None:
            async with sem:
                await self._handle(row)

        while True:
            now = self.clock()
            rows = await asyncio.to_thread(self.alerts.claim_due, self.owner, now, 50)
            if not rows:
                return handled
            await asyncio.gather(*(one(r) for r in rows))
            handled += len(rows)

    async def run_forever(self, interval: float = 0.25) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:
                log.exception("outbox dispatch failed; retrying")
            try:
                await asyncio.wait_for(self.wake.wait(), interval)
            except TimeoutError:
                pass
            self.wake.clear()

    async def _handle(self, row: Claimed) -> None:
        try:
            await asyncio.to_thread(self._handle_sync, row)
        except Exception:
            log.exception("outbox row %s failed unexpectedly", row.id)

    def _alert(self, row: Claimed) -> AlertRecord | None:
        if row.alert_id is None:
            return None
        try:
            return self.alerts.get(row.alert_id)
        except NotFound:
            return None

    def _stale_reason(self, row: Claimed, alert: AlertRecord | None) -> str:
        if row.event == "report":
            return ""
        if alert is None:
            return "alert no longer exists"
        if alert.cluster_id is not None:
            return f"absorbed into cluster alert #{alert.cluster_id}"
        if row.event == "escalated" and alert.status != "new":
            return f"already {alert.status}"
        if alert.status == "closed":
            return "alert closed before delivery"
        return ""

    def _handle_sync(self, row: Claimed) -> None:
        now = self.clock()
        alert = self._alert(row)
        stale = self._stale_reason(row, alert)
        if stale:
            self.alerts.skip(row, stale, now)
            return
        if row.channel is None:
            assert alert is not None
            self.alerts.expand(row, initial_targets(alert, self.config, self.calendar, now), now)
            self.wake.set()
            return
        if row.event == "report":
            message = Message(
                str(row.payload.get("subject", "[Lantern] Report")),
                str(row.payload.get("text", "")),
                str(row.payload.get("link", self.config.console_url)),
                0,
            )
        else:
            assert alert is not None
            message = alert_message(alert, row.event, self.config, row.payload.get("step"))
        sender = self.senders.get(row.channel)
        started = time.perf_counter()
        if sender is None:
            ok, detail, permanent = False, f"no sender for channel {row.channel!r}", True
        else:
            try:
                detail = sender.send(row.target or "", message)
                ok, permanent = True, False
            except DeliveryError as exc:
                ok, detail, permanent = False, str(exc), exc.permanent
        ms = int((time.perf_counter() - started) * 1000)
        retry_at = None
        attempt = row.attempts + 1
        if not ok and not permanent and attempt < self.config.retry.max_attempts:
            delay = backoff(attempt, self.config.retry.base_seconds, self.config.retry.max_seconds)
            retry_at = self.clock() + timedelta(seconds=delay)
        if not ok:
            log.warning(
                "delivery %s to %s via %s failed (attempt %d): %s",
                row.id,
                _redact(row.target or ""),
                row.channel,
                attempt,
                detail,
            )
        self.alerts.finish(
            row, ok=ok, detail=detail, duration_ms=ms, now=self.clock(), retry_at=retry_at
        )


def _redact(target: str) -> str:
    """Webhook URLs embed their secret; log only the host."""
    if target.startswith("http"):
        return target.split("/")[2]
    return target
