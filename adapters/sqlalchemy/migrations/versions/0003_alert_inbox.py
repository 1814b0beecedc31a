"""alert inbox: the ``alerts`` table of alerts received over HTTP

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 15:05:00

One row per alert id (unique), with when and where it arrived, the hash of the body that
carried it, the alert itself as JSON, and its status (received, released, routed, suppressed,
rejected) with the reason and the run that routed it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import adapters.sqlalchemy.types

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column(
            "seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True,
            nullable=False,
        ),
        sa.Column("alert_id", sa.String(length=128), nullable=False),
        sa.Column("received_at", adapters.sqlalchemy.types.UtcDateTime(timezone=True),
                  nullable=False),
        sa.Column("known_at", adapters.sqlalchemy.types.UtcDateTime(timezone=True),
                  nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("body_hash", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.Column("updated_at", adapters.sqlalchemy.types.UtcDateTime(timezone=True),
                  nullable=True),
        sa.CheckConstraint(
            "status IN ('received', 'released', 'routed', 'suppressed', 'rejected')",
            name=op.f("ck_alerts_status"),
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_alerts")),
        sa.UniqueConstraint("alert_id", name="uq_alerts_alert_id"),
    )
    op.create_index("ix_alerts_status_known_at", "alerts", ["status", "known_at", "seq"])


def downgrade() -> None:
    op.drop_index("ix_alerts_status_known_at", table_name="alerts")
    op.drop_table("alerts")
