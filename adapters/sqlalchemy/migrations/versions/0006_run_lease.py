"""run leases and quarantine: one process per run; poison input set aside

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 15:40:00

``run_leases``: the exclusive lease a process holds on a run name while it trades (holder's
token, host, pid, since, last renewal, expiry). ``quarantine``: alert lines and price bars that
could not be used, with their source, line, reason and a key that recognises them again.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import adapters.sqlalchemy.types

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    ts = adapters.sqlalchemy.types.UtcDateTime(timezone=True)
    op.create_table(
        "run_leases",
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("since", ts, nullable=False),
        sa.Column("renewed_at", ts, nullable=False),
        sa.Column("expires_at", ts, nullable=False),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_run_leases")),
    )
    op.create_table(
        "quarantine",
        sa.Column(
            "seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True,
            nullable=False,
        ),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("excerpt", sa.Text(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("created_at", ts, nullable=False),
        sa.CheckConstraint("kind IN ('alert', 'bar')", name=op.f("ck_quarantine_kind")),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_quarantine")),
        sa.UniqueConstraint("run_id", "key", name="uq_quarantine_run_id_key"),
    )


def downgrade() -> None:
    op.drop_table("quarantine")
    op.drop_table("run_leases")
