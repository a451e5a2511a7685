"""console: web sessions, login attempts, TOTP secrets, expected devices, policy editor

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 14:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import collector.store.models

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = collector.store.models.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column(
            "user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("created_at", UTC(), nullable=False),
        sa.Column("last_seen_at", UTC(), nullable=False),
        sa.Column("expires_at", UTC(), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("mfa_passed", sa.Boolean(), nullable=False),
        sa.Column("ip", sa.String(64), nullable=False),
        sa.Column("revoked", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_web_sessions_user", "web_sessions", ["user_id"])
    op.create_table(
        "login_attempts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", UTC(), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("ip", sa.String(64), nullable=False),
        sa.Column("stage", sa.String(8), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_login_attempts_email_at", "login_attempts", ["email", "at"])
    op.create_index("ix_login_attempts_ip_at", "login_attempts", ["ip", "at"])
    op.create_table(
        "totp_secrets",
        sa.Column(
            "user_id",
            sa.Integer(),
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("secret", sa.String(64), nullable=False),
        sa.Column("created_at", UTC(), nullable=False),
        sa.Column("confirmed_at", UTC(), nullable=True),
        sa.Column("last_step", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "expected_device_imports",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", UTC(), nullable=False),
        sa.Column("actor", sa.String(320), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
    )
    op.create_table(
        "expected_devices",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("serial", sa.String(128), nullable=False),
        sa.Column("hostname", sa.String(255), nullable=False),
        sa.Column("site", sa.String(128), nullable=False),
        sa.Column("group_name", sa.String(128), nullable=False),
        sa.Column("import_id", sa.Integer(), nullable=False),
    )
    op.create_index("ix_expected_devices_serial", "expected_devices", ["serial"])
    op.create_table(
        "policy_keywords",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("action", sa.String(8), nullable=False),
        sa.Column("phrase", sa.String(128), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("severity", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("added_by", sa.String(320), nullable=False),
        sa.Column("added_at", UTC(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("withdrawn_by", sa.String(320), nullable=True),
        sa.Column("withdrawn_at", UTC(), nullable=True),
    )
    op.create_table(
        "policy_settings",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("updated_by", sa.String(320), nullable=False),
        sa.Column("updated_at", UTC(), nullable=False),
    )
    op.create_table(
        "policy_changes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", UTC(), nullable=False),
        sa.Column("actor", sa.String(320), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "policy_changes",
        "policy_settings",
        "policy_keywords",
        "expected_devices",
        "expected_device_imports",
        "totp_secrets",
        "login_attempts",
        "web_sessions",
    ):
        op.drop_table(table)
