"""job_runs: one row per background job and period (jobs once across collector replicas)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 16:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import collector.store.models

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = collector.store.models.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "job_runs",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("period", sa.BigInteger(), nullable=False),
        sa.Column("holder", sa.String(64), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("started_at", UTC(), nullable=False),
        sa.Column("finished_at", UTC(), nullable=True),
        sa.Column("outcome", sa.String(512), nullable=True),
        sa.PrimaryKeyConstraint("name", "period"),
    )


def downgrade() -> None:
    op.drop_table("job_runs")
