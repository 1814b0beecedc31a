"""initial schema

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-25 02:40:55.223819

Why one module: an Alembic revision is one file by design; the schema it creates changes only
through later revisions, never by splitting or rewriting this one.
"""

# ruff: noqa: E501  (frozen CHECK constraint text)

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import adapters.sqlalchemy.types

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "kv_state",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", adapters.sqlalchemy.types.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_kv_state")),
    )
    op.create_table(
        "model_versions",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("algo", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="candidate", nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column(
            "hyperparams",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("data_hash", sa.String(length=128), nullable=False),
        sa.Column(
            "env_config",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column(
            "library_versions",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "metrics",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", adapters.sqlalchemy.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("promoted_at", adapters.sqlalchemy.types.UtcDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('candidate', 'production', 'archived')", name=op.f("ck_model_versions_status")
        ),
        sa.CheckConstraint("version >= 1", name=op.f("ck_model_versions_version_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_versions")),
        sa.UniqueConstraint("name", "version", name="uq_model_versions_name_version"),
    )
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.create_index("ix_model_versions_name_status", ["name", "status"], unique=False)

    op.create_table(
        "runs",
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=32), server_default="running", nullable=False),
        sa.Column("started_at", adapters.sqlalchemy.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", adapters.sqlalchemy.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column(
            "params",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.CheckConstraint("kind <> ''", name=op.f("ck_runs_kind_not_empty")),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_runs")),
    )
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.create_index("ix_runs_kind_started_at", ["kind", "started_at"], unique=False)
        batch_op.create_index("ix_runs_started_at", ["started_at"], unique=False)

    op.create_table(
        "closed_positions",
        sa.Column("position_id", sa.String(length=64), nullable=False),
        sa.Column("ticker", sa.String(length=16), nullable=False),
        sa.Column("side", sa.String(length=8), nullable=False),
        sa.Column("quantity", adapters.sqlalchemy.types.Money(), nullable=False),
        sa.Column("entry_price", adapters.sqlalchemy.types.Money(), nullable=False),
        sa.Column("exit_price", adapters.sqlalchemy.types.Money(), nullable=False),
        sa.Column("realized_pnl", adapters.sqlalchemy.types.Money(), nullable=False),
        sa.Column("gross_pnl", adapters.sqlalchemy.types.Money(), nullable=False),
        sa.Column("commission", adapters.sqlalchemy.types.Money(), nullable=False),
        sa.Column("realized_pnl_pct", adapters.sqlalchemy.types.Money(), nullable=False),
        sa.Column("opened_at", adapters.sqlalchemy.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", adapters.sqlalchemy.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("hold_duration_seconds", sa.BigInteger(), nullable=False),
        sa.Column("exit_reason", sa.String(length=24), nullable=False),
        sa.Column("max_unrealized_pnl", adapters.sqlalchemy.types.Money(), nullable=False),
        sa.Column("max_unrealized_pnl_pct", adapters.sqlalchemy.types.Money(), nullable=False),
        sa.Column("min_unrealized_pnl", adapters.sqlalchemy.types.Money(), nullable=False),
        sa.Column("min_unrealized_pnl_pct", adapters.sqlalchemy.types.Money(), nullable=False),
        sa.Column("max_drawdown_pct", adapters.sqlalchemy.types.Money(), nullable=False),
        sa.Column("stop_loss", adapters.sqlalchemy.types.Money(), nullable=True),
        sa.Column("take_profit", adapters.sqlalchemy.types.Money(), nullable=True),
        sa.Column("strategy", sa.String(length=64), nullable=True),
        sa.Column("signal_id", sa.String(length=128), nullable=True),
        sa.Column("signal_confidence", sa.Float(), nullable=True),
        sa.Column("catalyst_score", sa.Float(), nullable=True),
        sa.Column("rvol", sa.Float(), nullable=True),
        sa.Column("atr", sa.Float(), nullable=True),
        sa.Column("entry_order_id", sa.String(length=64), nullable=True),
        sa.Column("exit_order_id", sa.String(length=64), nullable=True),
        sa.Column(
            "metadata",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.CheckConstraint(
            "exit_reason IN ('stop_loss', 'trailing_stop', 'take_profit', 'time_exit', 'signal', 'manual', 'kill_switch', 'reconciliation', 'end_of_data')",
            name=op.f("ck_closed_positions_exit_reason"),
        ),
        sa.CheckConstraint("side IN ('long', 'short')", name=op.f("ck_closed_positions_side")),
        sa.CheckConstraint(
            "CAST(commission AS NUMERIC) >= 0", name=op.f("ck_closed_positions_commission_non_negative")
        ),
        sa.CheckConstraint(
            "CAST(quantity AS NUMERIC) >= 0", name=op.f("ck_closed_positions_quantity_non_negative")
        ),
        sa.CheckConstraint("closed_at >= opened_at", name=op.f("ck_closed_positions_closed_after_opened")),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.run_id"], name=op.f("fk_closed_positions_run_id_runs"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("position_id", name=op.f("pk_closed_positions")),
    )
    with op.batch_alter_table("closed_positions", schema=None) as batch_op:
        batch_op.create_index("ix_closed_positions_closed_at", ["closed_at"], unique=False)
        batch_op.create_index("ix_closed_positions_exit_reason", ["exit_reason"], unique=False)
        batch_op.create_index("ix_closed_positions_strategy", ["strategy"], unique=False)
        batch_op.create_index("ix_closed_positions_ticker", ["ticker"], unique=False)

    op.create_table(
        "execution_log",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("ts", adapters.sqlalchemy.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("ticker", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("signal_id", sa.String(length=128), nullable=True),
        sa.Column("signal_confidence", sa.Float(), nullable=True),
        sa.Column("catalyst_score", sa.Float(), nullable=True),
        sa.Column("client_order_id", sa.String(length=64), nullable=True),
        sa.Column("position_id", sa.String(length=64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("elapsed_seconds", sa.Float(), nullable=True),
        sa.Column("entry_price", adapters.sqlalchemy.types.Money(), nullable=True),
        sa.Column("stop_loss", adapters.sqlalchemy.types.Money(), nullable=True),
        sa.Column("take_profit", adapters.sqlalchemy.types.Money(), nullable=True),
        sa.Column("quantity", adapters.sqlalchemy.types.Money(), nullable=True),
        sa.Column(
            "metadata",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.run_id"], name=op.f("fk_execution_log_run_id_runs"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_execution_log")),
    )
    with op.batch_alter_table("execution_log", schema=None) as batch_op:
        batch_op.create_index("ix_execution_log_signal_id", ["signal_id"], unique=False)
        batch_op.create_index("ix_execution_log_ticker", ["ticker"], unique=False)
        batch_op.create_index("ix_execution_log_ts", ["ts"], unique=False)

    op.create_table(
        "order_events",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("event_id", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("client_order_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("fill_id", sa.String(length=64), nullable=True),
        sa.Column("broker_order_id", sa.String(length=64), nullable=True),
        sa.Column("ts_event", adapters.sqlalchemy.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("ts_init", adapters.sqlalchemy.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column(
            "data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.CheckConstraint(
            "status IS NULL OR status IN ('initialized', 'submitted', 'pending_new', 'accepted', 'new', 'held', 'accepted_for_bidding', 'partially_filled', 'filled', 'done_for_day', 'pending_cancel', 'pending_replace', 'canceled', 'expired', 'replaced', 'rejected', 'stopped', 'suspended', 'calculated')",
            name=op.f("ck_order_events_status"),
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.run_id"], name=op.f("fk_order_events_run_id_runs"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_events")),
    )
    with op.batch_alter_table("order_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_order_events_client_order_id", ["client_order_id", "ts_event"], unique=False
        )
        batch_op.create_index("ix_order_events_event_id", ["event_id"], unique=False)

    op.create_table(
        "orders",
        sa.Column("client_order_id", sa.String(length=64), nullable=False),
        sa.Column("broker_order_id", sa.String(length=64), nullable=True),
        sa.Column("ticker", sa.String(length=16), nullable=False),
        sa.Column("side", sa.String(length=8), nullable=False),
        sa.Column("order_type", sa.String(length=16), nullable=False),
        sa.Column("order_class", sa.String(length=16), nullable=False),
        sa.Column("time_in_force", sa.String(length=8), nullable=False),
        sa.Column("quantity", adapters.sqlalchemy.types.Money(), nullable=False),
        sa.Column("limit_price", adapters.sqlalchemy.types.Money(), nullable=True),
        sa.Column("stop_price", adapters.sqlalchemy.types.Money(), nullable=True),
        sa.Column("trail_price", adapters.sqlalchemy.types.Money(), nullable=True),
        sa.Column("trail_percent", adapters.sqlalchemy.types.Money(), nullable=True),
        sa.Column("take_profit_price", adapters.sqlalchemy.types.Money(), nullable=True),
        sa.Column("stop_loss_price", adapters.sqlalchemy.types.Money(), nullable=True),
        sa.Column("stop_loss_limit_price", adapters.sqlalchemy.types.Money(), nullable=True),
        sa.Column("extended_hours", sa.Boolean(), nullable=False),
        sa.Column("reduce_only", sa.Boolean(), nullable=False),
        sa.Column("signal_id", sa.String(length=128), nullable=True),
        sa.Column("strategy", sa.String(length=64), nullable=True),
        sa.Column("position_id", sa.String(length=64), nullable=True),
        sa.Column("parent_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("filled_qty", adapters.sqlalchemy.types.Money(), nullable=False),
        sa.Column("avg_fill_price", adapters.sqlalchemy.types.Money(), nullable=True),
        sa.Column("commission", adapters.sqlalchemy.types.Money(), nullable=False),
        sa.Column(
            "fill_ids",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("reject_reason", sa.Text(), nullable=True),
        sa.Column("created_at", adapters.sqlalchemy.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", adapters.sqlalchemy.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", adapters.sqlalchemy.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("filled_at", adapters.sqlalchemy.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", adapters.sqlalchemy.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.CheckConstraint(
            "order_class IN ('simple', 'bracket', 'oco', 'oto')", name=op.f("ck_orders_order_class")
        ),
        sa.CheckConstraint(
            "order_type IN ('market', 'limit', 'stop', 'stop_limit', 'trailing_stop')",
            name=op.f("ck_orders_order_type"),
        ),
        sa.CheckConstraint("side IN ('buy', 'sell')", name=op.f("ck_orders_side")),
        sa.CheckConstraint(
            "status IN ('initialized', 'submitted', 'pending_new', 'accepted', 'new', 'held', 'accepted_for_bidding', 'partially_filled', 'filled', 'done_for_day', 'pending_cancel', 'pending_replace', 'canceled', 'expired', 'replaced', 'rejected', 'stopped', 'suspended', 'calculated')",
            name=op.f("ck_orders_status"),
        ),
        sa.CheckConstraint(
            "time_in_force IN ('day', 'gtc', 'ioc', 'fok', 'opg', 'cls')",
            name=op.f("ck_orders_time_in_force"),
        ),
        sa.CheckConstraint(
            "CAST(commission AS NUMERIC) >= 0", name=op.f("ck_orders_commission_non_negative")
        ),
        sa.CheckConstraint(
            "CAST(filled_qty AS NUMERIC) <= CAST(quantity AS NUMERIC)", name=op.f("ck_orders_not_overfilled")
        ),
        sa.CheckConstraint(
            "CAST(filled_qty AS NUMERIC) >= 0", name=op.f("ck_orders_filled_qty_non_negative")
        ),
        sa.CheckConstraint("CAST(quantity AS NUMERIC) > 0", name=op.f("ck_orders_quantity_positive")),
        sa.CheckConstraint("version >= 0", name=op.f("ck_orders_version_non_negative")),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.run_id"], name=op.f("fk_orders_run_id_runs"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("client_order_id", name=op.f("pk_orders")),
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index("ix_orders_broker_order_id", ["broker_order_id"], unique=False)
        batch_op.create_index("ix_orders_created_at", ["created_at"], unique=False)
        batch_op.create_index("ix_orders_position_id", ["position_id"], unique=False)
        batch_op.create_index("ix_orders_run_id", ["run_id"], unique=False)
        batch_op.create_index("ix_orders_signal_id", ["signal_id"], unique=False)
        batch_op.create_index("ix_orders_status", ["status"], unique=False)
        batch_op.create_index("ix_orders_ticker", ["ticker"], unique=False)

    op.create_table(
        "performance_metrics",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("period_start", adapters.sqlalchemy.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("period_end", adapters.sqlalchemy.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column(
            "metrics",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.CheckConstraint("period <> ''", name=op.f("ck_performance_metrics_period_not_empty")),
        sa.CheckConstraint("period_end >= period_start", name=op.f("ck_performance_metrics_period_order")),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.run_id"], name=op.f("fk_performance_metrics_run_id_runs"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_performance_metrics")),
    )
    with op.batch_alter_table("performance_metrics", schema=None) as batch_op:
        batch_op.create_index("ix_performance_metrics_period", ["period", "period_start"], unique=False)
    # A NULL run counts as one run: unique on an expression (written by hand; autogenerate
    # cannot reflect expression indexes on SQLite).
    op.create_index(
        "uq_performance_metrics_run_period",
        "performance_metrics",
        [sa.text("coalesce(run_id, '')"), "period", "period_start"],
        unique=True,
    )

    op.create_table(
        "portfolio_snapshots",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.Column("ts", adapters.sqlalchemy.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("cash", adapters.sqlalchemy.types.Money(), nullable=False),
        sa.Column("equity", adapters.sqlalchemy.types.Money(), nullable=False),
        sa.Column("long_market_value", adapters.sqlalchemy.types.Money(), nullable=False),
        sa.Column("short_market_value", adapters.sqlalchemy.types.Money(), nullable=False),
        sa.Column("open_positions", sa.Integer(), nullable=False),
        sa.Column("daily_pnl", adapters.sqlalchemy.types.Money(), nullable=False),
        sa.Column("cumulative_pnl", adapters.sqlalchemy.types.Money(), nullable=False),
        sa.CheckConstraint(
            "open_positions >= 0", name=op.f("ck_portfolio_snapshots_open_positions_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.run_id"], name=op.f("fk_portfolio_snapshots_run_id_runs"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portfolio_snapshots")),
    )
    with op.batch_alter_table("portfolio_snapshots", schema=None) as batch_op:
        batch_op.create_index("ix_portfolio_snapshots_ts", ["ts"], unique=False)
    op.create_index(
        "uq_portfolio_snapshots_run_ts",
        "portfolio_snapshots",
        [sa.text("coalesce(run_id, '')"), "ts"],
        unique=True,
    )

    op.create_table(
        "positions",
        sa.Column("position_id", sa.String(length=64), nullable=False),
        sa.Column("ticker", sa.String(length=16), nullable=False),
        sa.Column("side", sa.String(length=8), nullable=False),
        sa.Column("opened_at", adapters.sqlalchemy.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", adapters.sqlalchemy.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("quantity", adapters.sqlalchemy.types.Money(), nullable=False),
        sa.Column("avg_entry_price", adapters.sqlalchemy.types.Money(), nullable=False),
        sa.Column("last_price", adapters.sqlalchemy.types.Money(), nullable=True),
        sa.Column("realized_gross", adapters.sqlalchemy.types.Money(), nullable=False),
        sa.Column("commission", adapters.sqlalchemy.types.Money(), nullable=False),
        sa.Column("max_quantity", adapters.sqlalchemy.types.Money(), nullable=False),
        sa.Column("exit_qty", adapters.sqlalchemy.types.Money(), nullable=False),
        sa.Column("exit_notional", adapters.sqlalchemy.types.Money(), nullable=False),
        sa.Column("max_unrealized_pnl", adapters.sqlalchemy.types.Money(), nullable=False),
        sa.Column("max_unrealized_pnl_pct", adapters.sqlalchemy.types.Money(), nullable=False),
        sa.Column("min_unrealized_pnl", adapters.sqlalchemy.types.Money(), nullable=False),
        sa.Column("min_unrealized_pnl_pct", adapters.sqlalchemy.types.Money(), nullable=False),
        sa.Column("max_drawdown_pct", adapters.sqlalchemy.types.Money(), nullable=False),
        sa.Column("stop_loss", adapters.sqlalchemy.types.Money(), nullable=True),
        sa.Column("take_profit", adapters.sqlalchemy.types.Money(), nullable=True),
        sa.Column("trailing_activation_pct", adapters.sqlalchemy.types.Money(), nullable=True),
        sa.Column("trailing_trail_pct", adapters.sqlalchemy.types.Money(), nullable=True),
        sa.Column("trailing_active", sa.Boolean(), nullable=False),
        sa.Column("trailing_stop", adapters.sqlalchemy.types.Money(), nullable=True),
        sa.Column("extreme_price", adapters.sqlalchemy.types.Money(), nullable=True),
        sa.Column("exit_pending", sa.String(length=24), nullable=True),
        sa.Column(
            "fill_ids",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("strategy", sa.String(length=64), nullable=True),
        sa.Column("signal_id", sa.String(length=128), nullable=True),
        sa.Column("signal_confidence", sa.Float(), nullable=True),
        sa.Column("catalyst_score", sa.Float(), nullable=True),
        sa.Column("rvol", sa.Float(), nullable=True),
        sa.Column("atr", sa.Float(), nullable=True),
        sa.Column("entry_order_id", sa.String(length=64), nullable=True),
        sa.Column("exit_order_id", sa.String(length=64), nullable=True),
        sa.Column(
            "metadata",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.CheckConstraint(
            "exit_pending IS NULL OR exit_pending IN ('stop_loss', 'trailing_stop', 'take_profit', 'time_exit', 'signal', 'manual', 'kill_switch', 'reconciliation', 'end_of_data')",
            name=op.f("ck_positions_exit_pending"),
        ),
        sa.CheckConstraint("side IN ('long', 'short')", name=op.f("ck_positions_side")),
        sa.CheckConstraint(
            "(trailing_activation_pct IS NULL) = (trailing_trail_pct IS NULL)",
            name=op.f("ck_positions_trailing_pair"),
        ),
        sa.CheckConstraint(
            "CAST(avg_entry_price AS NUMERIC) >= 0", name=op.f("ck_positions_avg_entry_price_non_negative")
        ),
        sa.CheckConstraint(
            "CAST(commission AS NUMERIC) >= 0", name=op.f("ck_positions_commission_non_negative")
        ),
        sa.CheckConstraint("CAST(quantity AS NUMERIC) >= 0", name=op.f("ck_positions_quantity_non_negative")),
        sa.CheckConstraint("version >= 0", name=op.f("ck_positions_version_non_negative")),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.run_id"], name=op.f("fk_positions_run_id_runs"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("position_id", name=op.f("pk_positions")),
    )
    with op.batch_alter_table("positions", schema=None) as batch_op:
        batch_op.create_index("ix_positions_opened_at", ["opened_at"], unique=False)
        batch_op.create_index("ix_positions_strategy", ["strategy"], unique=False)
        batch_op.create_index("ix_positions_ticker", ["ticker"], unique=False)

    op.create_table(
        "risk_events",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("event_id", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("rule", sa.String(length=64), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("ts_event", adapters.sqlalchemy.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("limit_value", sa.Text(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=True),
        sa.Column(
            "data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.CheckConstraint(
            "state IS NULL OR state IN ('active', 'reducing', 'halted')", name=op.f("ck_risk_events_state")
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.run_id"], name=op.f("fk_risk_events_run_id_runs"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_events")),
    )
    with op.batch_alter_table("risk_events", schema=None) as batch_op:
        batch_op.create_index("ix_risk_events_kind", ["kind"], unique=False)
        batch_op.create_index("ix_risk_events_ts_event", ["ts_event"], unique=False)

    op.create_table(
        "stop_loss_events",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("event_id", sa.String(length=128), nullable=False),
        sa.Column("position_id", sa.String(length=64), nullable=False),
        sa.Column("ticker", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=24), nullable=False),
        sa.Column("trigger_price", adapters.sqlalchemy.types.Money(), nullable=False),
        sa.Column("level", adapters.sqlalchemy.types.Money(), nullable=True),
        sa.Column("ts_event", adapters.sqlalchemy.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("was_trailing", sa.Boolean(), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.CheckConstraint(
            "reason IN ('stop_loss', 'trailing_stop', 'take_profit', 'time_exit', 'signal', 'manual', 'kill_switch', 'reconciliation', 'end_of_data')",
            name=op.f("ck_stop_loss_events_reason"),
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.run_id"], name=op.f("fk_stop_loss_events_run_id_runs"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stop_loss_events")),
    )
    with op.batch_alter_table("stop_loss_events", schema=None) as batch_op:
        batch_op.create_index("ix_stop_loss_events_position_id", ["position_id"], unique=False)
        batch_op.create_index("ix_stop_loss_events_ticker", ["ticker"], unique=False)
        batch_op.create_index("ix_stop_loss_events_ts_event", ["ts_event"], unique=False)

    op.create_table(
        "fills",
        sa.Column("fill_id", sa.String(length=64), nullable=False),
        sa.Column("client_order_id", sa.String(length=64), nullable=False),
        sa.Column("ticker", sa.String(length=16), nullable=False),
        sa.Column("side", sa.String(length=8), nullable=False),
        sa.Column("quantity", adapters.sqlalchemy.types.Money(), nullable=False),
        sa.Column("price", adapters.sqlalchemy.types.Money(), nullable=False),
        sa.Column("commission", adapters.sqlalchemy.types.Money(), nullable=False),
        sa.Column("ts_event", adapters.sqlalchemy.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("ts_init", adapters.sqlalchemy.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("broker_order_id", sa.String(length=64), nullable=True),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.CheckConstraint("side IN ('buy', 'sell')", name=op.f("ck_fills_side")),
        sa.CheckConstraint("CAST(commission AS NUMERIC) >= 0", name=op.f("ck_fills_commission_non_negative")),
        sa.CheckConstraint("CAST(price AS NUMERIC) > 0", name=op.f("ck_fills_price_positive")),
        sa.CheckConstraint("CAST(quantity AS NUMERIC) > 0", name=op.f("ck_fills_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["client_order_id"],
            ["orders.client_order_id"],
            name=op.f("fk_fills_client_order_id_orders"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.run_id"], name=op.f("fk_fills_run_id_runs"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("fill_id", name=op.f("pk_fills")),
    )
    with op.batch_alter_table("fills", schema=None) as batch_op:
        batch_op.create_index(
            "ix_fills_client_order_id_ts_event", ["client_order_id", "ts_event"], unique=False
        )
        batch_op.create_index("ix_fills_run_id", ["run_id"], unique=False)
        batch_op.create_index("ix_fills_ticker_ts_event", ["ticker", "ts_event"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("fills", schema=None) as batch_op:
        batch_op.drop_index("ix_fills_ticker_ts_event")
        batch_op.drop_index("ix_fills_run_id")
        batch_op.drop_index("ix_fills_client_order_id_ts_event")

    op.drop_table("fills")
    with op.batch_alter_table("stop_loss_events", schema=None) as batch_op:
        batch_op.drop_index("ix_stop_loss_events_ts_event")
        batch_op.drop_index("ix_stop_loss_events_ticker")
        batch_op.drop_index("ix_stop_loss_events_position_id")

    op.drop_table("stop_loss_events")
    with op.batch_alter_table("risk_events", schema=None) as batch_op:
        batch_op.drop_index("ix_risk_events_ts_event")
        batch_op.drop_index("ix_risk_events_kind")

    op.drop_table("risk_events")
    with op.batch_alter_table("positions", schema=None) as batch_op:
        batch_op.drop_index("ix_positions_ticker")
        batch_op.drop_index("ix_positions_strategy")
        batch_op.drop_index("ix_positions_opened_at")

    op.drop_table("positions")
    with op.batch_alter_table("portfolio_snapshots", schema=None) as batch_op:
        batch_op.drop_index("ix_portfolio_snapshots_ts")
    op.drop_index("uq_portfolio_snapshots_run_ts", table_name="portfolio_snapshots")

    op.drop_table("portfolio_snapshots")
    with op.batch_alter_table("performance_metrics", schema=None) as batch_op:
        batch_op.drop_index("ix_performance_metrics_period")
    op.drop_index("uq_performance_metrics_run_period", table_name="performance_metrics")

    op.drop_table("performance_metrics")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_ticker")
        batch_op.drop_index("ix_orders_status")
        batch_op.drop_index("ix_orders_signal_id")
        batch_op.drop_index("ix_orders_run_id")
        batch_op.drop_index("ix_orders_position_id")
        batch_op.drop_index("ix_orders_created_at")
        batch_op.drop_index("ix_orders_broker_order_id")

    op.drop_table("orders")
    with op.batch_alter_table("order_events", schema=None) as batch_op:
        batch_op.drop_index("ix_order_events_event_id")
        batch_op.drop_index("ix_order_events_client_order_id")

    op.drop_table("order_events")
    with op.batch_alter_table("execution_log", schema=None) as batch_op:
        batch_op.drop_index("ix_execution_log_ts")
        batch_op.drop_index("ix_execution_log_ticker")
        batch_op.drop_index("ix_execution_log_signal_id")

    op.drop_table("execution_log")
    with op.batch_alter_table("closed_positions", schema=None) as batch_op:
        batch_op.drop_index("ix_closed_positions_ticker")
        batch_op.drop_index("ix_closed_positions_strategy")
        batch_op.drop_index("ix_closed_positions_exit_reason")
        batch_op.drop_index("ix_closed_positions_closed_at")

    op.drop_table("closed_positions")
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_index("ix_runs_started_at")
        batch_op.drop_index("ix_runs_kind_started_at")

    op.drop_table("runs")
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.drop_index("ix_model_versions_name_status")

    op.drop_table("model_versions")
    op.drop_table("kv_state")
