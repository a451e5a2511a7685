"""directory_audit folded into the hash-chained audit log (one audit trail)

Directory changes were written twice since the chain learned about them: to directory_audit and
to audit_log. Rows only in directory_audit (written before that) are appended to the chain, in
their order and with their original time, and the table is dropped.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import collector.store.models

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = collector.store.models.UTCDateTime


def upgrade() -> None:
    from collector.alerts import audit
    from collector.alerts.models import audit_log

    conn = op.get_bind()
    old = sa.table(
        "directory_audit",
        sa.column("id", sa.Integer),
        sa.column("at", UTC()),
        sa.column("actor", sa.String),
        sa.column("action", sa.String),
        sa.column("person_id", sa.Integer),
        sa.column("detail", sa.JSON),
    )
    chained = {
        (r.at, r.actor, r.action, r.object_id)
        for r in conn.execute(
            sa.select(
                audit_log.c.at, audit_log.c.actor, audit_log.c.action, audit_log.c.object_id
            ).where(audit_log.c.action.startswith("directory."))
        )
    }
    for r in conn.execute(sa.select(old).order_by(old.c.id)).mappings().all():
        object_id = "-" if r["person_id"] is None else str(r["person_id"])
        action = f"directory.{r['action']}"
        if (r["at"], r["actor"], action, object_id) in chained:
            continue
        audit.append(
            conn,
            actor=r["actor"],
            action=action,
            object_type="directory" if r["person_id"] is None else "person",
            object_id=object_id,
            at=r["at"],
            detail=r["detail"] or {},
        )
    with op.batch_alter_table("directory_audit", schema=None) as batch_op:
        batch_op.drop_index("ix_directory_audit_person")
    op.drop_table("directory_audit")


def downgrade() -> None:
    # The history stays in the audit chain; the old table comes back empty.
    op.create_table(
        "directory_audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", UTC(), nullable=False),
        sa.Column("actor", sa.String(length=320), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("directory_audit", schema=None) as batch_op:
        batch_op.create_index("ix_directory_audit_person", ["person_id"], unique=False)
