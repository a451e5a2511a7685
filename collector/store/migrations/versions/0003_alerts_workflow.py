"""alerts workflow: lifecycle columns, notes, cohort members, hash-chained audit log, rule state,
notification outbox and delivery log, job leases, reports

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 14:20:00
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

import collector.store.models

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = collector.store.models.UTCDateTime

_ALERT_COLUMNS: list[sa.Column[Any]] = [
    sa.Column("kind", sa.String(8), nullable=False, server_default="single"),
    sa.Column("cohort_key", sa.String(300), nullable=False, server_default=""),
    sa.Column("cluster_id", sa.Integer(), nullable=True),
    sa.Column("members", sa.Integer(), nullable=False, server_default="1"),
    sa.Column("site", sa.String(128), nullable=False, server_default=""),
    sa.Column("group_name", sa.String(128), nullable=False, server_default=""),
    sa.Column("reasons", sa.JSON(), nullable=False, server_default="[]"),
    sa.Column("assignee", sa.String(320), nullable=True),
    sa.Column("outcome", sa.String(32), nullable=True),
    sa.Column("acknowledged_at", UTC(), nullable=True),
    sa.Column("acknowledged_by", sa.String(320), nullable=True),
    sa.Column("closed_at", UTC(), nullable=True),
    sa.Column("closed_by", sa.String(320), nullable=True),
    sa.Column("updated_at", UTC(), nullable=True),
    sa.Column("escalation_step", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("escalated_at", UTC(), nullable=True),
]


def upgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        for col in _ALERT_COLUMNS:
            batch_op.add_column(col)
        batch_op.create_index("ix_alerts_cohort", ["cohort_key", "created_at"], unique=False)
        batch_op.create_index("ix_alerts_created", ["created_at"], unique=False)

    op.create_table(
        "alert_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), sa.ForeignKey("alerts.id"), nullable=False),
        sa.Column("at", UTC(), nullable=False),
        sa.Column("author", sa.String(320), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_alert_notes_alert", "alert_notes", ["alert_id"])
    op.create_table(
        "alert_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), sa.ForeignKey("alerts.id"), nullable=False),
        sa.Column("device_id", sa.String(36), nullable=False),
        sa.Column("os_user", sa.String(255), nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("severity", sa.Integer(), nullable=False),
        sa.Column("joined_at", UTC(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("alert_id", "device_id", "os_user", name="uq_alert_members"),
    )
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", UTC(), nullable=False),
        sa.Column("actor", sa.String(320), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("object_type", sa.String(32), nullable=False),
        sa.Column("object_id", sa.String(64), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_index("ix_audit_object", "audit_log", ["object_type", "object_id"])
    op.create_table(
        "audit_chain",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.Column("last_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "trigger_hits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(400), nullable=False),
        sa.Column("at", UTC(), nullable=False),
        sa.Column("device_id", sa.String(36), nullable=False),
        sa.Column("expires_at", UTC(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_trigger_hits_key_at", "trigger_hits", ["key", "at"])
    op.create_index("ix_trigger_hits_expires", "trigger_hits", ["expires_at"])
    op.create_table(
        "trigger_suppressions",
        sa.Column("key", sa.String(400), nullable=False),
        sa.Column("until", UTC(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("alert_id", sa.Integer(), nullable=True),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("channel", sa.String(16), nullable=True),
        sa.Column("target", sa.String(1024), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTC(), nullable=False),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.Column("lease_until", UTC(), nullable=True),
        sa.Column("created_at", UTC(), nullable=False),
        sa.Column("done_at", UTC(), nullable=True),
        sa.Column("last_error", sa.String(512), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_outbox_due", "outbox", ["status", "next_attempt_at"])
    op.create_table(
        "delivery_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=True),
        sa.Column("at", UTC(), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("target", sa.String(1024), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("detail", sa.String(512), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_delivery_log_outbox", "delivery_log", ["outbox_id"])
    op.create_table(
        "job_leases",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("until", UTC(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "job_state",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("period_start", UTC(), nullable=False),
        sa.Column("period_end", UTC(), nullable=False),
        sa.Column("created_at", UTC(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "period_start", name="uq_reports_period"),
    )
    # The chain head exists from the start, so the first writers never race to create it.
    op.execute(
        "INSERT INTO audit_chain (name, last_seq, last_hash) VALUES ('main', 0, '" + "0" * 64 + "')"
    )
    _append_only_audit()


def _append_only_audit() -> None:
    """The audit log refuses UPDATE and DELETE in the database itself, not just in our code."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION lantern_audit_append_only() RETURNS trigger AS $$ "
            "BEGIN RAISE EXCEPTION 'audit_log is append-only'; END; $$ LANGUAGE plpgsql"
        )
        op.execute(
            "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION lantern_audit_append_only()"
        )
    else:
        for what in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_log_no_{what.lower()} BEFORE {what} ON audit_log "
                "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS lantern_audit_append_only()")
    for name in (
        "reports",
        "job_state",
        "job_leases",
        "delivery_log",
        "outbox",
        "trigger_suppressions",
        "trigger_hits",
        "audit_chain",
        "audit_log",
        "alert_members",
        "alert_notes",
    ):
        op.drop_table(name)
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_created")
        batch_op.drop_index("ix_alerts_cohort")
        for col in reversed(_ALERT_COLUMNS):
            batch_op.drop_column(col.name)
