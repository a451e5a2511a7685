"""alerts.person_id: who an alert is about, as the directory said when it was raised

A login can pass to someone else (a reused username, a corrected MIS record); an old alert must
keep naming the person it was raised about. Existing alerts keep NULL and are resolved from their
login as before.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25 17:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("person_id", sa.Integer(), nullable=True))
        batch_op.create_index("ix_alerts_person", ["person_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_person")
        batch_op.drop_column("person_id")
