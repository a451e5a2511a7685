"""Database tables. Every personal field says why it is held; retention.py owns how long."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)
from sqlalchemy.engine import Dialect


class UTCDateTime(TypeDecorator[datetime]):
    """Stored as naive UTC (SQLite has no time zones), always returned timezone-aware."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use collector.clock.utcnow()")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


metadata = MetaData()

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    # Purpose: sign-in and audit. Retention: while the account exists.
    Column("email", String(320), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("password_hash", String(256), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    # Only a SHA-256 of the token is kept: a database leak does not leak credentials.
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=True),
    Column("revoked", Boolean, nullable=False, default=False),
)

enrolment_tokens = Table(
    "enrolment_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("group_name", String(128), nullable=True),
    Column("uses_left", Integer, nullable=True),  # None: unlimited
    Column("expires_at", UTCDateTime, nullable=True),
    Column("revoked", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime, nullable=False),
)

devices = Table(
    "devices",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("instance_id", String(64), nullable=False, unique=True),
    Column("secret_hash", String(64), nullable=False),
    # Purpose: IT must find the laptop. Retention: while enrolled.
    Column("hostname", String(255), nullable=False),
    Column("hardware_serial", String(128), nullable=False, default=""),
    Column("os", String(32), nullable=False, default=""),
    Column("os_version", String(128), nullable=False, default=""),
    Column("agent_version", String(32), nullable=False, default=""),
    Column("group_name", String(128), nullable=True),
    Column("enrolled_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=True),
    Column("last_event_at", UTCDateTime, nullable=True),
    Column("last_seq", BigInteger, nullable=False, default=0),
    Column("capabilities", JSON, nullable=False, default=dict),
    Column("spool_depth", Integer, nullable=False, default=0),
    Column("revoked", Boolean, nullable=False, default=False),
    # Set when two live agents presented this identity at once (a cloned disk image).
    Column("clone_suspected_at", UTCDateTime, nullable=True),
    # The agent process (Hello.session_id) streaming now, and since when; cleared when its stream
    # ends. With several ingest processes this is how a second live copy is noticed (0009).
    Column("session_id", String(64), nullable=True),
    Column("session_at", UTCDateTime, nullable=True),
)

events = Table(
    "events",
    metadata,
    # Agent-made UUIDv7: a re-sent event is stored once.
    Column("event_id", String(36), primary_key=True),
    Column("device_id", String(36), ForeignKey("devices.id"), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("kind", String(24), nullable=False),
    Column("observed_at", UTCDateTime, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    # Purpose: trace a concern to the person using the device. Retention: per data class.
    Column("os_user", String(255), nullable=False, default=""),
    Column("app", String(255), nullable=False, default=""),
    Column("title", Text, nullable=False, default=""),
    # Kind-specific fields (match category/rule/snippet, gap counts, …) as JSON.
    Column("detail", JSON, nullable=False, default=dict),
)
Index("ix_events_device_observed", events.c.device_id, events.c.observed_at)
Index("ix_events_kind_observed", events.c.kind, events.c.observed_at)

alerts = Table(
    "alerts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Column("count", Integer, nullable=False, default=1),
    Column("status", String(16), nullable=False, default="new"),
    Column("severity", Integer, nullable=False),
    Column("category", String(32), nullable=False),
    Column("rule", String(128), nullable=False),
    Column("source", String(8), nullable=False),  # typed | title
    Column("device_id", String(36), ForeignKey("devices.id"), nullable=False),
    Column("os_user", String(255), nullable=False, default=""),
    # Purpose: who the alert is about, as the directory said when it was raised (a login can
    # later pass to someone else). No foreign key: the alert outlives a purged leaver.
    # Retention: with the alert (migration 0008).
    Column("person_id", Integer, nullable=True),
    Column("app", String(255), nullable=False, default=""),
    Column("title", Text, nullable=False, default=""),
    # Evidence: the matched phrase and a bounded snippet, never the raw buffer.
    Column("matched", String(128), nullable=False, default=""),
    Column("snippet", String(256), nullable=False, default=""),
    Column("first_event_id", String(36), nullable=False),
    Column("dedup_key", String(300), nullable=False),
    # Workflow (migration 0003; collector/alerts owns the lifecycle).
    Column("kind", String(8), nullable=False, default="single"),  # single | cluster
    Column("cohort_key", String(300), nullable=False, default=""),
    Column("cluster_id", Integer, nullable=True),  # a single folded into this cluster alert
    Column("members", Integer, nullable=False, default=1),  # devices in a cluster
    Column("site", String(128), nullable=False, default=""),
    Column("group_name", String(128), nullable=False, default=""),
    Column("reasons", JSON, nullable=False, default=list),
    # Purpose: who is handling the concern. Retention: with the alert.
    Column("assignee", String(320), nullable=True),
    Column("outcome", String(32), nullable=True),
    Column("acknowledged_at", UTCDateTime, nullable=True),
    Column("acknowledged_by", String(320), nullable=True),
    Column("closed_at", UTCDateTime, nullable=True),
    Column("closed_by", String(320), nullable=True),
    Column("updated_at", UTCDateTime, nullable=True),
    Column("escalation_step", Integer, nullable=False, default=0),
    Column("escalated_at", UTCDateTime, nullable=True),
)
Index("ix_alerts_status_severity", alerts.c.status, alerts.c.severity)
Index("ix_alerts_dedup", alerts.c.dedup_key, alerts.c.last_seen_at)
Index("ix_alerts_cohort", alerts.c.cohort_key, alerts.c.created_at)
Index("ix_alerts_created", alerts.c.created_at)
Index("ix_alerts_person", alerts.c.person_id)

# One row per background job and period (migration 0006, collector/jobs.py). With the job's lease
# (job_leases) this is what makes a job run once per period across collector replicas.
job_runs = Table(
    "job_runs",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("period", BigInteger, primary_key=True),  # seconds since the epoch // the interval
    Column("holder", String(64), nullable=False),  # the replica that ran it (host-pid-random)
    Column("attempt", Integer, nullable=False, default=1),  # 2+: taken over from a dead holder
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
    Column("outcome", String(512), nullable=True),  # ok, or the error
)

# One row (id 1): a counter bumped in the same transaction as every write that changes what a
# device's effective policy is made of (migration 0010, collector/store/policy_generation.py).
# Ingest processes read it every couple of seconds and drop their policy caches when it moves.
policy_generation = Table(
    "policy_generation",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("generation", BigInteger, nullable=False, default=0),
)
