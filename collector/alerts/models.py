"""Tables for the alert workflow, notifications, rule state and background jobs (migration 0003).

They share collector.store.models.metadata; the `alerts` table itself lives there.
"""

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from collector.store.models import UTCDateTime, metadata

alert_notes = Table(
    "alert_notes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("alert_id", Integer, ForeignKey("alerts.id"), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("author", String(320), nullable=False),
    # Purpose: the safeguarding record of what was done. Retention: with the alert.
    Column("text", Text, nullable=False),
)
Index("ix_alert_notes_alert", alert_notes.c.alert_id)

alert_members = Table(
    "alert_members",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("alert_id", Integer, ForeignKey("alerts.id"), nullable=False),
    Column("device_id", String(36), nullable=False),
    Column("os_user", String(255), nullable=False),
    Column("event_id", String(36), nullable=False),
    Column("severity", Integer, nullable=False),
    Column("joined_at", UTCDateTime, nullable=False),
    UniqueConstraint("alert_id", "device_id", "os_user", name="uq_alert_members"),
)

# Append-only (database triggers refuse UPDATE and DELETE) and hash-chained: each row's hash covers
# the previous row's hash, so removing or editing a row breaks every hash after it.
audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(320), nullable=False),
    Column("action", String(64), nullable=False),
    Column("object_type", String(32), nullable=False),
    Column("object_id", String(64), nullable=False),
    Column("detail", JSON, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)
Index("ix_audit_object", audit_log.c.object_type, audit_log.c.object_id)

# One row per chain: the head is locked (SELECT ... FOR UPDATE) so concurrent writers serialise.
audit_chain = Table(
    "audit_chain",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("last_seq", Integer, nullable=False),
    Column("last_hash", String(64), nullable=False),
)

trigger_hits = Table(
    "trigger_hits",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(400), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("device_id", String(36), nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)
Index("ix_trigger_hits_key_at", trigger_hits.c.key, trigger_hits.c.at)
Index("ix_trigger_hits_expires", trigger_hits.c.expires_at)

trigger_suppressions = Table(
    "trigger_suppressions",
    metadata,
    Column("key", String(400), primary_key=True),
    Column("until", UTCDateTime, nullable=False),
)

# The notification outbox: written in the same transaction as the alert, delivered afterwards.
# A row without `channel` is an alert-level event, expanded at dispatch into one row per recipient.
outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("parent_id", Integer, nullable=True),
    Column("alert_id", Integer, nullable=True),
    Column("event", String(32), nullable=False),  # raised | severity_raised | escalated | report
    Column("channel", String(16), nullable=True),  # email | teams | slack | webhook
    Column("target", String(1024), nullable=True),  # an address or a webhook URL
    Column("payload", JSON, nullable=False),
    Column("status", String(12), nullable=False),  # pending | expanded | done | failed | skipped
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("lease_owner", String(64), nullable=True),
    Column("lease_until", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("done_at", UTCDateTime, nullable=True),
    Column("last_error", String(512), nullable=True),
)
Index("ix_outbox_due", outbox.c.status, outbox.c.next_attempt_at)

delivery_log = Table(
    "delivery_log",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("outbox_id", Integer, nullable=False),
    Column("alert_id", Integer, nullable=True),
    Column("at", UTCDateTime, nullable=False),
    Column("channel", String(16), nullable=False),
    Column("target", String(1024), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("detail", String(512), nullable=False),
    Column("duration_ms", Integer, nullable=False),
)
Index("ix_delivery_log_outbox", delivery_log.c.outbox_id)

job_leases = Table(
    "job_leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("owner", String(64), nullable=False),
    Column("until", UTCDateTime, nullable=False),
)

job_state = Table(
    "job_state",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", JSON, nullable=False),
)

reports = Table(
    "reports",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("period_start", UTCDateTime, nullable=False),
    Column("period_end", UTCDateTime, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("data", JSON, nullable=False),
    UniqueConstraint("kind", "period_start", name="uq_reports_period"),
)
