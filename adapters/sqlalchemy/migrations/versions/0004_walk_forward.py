"""walk-forward runs and their windows

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 15:30:00

``walk_forward_runs`` holds one row per walk-forward run (its key, settings, aggregate
figures, deflated Sharpe ratio and PBO); ``walk_forward_windows`` one row per window with its
dates, out-of-sample metrics, baselines and the chosen candidate. A rerun of the same run
replaces its rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import adapters.sqlalchemy.types

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "walk_forward_runs",
        sa.Column("run_key", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("settings", _json(), nullable=False),
        sa.Column("aggregate", _json(), nullable=False),
        sa.Column("deflated_sharpe", _json(), nullable=False),
        sa.Column("pbo", _json(), nullable=True),
        sa.Column("n_trials", sa.Integer(), nullable=False),
        sa.Column(
            "created_at", adapters.sqlalchemy.types.UtcDateTime(timezone=True), nullable=False
        ),
        sa.CheckConstraint("kind <> ''", name=op.f("ck_walk_forward_runs_kind_not_empty")),
        sa.PrimaryKeyConstraint("run_key", name=op.f("pk_walk_forward_runs")),
    )
    with op.batch_alter_table("walk_forward_runs", schema=None) as batch_op:
        batch_op.create_index("ix_walk_forward_runs_created_at", ["created_at"], unique=False)
    op.create_table(
        "walk_forward_windows",
        sa.Column("run_key", sa.String(length=64), nullable=False),
        sa.Column("window_index", sa.Integer(), nullable=False),
        sa.Column("train_start", sa.String(length=10), nullable=False),
        sa.Column("train_end", sa.String(length=10), nullable=False),
        sa.Column("test_start", sa.String(length=10), nullable=False),
        sa.Column("test_end", sa.String(length=10), nullable=False),
        sa.Column("metrics", _json(), nullable=False),
        sa.Column("baselines", _json(), nullable=False),
        sa.Column("chosen", _json(), nullable=False),
        sa.CheckConstraint(
            "window_index >= 0", name=op.f("ck_walk_forward_windows_window_index_nonneg")
        ),
        sa.ForeignKeyConstraint(
            ["run_key"],
            ["walk_forward_runs.run_key"],
            name=op.f("fk_walk_forward_windows_run_key_walk_forward_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_key", "window_index", name=op.f("pk_walk_forward_windows")),
    )


def downgrade() -> None:
    op.drop_table("walk_forward_windows")
    with op.batch_alter_table("walk_forward_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_walk_forward_runs_created_at")
    op.drop_table("walk_forward_runs")
