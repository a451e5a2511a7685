"""devices.session_id/session_at: the agent process streaming now, seen by every ingest process

With several ingest processes, a cloned laptop's two agents can stream to different processes;
the devices row is where they meet.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25 17:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import collector.store.models

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("session_id", sa.String(64), nullable=True))
        batch_op.add_column(
            sa.Column("session_at", collector.store.models.UTCDateTime(), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.drop_column("session_at")
        batch_op.drop_column("session_id")
