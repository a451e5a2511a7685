"""one device inventory: coverage's expected devices are the directory's device inventory

The console's coverage page kept its own copy of the MDM export (expected_devices), beside the
directory's device inventory read from the same export. An existing expected-devices list is
moved into the inventory when the inventory is empty (serials upper-cased and hostnames
lower-cased as the inventory keeps them, one import row recording the move), then the two
coverage tables are dropped.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-25 23:00:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from collector.store.models import UTCDateTime

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    conn = op.get_bind()
    # The tables as this revision finds them (only the columns used), with the store's types:
    # times are stored as naive UTC.
    meta = sa.MetaData()
    expected = sa.Table(
        "expected_devices",
        meta,
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("serial", sa.String(128)),
        sa.Column("hostname", sa.String(255)),
        sa.Column("site", sa.String(128)),
        sa.Column("group_name", sa.String(128)),
    )
    imports = sa.Table(
        "expected_device_imports",
        meta,
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", UTCDateTime()),
        sa.Column("actor", sa.String(320)),
        sa.Column("filename", sa.String(255)),
    )
    inventory = sa.Table(
        "device_inventory",
        meta,
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("serial", sa.String(128)),
        sa.Column("hostname", sa.String(255)),
        sa.Column("site", sa.String(128)),
        sa.Column("group_name", sa.String(128)),
        sa.Column("import_id", sa.Integer()),
        sa.Column("updated_at", UTCDateTime()),
    )
    directory_imports = sa.Table(
        "directory_imports",
        meta,
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("source", sa.String(16)),
        sa.Column("filename", sa.String(255)),
        sa.Column("sha256", sa.String(64)),
        sa.Column("actor", sa.String(320)),
        sa.Column("at", UTCDateTime()),
        sa.Column("summary", sa.JSON()),
    )
    rows = conn.execute(sa.select(expected).order_by(expected.c.id)).mappings().all()
    inventory_empty = conn.execute(sa.select(sa.func.count()).select_from(inventory)).scalar() == 0
    if rows and inventory_empty:
        last = (
            conn.execute(sa.select(imports).order_by(imports.c.id.desc()).limit(1))
            .mappings()
            .first()
        )
        now = datetime.now(UTC)
        import_id = conn.execute(
            sa.insert(directory_imports).values(
                source="inventory",
                filename=(last["filename"] if last else "")[:255],
                sha256="",
                actor=last["actor"] if last else "migration",
                at=last["at"] if last else now,
                summary={"added": len(rows), "moved_from_coverage": 1},
            )
        ).inserted_primary_key[0]  # type: ignore[index]
        seen: set[str] = set()
        values = []
        for r in rows:
            serial, hostname = r["serial"].upper(), r["hostname"].lower()
            key = serial or f"host:{hostname}"
            if key in seen:
                continue
            seen.add(key)
            values.append(
                {
                    "serial": serial,
                    "hostname": hostname,
                    "site": r["site"],
                    "group_name": "_".join(r["group_name"].split()).lower(),
                    "import_id": import_id,
                    "updated_at": now,
                }
            )
        conn.execute(sa.insert(inventory), values)
    op.drop_index("ix_expected_devices_serial", table_name="expected_devices")
    op.drop_table("expected_devices")
    op.drop_table("expected_device_imports")


def downgrade() -> None:
    op.create_table(
        "expected_device_imports",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", UTCDateTime(), nullable=False),
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
