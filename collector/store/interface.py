"""The storage interface every backend implements, and the records it speaks in.

One interface, one contract test suite (tests/collector/store/) run against SQLite and PostgreSQL.
"""

import abc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol


class StoreError(Exception):
    """Base class for storage errors callers are expected to handle."""


class NotFound(StoreError):
    """The record asked for does not exist."""


class TokenRejected(StoreError):
    """An enrolment or API token is unknown, expired, used up or revoked."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: int
    email: str
    role: str
    password_hash: str
    disabled: bool


@dataclass(frozen=True, slots=True)
class DeviceRegistration:
    instance_id: str
    hostname: str
    hardware_serial: str
    os: str
    os_version: str
    agent_version: str


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    id: str
    instance_id: str
    hostname: str
    hardware_serial: str
    os: str
    os_version: str
    agent_version: str
    group_name: str | None
    enrolled_at: datetime
    last_seen_at: datetime | None
    last_event_at: datetime | None
    last_seq: int
    capabilities: dict[str, str]
    spool_depth: int
    revoked: bool
    clone_suspected_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class EventRow:
    """One event as the store keeps it; built by ingest from the wire message."""

    event_id: str
    device_id: str
    seq: int
    kind: str
    observed_at: datetime
    received_at: datetime
    os_user: str
    app: str
    title: str
    detail: dict[str, Any] = field(default_factory=dict)
    # `detail` already encoded as JSON (ingest builds it without a second walk over the dict);
    # "" means the store encodes `detail` itself. It must encode the same mapping.
    detail_json: str = field(default="", compare=False, repr=False)
    # `observed_at` as the store's naive-UTC text ('YYYY-MM-DD HH:MM:SS.ffffff'), when ingest
    # already made it; "" means the store formats `observed_at` itself.
    observed_text: str = field(default="", compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class AlertCandidate:
    """What a trigger wants raised; the store creates an alert or folds it into an open one."""

    dedup_key: str
    severity: int
    category: str
    rule: str
    source: str
    device_id: str
    os_user: str
    app: str
    title: str
    matched: str
    snippet: str
    event_id: str
    observed_at: datetime
    # Repeats with the same dedup_key fold into an open alert last seen within this window.
    dedup_window_s: float = 3600.0
    # "single", or "cluster" for a cohort burst (many devices of one site/group, one rule).
    kind: str = "single"
    # The cohort a single alert could join, or the cohort a cluster gathers ("" for none).
    cohort_key: str = ""
    cohort_window_s: float = 900.0
    site: str = ""
    group_name: str = ""
    # Why the severity is what it is ("out_of_hours +1", "repeat +1", "cohort -1").
    reasons: tuple[str, ...] = ()
    # The person the login resolved to at the event (None: unknown, guest, shared).
    person_id: int | None = None
    notify: bool = True
    # Notification hold: a cohort forming in this time absorbs the alert before anyone is paged.
    notify_delay_s: float = 0.0


@dataclass(frozen=True, slots=True)
class AlertRecord:
    id: int
    created_at: datetime
    last_seen_at: datetime
    count: int
    status: str
    severity: int
    category: str
    rule: str
    source: str
    device_id: str
    hostname: str
    os_user: str
    app: str
    title: str
    matched: str
    snippet: str
    first_event_id: str
    kind: str = "single"
    assignee: str | None = None
    outcome: str | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    closed_at: datetime | None = None
    closed_by: str | None = None
    cluster_id: int | None = None
    members: int = 1
    site: str = ""
    group_name: str = ""
    reasons: tuple[str, ...] = ()
    escalation_step: int = 0
    person_id: int | None = None  # the person the directory named when it was raised


@dataclass(frozen=True, slots=True)
class IngestResult:
    stored: int
    duplicates: int
    alerts_raised: int
    alerts_updated: int


# Triggers run inside the ingest transaction so an alert is never lost between a commit and a crash.
TriggerFn = Callable[[Sequence[EventRow]], list[AlertCandidate]]


class TriggerState(Protocol):
    """Rule state (frequency windows, suppression, cohorts) kept in the ingest transaction, so
    every collector replica and every restart sees the same counts."""

    def record_hit(self, key: str, at: datetime, device_id: str, keep: timedelta) -> None:
        """Remember one match for `key` at `at`; it may be forgotten after `at + keep`."""

    def count_hits(self, key: str, since: datetime, until: datetime) -> int:
        """Matches recorded for `key` with since <= at <= until."""

    def distinct_devices(self, key: str, since: datetime, until: datetime) -> int:
        """Distinct devices among the matches recorded for `key` in [since, until]."""

    def suppressed_until(self, key: str) -> datetime | None: ...

    def suppress(self, key: str, until: datetime) -> None: ...

    def alerts_since(self, dedup_key: str, since: datetime) -> int:
        """Alerts raised (not folded repeats) with this dedup key since `since`."""


class StatefulTriggers(abc.ABC):
    """Triggers that keep state; the store hands them a TriggerState bound to its transaction.

    A plain TriggerFn (rows -> candidates) still works; the store checks for this class first.
    """

    @abc.abstractmethod
    def evaluate(
        self, rows: Sequence[EventRow], state: TriggerState, prepared: object = None
    ) -> list[AlertCandidate]:
        """`prepared`: what `prepare` returned for these rows (or a superset), or None."""

    def prepare(self, rows: Sequence[EventRow]) -> object:
        """Stateless work (e.g. scanning window titles, matching rules) done before the write
        transaction, so SQLite's single writer is not held for it; the result goes to
        `evaluate`. Optional."""
        return None


class JobRunLedger(Protocol):
    """One row per background job and period, so that replicas run each period once
    (collector/jobs.py; SQL implementation: collector/store/job_runs.py)."""

    def claim(self, name: str, period: int, holder: str, now: datetime) -> int | None:
        """The attempt number if `holder` (which holds the job's lease) may run the period now;
        None when it is done. A run left unfinished by another holder is taken over."""

    def finish(self, name: str, period: int, holder: str, now: datetime, outcome: str) -> bool:
        """Record the end of a run; False if another replica took the period over meanwhile."""

    def prune(self, name: str, before_period: int) -> int: ...

    def history(self, name: str | None = None) -> list[dict[str, Any]]: ...


class Store(abc.ABC):
    """Everything the collector keeps. Methods are synchronous; async callers use a thread."""

    def checkpoint(self) -> None:  # noqa: B027 - optional hook
        """Housekeeping a busy ingest process runs every second or so, outside its write
        transactions (SQLite: the WAL checkpoint). Optional."""

    # --- users and credentials
    @abc.abstractmethod
    def add_user(self, email: str, role: str, password_hash: str) -> UserRecord: ...

    @abc.abstractmethod
    def user_by_email(self, email: str) -> UserRecord: ...

    @abc.abstractmethod
    def add_api_token(self, user_id: int, token_hash: str, expires_at: datetime | None) -> None: ...

    @abc.abstractmethod
    def user_for_api_token(self, token_hash: str, now: datetime) -> UserRecord:
        """The user a bearer token belongs to; TokenRejected if unknown, expired or revoked."""

    @abc.abstractmethod
    def add_enrolment_token(
        self, token_hash: str, group_name: str | None, uses: int | None, expires_at: datetime | None
    ) -> None: ...

    # --- devices
    @abc.abstractmethod
    def enrol_device(
        self, token_hash: str, registration: DeviceRegistration, secret_hash: str, now: datetime
    ) -> DeviceRecord:
        """Consume one use of an enrolment token and register (or re-register) a device."""

    @abc.abstractmethod
    def authenticate_device(self, device_id: str, secret_hash: str) -> DeviceRecord:
        """TokenRejected('unknown_device' | 'revoked') unless the device and secret match."""

    def record_heartbeat(
        self,
        device_id: str,
        seen_at: datetime,
        capabilities: dict[str, str] | None,
        spool_depth: int | None,
    ) -> None:
        """One device's heartbeat: `record_heartbeats` for a single device."""
        self.record_heartbeats({device_id: (seen_at, capabilities, spool_depth)})

    @abc.abstractmethod
    def record_heartbeats(
        self, seen: dict[str, tuple[datetime, dict[str, str] | None, int | None]]
    ) -> None:
        """Many devices' last-seen time, and their capabilities and spool depth where capabilities
        are given (a heartbeat carries both), at once."""

    @abc.abstractmethod
    def revoked_devices(self) -> set[str]: ...

    @abc.abstractmethod
    def list_devices(self) -> list[DeviceRecord]: ...

    @abc.abstractmethod
    def count_devices(self) -> int: ...

    @abc.abstractmethod
    def open_session(
        self, device_id: str, session_id: str, now: datetime, live_since: datetime, *, clone: bool
    ) -> bool:
        """Record that agent process `session_id` is streaming for this device. When another
        session of it was live since `live_since` (seen by any ingest process), or `clone` says
        this process saw one, flag the device as cloned and return True."""

    @abc.abstractmethod
    def close_session(self, device_id: str, session_id: str) -> None:
        """The session's stream ended: forget it (unless another session has replaced it)."""

    @abc.abstractmethod
    def revoke_device(self, device_id: str) -> None:
        """Refuse the device from now on (NotFound if there is no such device)."""

    # --- events and alerts
    @abc.abstractmethod
    def ingest(
        self, device_id: str, rows: Sequence[EventRow], triggers: "TriggerFn | StatefulTriggers"
    ) -> IngestResult:
        """Store new events (a re-sent event id is stored once), run triggers on the new ones and
        raise their alerts, all in one transaction. Returns only after the commit is durable."""

    @abc.abstractmethod
    def ingest_many(
        self, batches: Sequence[Sequence[EventRow]], triggers: "TriggerFn | StatefulTriggers"
    ) -> list[IngestResult]:
        """`ingest` for many batches (from many devices) in one transaction: group commit.
        Results are per batch; alert counts only on a single batch."""

    @abc.abstractmethod
    def count_events(self, device_id: str | None = None) -> int: ...

    @abc.abstractmethod
    def list_alerts(self, *, status: str | None = None, limit: int = 100) -> list[AlertRecord]:
        """Alerts, most severe and newest first; cohort members folded into a cluster are left
        out (the cluster stands for them). collector.alerts.store.AlertStore filters further."""

    @abc.abstractmethod
    def close(self) -> None: ...
