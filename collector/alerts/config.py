"""Who hears about alerts and how: SMTP, broadcast channels, the on-call rota, retries, the weekly
report. Loaded from one YAML file (settings.alerts_config); secrets come from the environment.

    console_url: https://lantern.college.example
    include_evidence: false          # never put matched text or snippets in messages by default
    smtp: {host: mail.college.example, port: 587, starttls: true, username: lantern,
           password_env: LANTERN_SMTP_PASSWORD, sender: lantern@college.example}
    channels:                        # everyone here hears about alerts at or above min_severity
      - {name: DSL team, email: dsl-team@college.example, min_severity: 4}
      - {name: Safeguarding channel, teams: "https://…webhook…", min_severity: 3}
      - {name: Slack, slack: "https://hooks.slack.com/services/…", min_severity: 5}
    rota:                            # per severity: who is paged, in order, until someone acks
      - severities: [5]
        ack_timeout: 10m
        working_hours: [{name: DSL, email: dsl@…}, {name: Deputy DSL, email: deputy@…}]
        out_of_hours: [{name: On-call DSL, email: oncall@…}, {name: Principal, email: p@…}]
    retry: {max_attempts: 8, base_seconds: 5, max_seconds: 900}
    weekly_report: {recipients: [dsl@college.example], weekday: mon, hour: 7}
"""

import os
from datetime import datetime, timedelta
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from collector.triggers.calendar import Calendar
from collector.triggers.rules import parse_duration


class ConfigError(ValueError):
    """An alerts config that cannot be used; the message names the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SmtpConfig(_Strict):
    host: str = "localhost"
    port: int = 25
    starttls: bool = False
    ssl: bool = False
    username: str = ""
    password_env: str = "LANTERN_SMTP_PASSWORD"
    sender: str = "lantern@localhost"
    timeout_seconds: float = 10.0

    @property
    def password(self) -> str:
        return os.environ.get(self.password_env, "")


class Contact(_Strict):
    """A person or a channel: any of an email address and Teams/Slack/generic webhook URLs."""

    name: str
    email: str = ""
    teams: str = ""
    slack: str = ""
    webhook: str = ""
    min_severity: int = Field(default=1, ge=1, le=5)

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in self.model_dump().items() if isinstance(v, str) and v}

    def targets(self) -> list[tuple[str, str]]:
        out = [("email", self.email)] if self.email else []
        out += [
            (ch, getattr(self, ch)) for ch in ("teams", "slack", "webhook") if getattr(self, ch)
        ]
        return out


class RotaEntry(_Strict):
    severities: list[int] = [5]
    ack_timeout: str | int = "10m"
    working_hours: list[Contact] = []
    out_of_hours: list[Contact] = []

    @field_validator("ack_timeout")
    @classmethod
    def _duration(cls, v: str | int) -> str | int:
        parse_duration(v)
        return v

    @property
    def timeout(self) -> timedelta:
        return parse_duration(self.ack_timeout)

    def contacts(self, calendar: Calendar, at: datetime) -> list[Contact]:
        """Working-hours contacts during the college day, else the out-of-hours list (falling
        back to the working-hours list when no out-of-hours cover is configured)."""
        if calendar.is_working_hours(at) or not self.out_of_hours:
            return list(self.working_hours)
        return list(self.out_of_hours)


class RetryConfig(_Strict):
    max_attempts: int = Field(default=8, ge=1)
    base_seconds: float = Field(default=5.0, gt=0)
    max_seconds: float = Field(default=900.0, gt=0)


class WeeklyReportConfig(_Strict):
    recipients: list[str] = []
    weekday: str = "mon"
    hour: int = Field(default=7, ge=0, le=23)


class AlertsConfig(_Strict):
    console_url: str = "http://127.0.0.1:8080"
    include_evidence: bool = False
    smtp: SmtpConfig = SmtpConfig()
    channels: list[Contact] = []
    rota: list[RotaEntry] = []
    retry: RetryConfig = RetryConfig()
    weekly_report: WeeklyReportConfig = WeeklyReportConfig()

    def rota_for(self, severity: int) -> RotaEntry | None:
        for entry in self.rota:
            if severity in entry.severities:
                return entry
        return None


def load_alerts_config(path: Path | None) -> AlertsConfig:
    """Read the YAML file; no path means defaults (no recipients: alerts show in the console)."""
    if path is None:
        return AlertsConfig()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    try:
        return AlertsConfig.model_validate(data)
    except ValidationError as exc:
        msgs = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: "
            f"{'unknown field' if e['type'] == 'extra_forbidden' else e['msg']}"
            for e in exc.errors()
        )
        raise ConfigError(f"{path}: {msgs}") from None
