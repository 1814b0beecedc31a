"""The schema: SQLAlchemy Core tables on one ``metadata`` (no ORM classes, no mapped domain).

Money and quantities are exact (:class:`Money`), timestamps are UTC (:class:`UtcDateTime`),
JSON documents are JSONB on PostgreSQL. CHECK constraints repeat the domain's enumerations
and signs so that a bug elsewhere cannot store a state the domain forbids. Alembic migrations
(``migrations/versions``) are the source of truth for deployed databases; this module is what
they are checked against (``tests/integration/test_sql_migrations.py``).

Why one module: every table hangs on one ``metadata`` with foreign keys and CHECK
constraints between them, and the migrations are checked against it as a whole.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
)

from adapters.sqlalchemy.types import JsonDoc, Money, UtcDateTime
from domain.events import OrderStatus, RiskState
from domain.values import ExitReason, OrderClass, OrderType, PositionSide, Side, TimeInForce

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)

ID = String(64)  # position ids, fill ids, event ids, run ids
COID = String(64)  # client order ids (48 at Alpaca; room for bracket-leg suffixes)


def _in(column: str, values: Iterable[str]) -> str:
    vals = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({vals})"


def _pos(column: str) -> str:
    return f"CAST({column} AS NUMERIC) > 0"


def _nonneg(column: str) -> str:
    return f"CAST({column} AS NUMERIC) >= 0"


def _run_fk() -> Column[str]:
    # The run a row belongs to (its name). Units of work always write it; NULL only in rows
    # of databases written before runs had names, which migration 0002 assigns to a run.
    return Column("run_id", ID, ForeignKey("runs.run_id", ondelete="SET NULL"), nullable=True)


runs = Table(
    "runs",
    metadata,
    Column("run_id", ID, primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("status", String(32), nullable=False, server_default="running"),
    Column("started_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime, nullable=True),
    Column("params", JsonDoc, nullable=False),
    # wall-clock time of the last start or finish (started_at is the run's own clock, which
    # is data time in a replay): orders runs by activity, so "the latest run" is the last used
    Column("updated_at", UtcDateTime, nullable=True),
    CheckConstraint("kind <> ''", name="kind_not_empty"),
    Index("ix_runs_kind_started_at", "kind", "started_at"),
    Index("ix_runs_started_at", "started_at"),
)

orders = Table(
    "orders",
    metadata,
    Column("client_order_id", COID, primary_key=True),
    Column("broker_order_id", String(64), nullable=True),
    Column("ticker", String(16), nullable=False),
    Column("side", String(8), nullable=False),
    Column("order_type", String(16), nullable=False),
    Column("order_class", String(16), nullable=False),
    Column("time_in_force", String(8), nullable=False),
    Column("quantity", Money, nullable=False),
    Column("limit_price", Money, nullable=True),
    Column("stop_price", Money, nullable=True),
    Column("trail_price", Money, nullable=True),
    Column("trail_percent", Money, nullable=True),
    Column("take_profit_price", Money, nullable=True),
    Column("stop_loss_price", Money, nullable=True),
    Column("stop_loss_limit_price", Money, nullable=True),
    Column("extended_hours", Boolean, nullable=False),
    Column("reduce_only", Boolean, nullable=False),
    Column("signal_id", String(128), nullable=True),
    Column("strategy", String(64), nullable=True),
    Column("position_id", ID, nullable=True),
    Column("parent_id", COID, nullable=True),
    Column("status", String(24), nullable=False),
    Column("filled_qty", Money, nullable=False),
    Column("avg_fill_price", Money, nullable=True),
    # the exact sum of quantity x price of the fills; the average is derived from it (null
    # only in rows written before the column existed)
    Column("filled_notional", Money, nullable=True),
    Column("commission", Money, nullable=False),
    Column("fill_ids", JsonDoc, nullable=False),
    Column("reject_reason", Text, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("submitted_at", UtcDateTime, nullable=True),
    Column("updated_at", UtcDateTime, nullable=True),
    Column("filled_at", UtcDateTime, nullable=True),
    Column("closed_at", UtcDateTime, nullable=True),
    Column("version", Integer, nullable=False),
    _run_fk(),
    CheckConstraint(_in("side", [s.value for s in Side]), name="side"),
    CheckConstraint(_in("order_type", [t.value for t in OrderType]), name="order_type"),
    CheckConstraint(_in("order_class", [c.value for c in OrderClass]), name="order_class"),
    CheckConstraint(_in("time_in_force", [t.value for t in TimeInForce]), name="time_in_force"),
    CheckConstraint(_in("status", [s.value for s in OrderStatus]), name="status"),
    CheckConstraint(_pos("quantity"), name="quantity_positive"),
    CheckConstraint(_nonneg("filled_qty"), name="filled_qty_non_negative"),
    CheckConstraint("CAST(filled_qty AS NUMERIC) <= CAST(quantity AS NUMERIC)", name="not_overfilled"),
    CheckConstraint(_nonneg("commission"), name="commission_non_negative"),
    CheckConstraint("version >= 0", name="version_non_negative"),
    Index("ix_orders_ticker", "ticker"),
    Index("ix_orders_status", "status"),
    Index("ix_orders_created_at", "created_at"),
    Index("ix_orders_broker_order_id", "broker_order_id"),
    Index("ix_orders_position_id", "position_id"),
    Index("ix_orders_signal_id", "signal_id"),
    Index("ix_orders_run_id", "run_id"),
)

fills = Table(
    "fills",
    metadata,
    Column("fill_id", ID, primary_key=True),
    Column(
        "client_order_id",
        COID,
        ForeignKey("orders.client_order_id", ondelete="RESTRICT"),
        nullable=False,
    ),
    Column("ticker", String(16), nullable=False),
    Column("side", String(8), nullable=False),
    Column("quantity", Money, nullable=False),
    Column("price", Money, nullable=False),
    Column("commission", Money, nullable=False),
    Column("ts_event", UtcDateTime, nullable=False),
    Column("ts_init", UtcDateTime, nullable=True),
    Column("broker_order_id", String(64), nullable=True),
    _run_fk(),
    CheckConstraint(_in("side", [s.value for s in Side]), name="side"),
    CheckConstraint(_pos("quantity"), name="quantity_positive"),
    CheckConstraint(_pos("price"), name="price_positive"),
    CheckConstraint(_nonneg("commission"), name="commission_non_negative"),
    Index("ix_fills_client_order_id_ts_event", "client_order_id", "ts_event"),
    Index("ix_fills_ticker_ts_event", "ticker", "ts_event"),
    Index("ix_fills_run_id", "run_id"),
)

order_events = Table(
    "order_events",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("event_id", String(128), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("client_order_id", COID, nullable=False),
    Column("status", String(24), nullable=True),
    Column("reason", Text, nullable=True),
    Column("fill_id", ID, nullable=True),
    Column("broker_order_id", String(64), nullable=True),
    Column("ts_event", UtcDateTime, nullable=False),
    Column("ts_init", UtcDateTime, nullable=True),
    Column("data", JsonDoc, nullable=False),
    _run_fk(),
    CheckConstraint(
        "status IS NULL OR " + _in("status", [s.value for s in OrderStatus]), name="status"
    ),
    Index("ix_order_events_client_order_id", "client_order_id", "ts_event"),
    Index("ix_order_events_event_id", "event_id"),
)

_POSITION_MONEY = (
    "realized_gross",
    "commission",
    "max_quantity",
    "exit_qty",
    "exit_notional",
    "max_unrealized_pnl",
    "max_unrealized_pnl_pct",
    "min_unrealized_pnl",
    "min_unrealized_pnl_pct",
    "max_drawdown_pct",
)

positions = Table(
    "positions",
    metadata,
    Column("position_id", ID, primary_key=True),
    Column("ticker", String(16), nullable=False),
    Column("side", String(8), nullable=False),
    Column("opened_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=True),
    Column("quantity", Money, nullable=False),
    Column("avg_entry_price", Money, nullable=False),
    Column("last_price", Money, nullable=True),
    *(Column(name, Money, nullable=False) for name in _POSITION_MONEY),
    Column("stop_loss", Money, nullable=True),
    Column("take_profit", Money, nullable=True),
    Column("trailing_activation_pct", Money, nullable=True),
    Column("trailing_trail_pct", Money, nullable=True),
    Column("trailing_active", Boolean, nullable=False),
    Column("trailing_stop", Money, nullable=True),
    Column("extreme_price", Money, nullable=True),
    Column("exit_pending", String(24), nullable=True),
    Column("fill_ids", JsonDoc, nullable=False),
    Column("strategy", String(64), nullable=True),
    Column("signal_id", String(128), nullable=True),
    Column("signal_confidence", Float, nullable=True),
    Column("catalyst_score", Float, nullable=True),
    Column("rvol", Float, nullable=True),
    Column("atr", Float, nullable=True),
    Column("entry_order_id", COID, nullable=True),
    Column("exit_order_id", COID, nullable=True),
    Column("metadata", JsonDoc, nullable=False),
    Column("version", Integer, nullable=False),
    _run_fk(),
    CheckConstraint(_in("side", [s.value for s in PositionSide]), name="side"),
    CheckConstraint(_nonneg("quantity"), name="quantity_non_negative"),
    CheckConstraint(_nonneg("avg_entry_price"), name="avg_entry_price_non_negative"),
    CheckConstraint(_nonneg("commission"), name="commission_non_negative"),
    CheckConstraint(
        "(trailing_activation_pct IS NULL) = (trailing_trail_pct IS NULL)", name="trailing_pair"
    ),
    CheckConstraint(
        "exit_pending IS NULL OR " + _in("exit_pending", [r.value for r in ExitReason]),
        name="exit_pending",
    ),
    CheckConstraint("version >= 0", name="version_non_negative"),
    Index("ix_positions_ticker", "ticker"),
    Index("ix_positions_opened_at", "opened_at"),
    Index("ix_positions_strategy", "strategy"),
)

closed_positions = Table(
    "closed_positions",
    metadata,
    Column("position_id", ID, primary_key=True),
    Column("ticker", String(16), nullable=False),
    Column("side", String(8), nullable=False),
    Column("quantity", Money, nullable=False),
    Column("entry_price", Money, nullable=False),
    Column("exit_price", Money, nullable=False),
    Column("realized_pnl", Money, nullable=False),
    Column("gross_pnl", Money, nullable=False),
    Column("commission", Money, nullable=False),
    Column("realized_pnl_pct", Money, nullable=False),
    Column("opened_at", UtcDateTime, nullable=False),
    Column("closed_at", UtcDateTime, nullable=False),
    Column("hold_duration_seconds", BigInteger, nullable=False),
    Column("exit_reason", String(24), nullable=False),
    Column("max_unrealized_pnl", Money, nullable=False),
    Column("max_unrealized_pnl_pct", Money, nullable=False),
    Column("min_unrealized_pnl", Money, nullable=False),
    Column("min_unrealized_pnl_pct", Money, nullable=False),
    Column("max_drawdown_pct", Money, nullable=False),
    Column("stop_loss", Money, nullable=True),
    Column("take_profit", Money, nullable=True),
    Column("strategy", String(64), nullable=True),
    Column("signal_id", String(128), nullable=True),
    Column("signal_confidence", Float, nullable=True),
    Column("catalyst_score", Float, nullable=True),
    Column("rvol", Float, nullable=True),
    Column("atr", Float, nullable=True),
    Column("entry_order_id", COID, nullable=True),
    Column("exit_order_id", COID, nullable=True),
    Column("metadata", JsonDoc, nullable=False),
    _run_fk(),
    CheckConstraint(_in("side", [s.value for s in PositionSide]), name="side"),
    CheckConstraint(_in("exit_reason", [r.value for r in ExitReason]), name="exit_reason"),
    CheckConstraint(_nonneg("quantity"), name="quantity_non_negative"),
    CheckConstraint(_nonneg("commission"), name="commission_non_negative"),
    CheckConstraint("closed_at >= opened_at", name="closed_after_opened"),
    Index("ix_closed_positions_ticker", "ticker"),
    Index("ix_closed_positions_closed_at", "closed_at"),
    Index("ix_closed_positions_strategy", "strategy"),
    Index("ix_closed_positions_exit_reason", "exit_reason"),
)

portfolio_snapshots = Table(
    "portfolio_snapshots",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    _run_fk(),
    Column("ts", UtcDateTime, nullable=False),
    Column("cash", Money, nullable=False),
    Column("equity", Money, nullable=False),
    Column("long_market_value", Money, nullable=False),
    Column("short_market_value", Money, nullable=False),
    Column("open_positions", Integer, nullable=False),
    Column("daily_pnl", Money, nullable=False),
    Column("cumulative_pnl", Money, nullable=False),
    CheckConstraint("open_positions >= 0", name="open_positions_non_negative"),
    Index("ix_portfolio_snapshots_ts", "ts"),
)

execution_log = Table(
    "execution_log",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("ts", UtcDateTime, nullable=False),
    Column("ticker", String(16), nullable=False),
    Column("action", String(16), nullable=False),
    Column("stage", String(16), nullable=False),
    Column("success", Boolean, nullable=False),
    Column("signal_id", String(128), nullable=True),
    Column("signal_confidence", Float, nullable=True),
    Column("catalyst_score", Float, nullable=True),
    Column("client_order_id", COID, nullable=True),
    Column("position_id", ID, nullable=True),
    Column("error_message", Text, nullable=True),
    Column("elapsed_seconds", Float, nullable=True),
    Column("entry_price", Money, nullable=True),
    Column("stop_loss", Money, nullable=True),
    Column("take_profit", Money, nullable=True),
    Column("quantity", Money, nullable=True),
    Column("metadata", JsonDoc, nullable=False),
    _run_fk(),
    Index("ix_execution_log_ts", "ts"),
    Index("ix_execution_log_ticker", "ticker"),
    Index("ix_execution_log_signal_id", "signal_id"),
)

performance_metrics = Table(
    "performance_metrics",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    _run_fk(),
    Column("period", String(16), nullable=False),
    Column("period_start", UtcDateTime, nullable=False),
    Column("period_end", UtcDateTime, nullable=False),
    Column("metrics", JsonDoc, nullable=False),
    CheckConstraint("period <> ''", name="period_not_empty"),
    CheckConstraint("period_end >= period_start", name="period_order"),
    Index("ix_performance_metrics_period", "period", "period_start"),
)

# One snapshot per (run, ts) and one metrics row per (run, period, start); a NULL run counts
# as one run, hence the expression indexes (plain UNIQUE treats NULLs as distinct).
Index(
    "uq_portfolio_snapshots_run_ts",
    func.coalesce(portfolio_snapshots.c.run_id, ""),
    portfolio_snapshots.c.ts,
    unique=True,
)
Index(
    "uq_performance_metrics_run_period",
    func.coalesce(performance_metrics.c.run_id, ""),
    performance_metrics.c.period,
    performance_metrics.c.period_start,
    unique=True,
)

stop_loss_events = Table(
    "stop_loss_events",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("event_id", String(128), nullable=False),
    Column("position_id", ID, nullable=False),
    Column("ticker", String(16), nullable=False),
    Column("reason", String(24), nullable=False),
    Column("trigger_price", Money, nullable=False),
    Column("level", Money, nullable=True),
    Column("ts_event", UtcDateTime, nullable=False),
    Column("was_trailing", Boolean, nullable=False),
    _run_fk(),
    CheckConstraint(_in("reason", [r.value for r in ExitReason]), name="reason"),
    Index("ix_stop_loss_events_ticker", "ticker"),
    Index("ix_stop_loss_events_ts_event", "ts_event"),
    Index("ix_stop_loss_events_position_id", "position_id"),
)

risk_events = Table(
    "risk_events",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("event_id", String(128), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("rule", String(64), nullable=False),
    Column("message", Text, nullable=False),
    Column("ts_event", UtcDateTime, nullable=False),
    Column("value", Text, nullable=True),
    Column("limit_value", Text, nullable=True),
    Column("state", String(16), nullable=True),
    Column("actor", String(64), nullable=True),
    Column("data", JsonDoc, nullable=False),
    _run_fk(),
    CheckConstraint("state IS NULL OR " + _in("state", [s.value for s in RiskState]), name="state"),
    Index("ix_risk_events_ts_event", "ts_event"),
    Index("ix_risk_events_kind", "kind"),
)

# Small state per run (risk state, engine cursor, order plans): one value per (run, key).
kv_state = Table(
    "kv_state",
    metadata,
    Column("run_id", ID, primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", UtcDateTime, nullable=True),
)

MODEL_STATUSES = ("candidate", "production", "archived")

model_versions = Table(
    "model_versions",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False),
    Column("version", Integer, nullable=False),
    Column("algo", String(32), nullable=False),
    Column("status", String(16), nullable=False, server_default="candidate"),
    Column("path", Text, nullable=False),
    Column("hyperparams", JsonDoc, nullable=False),
    Column("data_hash", String(128), nullable=False),
    Column("env_config", JsonDoc, nullable=False),
    Column("seed", Integer, nullable=False),
    Column("library_versions", JsonDoc, nullable=False),
    Column("metrics", JsonDoc, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("promoted_at", UtcDateTime, nullable=True),
    UniqueConstraint("name", "version", name="uq_model_versions_name_version"),
    CheckConstraint(_in("status", MODEL_STATUSES), name="status"),
    CheckConstraint("version >= 1", name="version_positive"),
    Index("ix_model_versions_name_status", "name", "status"),
)

# The alert inbox: alerts received over HTTP, shared by every run of the store. ``seq`` is the
# order of arrival; ``alert_id`` is unique (the same alert sent again is not stored twice);
# ``run_id`` names the run that routed it (no foreign key: deleting a run keeps its alerts).
INBOX_STATUSES = ("received", "released", "routed", "suppressed", "rejected")

alerts = Table(
    "alerts",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("alert_id", String(128), nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    Column("known_at", UtcDateTime, nullable=False),
    Column("source", String(64), nullable=False),
    Column("body_hash", String(64), nullable=False),
    Column("payload", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("reason", Text, nullable=False),
    Column("run_id", ID, nullable=True),
    Column("updated_at", UtcDateTime, nullable=True),
    UniqueConstraint("alert_id", name="uq_alerts_alert_id"),
    CheckConstraint(_in("status", INBOX_STATUSES), name="status"),
    Index("ix_alerts_status_known_at", "status", "known_at", "seq"),
)

walk_forward_runs = Table(
    "walk_forward_runs",
    metadata,
    # the run key: a hash of the settings and the data, so a rerun updates the same row
    Column("run_key", ID, primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("settings", JsonDoc, nullable=False),
    Column("aggregate", JsonDoc, nullable=False),
    Column("deflated_sharpe", JsonDoc, nullable=False),
    Column("pbo", JsonDoc, nullable=True),
    Column("n_trials", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    CheckConstraint("kind <> ''", name="kind_not_empty"),
    Index("ix_walk_forward_runs_created_at", "created_at"),
)

walk_forward_windows = Table(
    "walk_forward_windows",
    metadata,
    Column(
        "run_key",
        ID,
        ForeignKey("walk_forward_runs.run_key", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("window_index", Integer, primary_key=True),
    Column("train_start", String(10), nullable=False),
    Column("train_end", String(10), nullable=False),
    Column("test_start", String(10), nullable=False),
    Column("test_end", String(10), nullable=False),
    Column("metrics", JsonDoc, nullable=False),
    Column("baselines", JsonDoc, nullable=False),
    Column("chosen", JsonDoc, nullable=False),
    CheckConstraint("window_index >= 0", name="window_index_nonneg"),
)

# One process per run: the lease a `run` or `backtest` holds on its run name while it works.
# ``token`` is the holder's own random id (renewals and the release compare it), ``host`` and
# ``pid`` name the holder for people and for spotting a dead holder on the same host, and a
# lease whose ``expires_at`` has passed (the holder stopped renewing) may be taken over.
run_leases = Table(
    "run_leases",
    metadata,
    Column("run_id", ID, primary_key=True),
    Column("token", String(64), nullable=False),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("since", UtcDateTime, nullable=False),
    Column("renewed_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
)

# Poison input set aside: an alert line or a price bar that could not be used, with where it
# came from (file, line) and why. ``key`` identifies the input itself (its source, line and
# a digest of its text), so a restart that reads it again recognises it and skips it.
QUARANTINE_KINDS = ("alert", "bar")

quarantine = Table(
    "quarantine",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("run_id", ID, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("source", Text, nullable=False),
    Column("line", Integer, nullable=True),
    Column("reason", Text, nullable=False),
    Column("excerpt", Text, nullable=False),
    Column("key", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("run_id", "key", name="uq_quarantine_run_id_key"),
    CheckConstraint(_in("kind", QUARANTINE_KINDS), name="kind"),
)

__all__ = [
    "INBOX_STATUSES",
    "MODEL_STATUSES",
    "QUARANTINE_KINDS",
    "alerts",
    "closed_positions",
    "execution_log",
    "fills",
    "kv_state",
    "metadata",
    "model_versions",
    "order_events",
    "orders",
    "performance_metrics",
    "portfolio_snapshots",
    "positions",
    "quarantine",
    "risk_events",
    "run_leases",
    "runs",
    "stop_loss_events",
    "walk_forward_runs",
    "walk_forward_windows",
]
