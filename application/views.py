"""Read models: what the CLI's read commands and the dashboard show, as plain typed values.

Each function reads one run's books through a unit of work (opened for that run with
``uow.for_run(name)``) and returns frozen values; nothing here formats text or writes, except
:func:`performance`, which recomputes the run's period metrics and stores them as the tracker
does at the end of a run. Callers render the values as they like (tables, JSON, charts).

Why one module: every read model resolves the run and reads through the same unit of work the
same way, and the CLI and the dashboard import them from one place; the seam for a split is
trading books against agents and models.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs

from application.ports import DEFAULT_RUN, ModelRegistry, UnitOfWork, WalkForwardRepo
from application.risk import RiskService, RiskStatus
from application.tracker import PERIODS, PortfolioTracker
from domain.account import Account
from domain.audit import PerformanceRecord
from domain.events import RiskEvent
from domain.position import ClosedPosition
from domain.risk import BreakerState
from domain.rl.models import ModelVersion

__all__ = [
    "AGENT_SOURCE",
    "AccountView",
    "AgentActivity",
    "AgentMonitorView",
    "AgentSwap",
    "AgentVersionMonitor",
    "BenchmarkPoint",
    "DeployedAgent",
    "EquityPoint",
    "ModelVersionView",
    "OrderView",
    "PositionView",
    "RunSummary",
    "TickerResult",
    "TradeView",
    "UnknownRun",
    "WalkForwardView",
    "account",
    "agent_activity",
    "agent_monitor",
    "benchmark_curve",
    "correlation_groups",
    "equity_curve",
    "latest_run",
    "model_versions",
    "models",
    "orders",
    "performance",
    "positions",
    "resolve_run",
    "risk_events",
    "risk_state",
    "risk_status",
    "runs",
    "ticker_results",
    "trade_headlines",
    "trade_log",
    "trades",
    "walk_forward_runs",
]


class UnknownRun(LookupError):
    """A run name the store does not hold; ``known`` lists the names it does."""

    def __init__(self, name: str, known: Sequence[str]) -> None:
        super().__init__(f"no such run {name!r} (runs: {', '.join(known) or 'none'})")
        self.name = name
        self.known = tuple(known)


@attrs.frozen
class PositionView:
    """An open position with its stops and mark."""

    position_id: str
    ticker: str
    side: str
    quantity: Decimal
    avg_entry_price: Decimal
    last_price: Decimal | None
    unrealized_pnl: Decimal
    stop_loss: Decimal | None
    take_profit: Decimal | None
    trailing_stop: Decimal | None
    opened_at: datetime
    #: the best and worst unrealized P&L so far (maximum favourable / adverse excursion)
    mfe: Decimal = Decimal(0)
    mae: Decimal = Decimal(0)


@attrs.frozen
class OrderView:
    """An order as stored, with the signal and position it belongs to."""

    client_order_id: str
    ticker: str
    side: str
    quantity: Decimal
    status: str
    filled_qty: Decimal
    avg_fill_price: Decimal | None
    created_at: datetime
    signal_id: str | None
    position_id: str | None
    #: what produced the order: a strategy name, or ``agent:NAME@VERSION``
    source: str | None = None


@attrs.frozen
class AccountView:
    """The run's latest portfolio snapshot and the run's status."""

    run_id: str | None
    as_of: datetime
    cash: Decimal
    equity: Decimal
    long_market_value: Decimal
    short_market_value: Decimal
    open_positions: int
    daily_pnl: Decimal
    cumulative_pnl: Decimal
    run_status: str | None


@attrs.frozen
class EquityPoint:
    """One step of the equity curve, with the drawdown from the running peak (a fraction)."""

    ts: datetime
    equity: Decimal
    cash: Decimal
    drawdown: Decimal


@attrs.frozen
class RunSummary:
    """One run of a store: its record, the size of its books and its last equity."""

    run: str
    kind: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    orders: int
    open_positions: int
    trades: int
    equity: Decimal | None
    latest: bool
    params: Mapping[str, Any]


def latest_run(uow: UnitOfWork) -> str:
    """Return the run started or finished most recently (the default run when none)."""
    with uow as u:
        records = u.runs.list()
    return records[-1].run_id if records else DEFAULT_RUN


def resolve_run(uow: UnitOfWork, name: str | None) -> str:
    """Return ``name`` if the store holds that run, else raise :class:`UnknownRun`;
    ``None`` means the latest run."""
    if name is None:
        return latest_run(uow)
    with uow as u:
        known = [r.run_id for r in u.runs.list()]
    if name not in known:
        raise UnknownRun(name, known)
    return name


def positions(uow: UnitOfWork) -> list[PositionView]:
    """Return the run's open positions."""
    with uow as u:
        return [PositionView(
            position_id=p.position_id, ticker=p.ticker, side=p.side.value, quantity=p.quantity,
            avg_entry_price=p.avg_entry_price, last_price=p.last_price,
            unrealized_pnl=p.unrealized_pnl(), stop_loss=p.stop_loss,
            take_profit=p.take_profit, trailing_stop=p.trailing_stop, opened_at=p.opened_at,
            mfe=p.max_unrealized_pnl, mae=p.min_unrealized_pnl,
        ) for p in u.positions.list_open()]


def orders(uow: UnitOfWork, *, open_only: bool = False) -> list[OrderView]:
    """Return the run's orders (only those still working with ``open_only``), oldest first."""
    with uow as u:
        return [OrderView(
            client_order_id=o.client_order_id, ticker=o.ticker, side=o.side.value,
            quantity=o.quantity, status=o.status.value, filled_qty=o.filled_qty,
            avg_fill_price=o.avg_fill_price, created_at=o.created_at,
            signal_id=o.request.signal_id, position_id=o.request.position_id,
            source=o.request.strategy,
        ) for o in u.orders.list(open_only=open_only)]


def trades(uow: UnitOfWork) -> list[ClosedPosition]:
    """Return the run's closed positions (the trade log), oldest first."""
    with uow as u:
        return list(u.positions.list_closed())


def account(uow: UnitOfWork, run: str) -> AccountView | None:
    """Return the latest snapshot of run ``run`` (None before its first step)."""
    with uow as u:
        snaps = u.reports.snapshots()
        record = u.runs.get(run)
    if not snaps:
        return None
    s = snaps[-1]
    return AccountView(
        run_id=s.run_id, as_of=s.ts, cash=s.cash, equity=s.equity,
        long_market_value=s.long_market_value, short_market_value=s.short_market_value,
        open_positions=s.open_positions, daily_pnl=s.daily_pnl, cumulative_pnl=s.cumulative_pnl,
        run_status=record.status if record else None)


def equity_curve(uow: UnitOfWork) -> list[EquityPoint]:
    """Return the run's equity per step with its drawdown from the running peak."""
    with uow as u:
        snaps = u.reports.snapshots()
    out: list[EquityPoint] = []
    peak: Decimal | None = None
    for s in snaps:
        peak = s.equity if peak is None or s.equity > peak else peak
        dd = (s.equity / peak - 1) if peak > 0 else Decimal(0)
        out.append(EquityPoint(ts=s.ts, equity=s.equity, cash=s.cash, drawdown=dd))
    return out


def performance(uow: UnitOfWork, run: str, period: str) -> list[PerformanceRecord]:
    """Return the run's metrics per ``period`` (daily, weekly, monthly or all), recomputed
    from its snapshots and trades and stored; ``ValueError`` for another period, and
    :class:`UnknownRun` when the run has never started."""
    if period not in PERIODS:
        raise ValueError(f"period {period!r}: expected one of {', '.join(PERIODS)}")
    with uow as u:
        record = u.runs.get(run)
        if record is None:
            raise UnknownRun(run, [r.run_id for r in u.runs.list()])
        recs = PortfolioTracker(record.run_id).compute(u, (period,))[period]
        u.commit()
    return list(recs)


def runs(uow: UnitOfWork) -> list[RunSummary]:
    """Return every run of the store, oldest first, with its size and last equity."""
    with uow as u:
        records = u.runs.list()
    out: list[RunSummary] = []
    for r in records:
        with uow.for_run(r.run_id) as u:
            snaps = u.reports.snapshots()
            out.append(RunSummary(
                run=r.run_id, kind=r.kind, status=r.status, started_at=r.started_at,
                finished_at=r.finished_at, orders=len(u.orders.list()),
                open_positions=len(u.positions.list_open()),
                trades=len(u.positions.list_closed()),
                equity=snaps[-1].equity if snaps else None, latest=r is records[-1],
                params=dict(r.params)))
    return out


def risk_state(uow: UnitOfWork) -> BreakerState:
    """Return the run's persisted breaker state (ACTIVE when none is stored)."""
    with uow as u:
        return RiskService.load(u)


def models(registry: ModelRegistry, name: str | None = None) -> list[ModelVersion]:
    """Return every registered model version (of one model), by name then version."""
    return list(registry.list(name))


@attrs.frozen
class TradeView:
    """A closed trade with the alert behind it and its excursions (MFE/MAE)."""

    position_id: str
    ticker: str
    side: str
    quantity: Decimal
    entry_price: Decimal
    exit_price: Decimal
    opened_at: datetime
    closed_at: datetime
    exit_reason: str
    realized_pnl: Decimal
    realized_pnl_pct: Decimal
    mfe: Decimal
    mae: Decimal
    stop_loss: Decimal | None
    take_profit: Decimal | None
    alert_id: str | None
    catalyst_score: float | None
    confidence: float | None
    #: the headline of the alert behind the trade (None: no alert, or a run stored before
    #: headlines were recorded and no alerts file to look it up in)
    headline: str | None = None
    #: what produced the trade: a strategy name, or ``agent:NAME@VERSION``
    source: str | None = None


@attrs.frozen
class TickerResult:
    """The closed trades of one ticker, summed."""

    ticker: str
    trades: int
    wins: int
    realized_pnl: Decimal
    best: Decimal
    worst: Decimal

    @property
    def win_rate(self) -> float:
        """Return the share of winning trades (0 without trades)."""
        return self.wins / self.trades if self.trades else 0.0


@attrs.frozen
class BenchmarkPoint:
    """One step of the benchmark: equal-weight buy-and-hold of the traded universe."""

    ts: datetime
    equity: Decimal


def trade_headlines(uow: UnitOfWork) -> dict[str, str]:
    """Return signal id -> the headline of the alert behind it, as the executor recorded it
    when it submitted the signal's entry order (signals without an alert have none)."""
    with uow as u:
        return {e.signal_id: str(e.metadata["headline"]) for e in u.journal.executions()
                if e.stage == "submit" and e.signal_id and e.metadata.get("headline")}


def trade_log(uow: UnitOfWork, headlines: Mapping[str, str] | None = None) -> list[TradeView]:
    """Return the run's closed trades, oldest first, with the alert that opened each and its
    headline: the one stored with the signal's entry, else the one ``headlines`` (alert id ->
    headline, e.g. read from the run's alerts file) gives; None when neither knows it."""
    stored = trade_headlines(uow)
    out: list[TradeView] = []
    for c in trades(uow):
        alert = c.metadata.get("alert_id") if c.metadata else None
        headline = stored.get(c.signal_id) if c.signal_id else None
        if headline is None and alert is not None:
            headline = (headlines or {}).get(str(alert))
        out.append(TradeView(
            position_id=c.position_id, ticker=c.ticker, side=c.side.value, quantity=c.quantity,
            entry_price=c.entry_price, exit_price=c.exit_price, opened_at=c.opened_at,
            closed_at=c.closed_at, exit_reason=c.exit_reason.value, realized_pnl=c.realized_pnl,
            realized_pnl_pct=c.realized_pnl_pct, mfe=c.max_unrealized_pnl,
            mae=c.min_unrealized_pnl, stop_loss=c.stop_loss, take_profit=c.take_profit,
            alert_id=str(alert) if alert is not None else c.signal_id,
            catalyst_score=c.catalyst_score, confidence=c.signal_confidence,
            headline=headline, source=c.strategy))
    return out


def ticker_results(uow: UnitOfWork) -> list[TickerResult]:
    """Return the closed trades summed per ticker, best total P&L first."""
    by: dict[str, list[ClosedPosition]] = {}
    for c in trades(uow):
        by.setdefault(c.ticker, []).append(c)
    out = [TickerResult(
        ticker=t, trades=len(cs), wins=sum(1 for c in cs if c.realized_pnl > 0),
        realized_pnl=sum((c.realized_pnl for c in cs), Decimal(0)),
        best=max(c.realized_pnl for c in cs), worst=min(c.realized_pnl for c in cs))
        for t, cs in by.items()]
    return sorted(out, key=lambda r: (-r.realized_pnl, r.ticker))


def benchmark_curve(
    closes: Mapping[str, Sequence[tuple[datetime, float]]],
    start_equity: Decimal,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[BenchmarkPoint]:
    """Return equal-weight buy-and-hold of ``closes`` (ticker -> (time, close), time-ordered)
    from ``start`` to ``end``, starting at ``start_equity``.

    Each ticker gets an equal share of the capital at its first close in the window and holds
    it; a ticker's value stays at its last close until its next one. Tickers without a close
    in the window are left out; the result is empty when none has one.
    """
    series: dict[str, list[tuple[datetime, float]]] = {}
    for t, rows in closes.items():
        kept = [(ts, px) for ts, px in rows
                if px > 0 and (start is None or ts >= start) and (end is None or ts <= end)]
        if kept:
            series[t] = kept
    if not series:
        return []
    stamps = sorted({ts for rows in series.values() for ts, _ in rows})
    share = float(start_equity) / len(series)
    first = {t: rows[0][1] for t, rows in series.items()}
    last: dict[str, float] = {}
    pos = dict.fromkeys(series, 0)
    out: list[BenchmarkPoint] = []
    for ts in stamps:
        for t, rows in series.items():
            i = pos[t]
            while i < len(rows) and rows[i][0] <= ts:
                last[t] = rows[i][1]
                i += 1
            pos[t] = i
        # a ticker not yet listed holds its share in cash until its first close
        value = sum(share * (last[t] / first[t]) if t in last else share for t in series)
        out.append(BenchmarkPoint(ts=ts, equity=Decimal(str(round(value, 6)))))
    return out


def risk_events(uow: UnitOfWork) -> list[RiskEvent]:
    """Return the run's risk-event log, oldest first."""
    with uow as u:
        return list(u.journal.risk_events())


def risk_status(service: RiskService, uow: UnitOfWork, recent: int = 50) -> RiskStatus:
    """Return the run's risk state with every limit's usage and headroom, measured on the
    engine's last mark (the equity the breaker last saw and the stored open positions)."""
    st = service.current()
    eq = st.last_equity if st.last_equity is not None else Decimal(0)
    with uow as u:
        open_positions = list(u.positions.list_open())
    return service.status(Account(cash=eq, equity=eq, buying_power=eq), open_positions,
                          recent=recent)


def correlation_groups(
    closes: Mapping[str, Sequence[tuple[datetime, float]]],
    as_of: datetime,
    threshold: float,
    lookback: int,
    min_obs: int,
) -> list[frozenset[str]]:
    """Return the correlation clusters of ``closes``' tickers on the days up to ``as_of``, as
    the risk policy forms them (daily close-to-close returns over the last ``lookback`` days,
    single linkage above ``threshold``); the largest first, then by name."""
    import itertools  # noqa: PLC0415 - only this view needs them
    import math  # noqa: PLC0415

    import numpy as np  # noqa: PLC0415

    from domain.risk.correlation import correlation_clusters  # noqa: PLC0415

    by_day = {t: {ts: px for ts, px in rows if ts <= as_of} for t, rows in closes.items()}
    days = sorted({d for s in by_day.values() for d in s})[-(lookback + 1):]
    returns: dict[str, Any] = {}
    for t, s in by_day.items():
        r = [(s[b] / s[a] - 1) if a in s and b in s and s[a] > 0 else math.nan
             for a, b in itertools.pairwise(days)]
        if r:
            returns[t] = np.asarray(r, dtype=np.float64)
    groups = set(correlation_clusters(returns, sorted(by_day), threshold, lookback,
                                      min_obs).values())
    return sorted(groups, key=lambda g: (-len(g), sorted(g)))


# --- deployed agents --------------------------------------------------------------------------
#: the source of a signal, order or position an agent produced: ``agent:NAME@VERSION``
AGENT_SOURCE = "agent:"


@attrs.frozen
class AgentActivity:
    """What a run's books hold about one agent version: its orders, its signals the risk
    policy refused (count per rule), the closed positions it opened with their realized P&L,
    and the positions it opened that are still open with their unrealized P&L at the last
    mark."""

    ref: str
    orders: int = 0
    refused: Mapping[str, int] = attrs.field(factory=dict)
    closed: int = 0
    realized_pnl: Decimal = Decimal(0)
    open: int = 0
    unrealized_pnl: Decimal = Decimal(0)

    def to_json(self) -> dict[str, Any]:
        """Return the activity as JSON (money as a string)."""
        return {"orders": self.orders, "refused": dict(self.refused), "closed": self.closed,
                "realized_pnl": str(self.realized_pnl), "open": self.open,
                "unrealized_pnl": str(self.unrealized_pnl)}


def agent_activity(uow: UnitOfWork) -> dict[str, AgentActivity]:
    """Return, per agent version (``NAME@VERSION``), what the run's books hold about it."""
    orders: dict[str, int] = {}
    refused: dict[str, dict[str, int]] = {}
    closed: dict[str, int] = {}
    pnl: dict[str, Decimal] = {}
    held: dict[str, int] = {}
    unrealized: dict[str, Decimal] = {}
    with uow as u:
        for o in u.orders.list():
            s = o.request.strategy or ""
            if s.startswith(AGENT_SOURCE):
                ref = s.removeprefix(AGENT_SOURCE)
                orders[ref] = orders.get(ref, 0) + 1
        for e in u.journal.executions():
            sid = e.signal_id or ""
            if e.stage == "risk" and not e.success and sid.startswith(AGENT_SOURCE):
                # agent signal ids are agent:NAME@VERSION:TICKER:TIMESTAMP (the time has ':')
                ref = sid.split(":")[1]
                rule = str(e.metadata.get("rule") or e.error_message or "risk")
                per = refused.setdefault(ref, {})
                per[rule] = per.get(rule, 0) + 1
        for c in u.positions.list_closed():
            s = c.strategy or ""
            if s.startswith(AGENT_SOURCE):
                ref = s.removeprefix(AGENT_SOURCE)
                closed[ref] = closed.get(ref, 0) + 1
                pnl[ref] = pnl.get(ref, Decimal(0)) + c.realized_pnl
        for p in u.positions.list_open():
            s = p.strategy or ""
            if s.startswith(AGENT_SOURCE):
                ref = s.removeprefix(AGENT_SOURCE)
                held[ref] = held.get(ref, 0) + 1
                unrealized[ref] = unrealized.get(ref, Decimal(0)) + p.unrealized_pnl()
    return {ref: AgentActivity(ref=ref, orders=orders.get(ref, 0), refused=refused.get(ref, {}),
                               closed=closed.get(ref, 0), realized_pnl=pnl.get(ref, Decimal(0)),
                               open=held.get(ref, 0),
                               unrealized_pnl=unrealized.get(ref, Decimal(0)))
            for ref in sorted({*orders, *refused, *closed, *held})}


@attrs.frozen
class DeployedAgent:
    """One agent a run deploys: the version it runs now and its tickers."""

    name: str
    running: str
    pinned: bool
    tickers: tuple[str, ...]


@attrs.frozen
class AgentSwap:
    """A hot-swap of an agent's version between two bars."""

    agent: str
    from_ref: str
    to_ref: str
    ts: str | None
    pause_ms: float | None


@attrs.frozen
class AgentVersionMonitor:
    """What one agent version did in a run: its actions (count and share), the signals it
    emitted, what the books hold (:class:`AgentActivity`), its inference latency and the drift
    of its live observations from the training data's feature statistics."""

    ref: str
    actions: Mapping[str, int]
    action_share: Mapping[str, float]
    signals: int
    activity: AgentActivity
    latency_count: int
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    latency_max_ms: float | None
    #: the largest drift score of a feature (None: no drift monitoring for this version)
    drift_score: float | None
    drift_feature: str | None
    drift_threshold: float | None
    drift_warned: bool
    first_ts: str | None
    last_ts: str | None
    #: why drift is not measured for this version (None: it is, or the status predates this)
    drift_unavailable: str | None = None


@attrs.frozen
class AgentMonitorView:
    """The deployed agents of a run: who runs which version, the swaps, and per version what it
    did. ``has_status`` is False when the run wrote no agent status (its books may still hold
    agent orders, shown per version)."""

    run: str
    has_status: bool
    steps: int | None
    agents: tuple[DeployedAgent, ...]
    swaps: tuple[AgentSwap, ...]
    versions: tuple[AgentVersionMonitor, ...]

    @property
    def drift_warnings(self) -> tuple[AgentVersionMonitor, ...]:
        """Return the versions whose drift is past its threshold."""
        return tuple(v for v in self.versions if v.drift_warned)


def agent_monitor(uow: UnitOfWork, run: str,
                  status: Mapping[str, Any] | None) -> AgentMonitorView:
    """Return the live monitoring of run ``run``'s agents: ``status`` is what the agents wrote
    last (:meth:`application.agents.AgentSignalSource.status`; None when the run wrote none),
    joined with the run's books (:func:`agent_activity`).

    Raises ``ValueError`` naming the field when ``status`` does not have the status's shape.
    """
    activity = agent_activity(uow)
    st: Mapping[str, Any] = status or {}
    field = "status"
    try:
        field = "agents"
        agents = tuple(DeployedAgent(name=str(a["name"]), running=str(a["running"]),
                                     pinned=bool(a.get("pinned", False)),
                                     tickers=tuple(str(t) for t in a.get("tickers", ())))
                       for a in st.get("agents", ()))
        field = "swaps"
        swaps = tuple(AgentSwap(agent=str(w.get("agent", "")), from_ref=str(w["from"]),
                                to_ref=str(w["to"]), ts=w.get("ts"),
                                pause_ms=None if w.get("pause_ms") is None
                                else float(w["pause_ms"]))
                      for w in st.get("swaps", ()))
        monitors: dict[str, Mapping[str, Any]] = dict(st.get("versions", {}))
        versions = []
        for ref in sorted({*monitors, *activity}):
            field = f"versions.{ref}"
            m = monitors.get(ref, {})
            lat = m.get("latency") or {}
            drift = m.get("drift") or {}
            count = int(lat.get("count", 0))
            versions.append(AgentVersionMonitor(
                ref=ref, actions={str(k): int(n) for k, n in (m.get("actions") or {}).items()},
                action_share={str(k): float(x)
                              for k, x in (m.get("action_share") or {}).items()},
                signals=int(m.get("signals", 0)),
                activity=activity.get(ref, AgentActivity(ref=ref)), latency_count=count,
                latency_p50_ms=float(lat["p50_ms"]) if count else None,
                latency_p99_ms=float(lat["p99_ms"]) if count else None,
                latency_max_ms=float(lat["max_ms"]) if count else None,
                drift_score=float(drift["score"]) if drift else None,
                drift_feature=drift.get("feature") if drift else None,
                drift_threshold=float(drift["threshold"]) if drift else None,
                drift_warned=bool(drift.get("warned", False)) if drift else False,
                first_ts=m.get("first_ts"), last_ts=m.get("last_ts"),
                drift_unavailable=m.get("drift_unavailable")))
        steps = st.get("steps")
        field = "steps"
        return AgentMonitorView(run=run, has_status=status is not None,
                                steps=None if steps is None else int(steps), agents=agents,
                                swaps=swaps, versions=tuple(versions))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"agent status of run {run!r}: field {field!r} is malformed "
                         f"({type(exc).__name__}: {exc})") from None


# --- the model registry and the agents' walk-forward validation --------------------------------
@attrs.frozen
class ModelVersionView:
    """A registered model version with its validation results: the validation Sharpe and
    return, buy-and-hold's return on the same bars and the recorded quality verdict (None
    where the version does not record it), plus every other scalar metric as recorded."""

    ref: str
    name: str
    version: int
    algo: str
    status: str
    created_at: datetime
    promoted_at: datetime | None
    seed: int
    data_hash: str
    val_sharpe: float | None
    val_return: float | None
    buy_and_hold_return: float | None
    beats_buy_and_hold: bool | None
    beats_random: bool | None
    warnings: tuple[str, ...]
    scalars: Mapping[str, Any]


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def model_versions(registry: ModelRegistry, name: str | None = None) -> list[ModelVersionView]:
    """Return every registered version (of one model) with its validation results, by name
    then version."""
    out: list[ModelVersionView] = []
    for v in registry.list(name):
        m = v.metrics

        def part(key: str, metrics: Mapping[str, Any] = m) -> Mapping[str, Any]:
            x = metrics.get(key)
            return x if isinstance(x, Mapping) else {}

        val, bh, q = part("validation"), part("buy_and_hold_validation"), part("quality")
        flag = {k: q.get(k) if isinstance(q.get(k), bool) else None
                for k in ("beats_buy_and_hold", "beats_random")}
        out.append(ModelVersionView(
            ref=v.ref, name=v.name, version=v.version, algo=v.algo, status=v.status.value,
            created_at=v.created_at, promoted_at=v.promoted_at, seed=v.seed,
            data_hash=v.data_hash, val_sharpe=_num(val.get("sharpe")),
            val_return=_num(val.get("total_return")),
            buy_and_hold_return=_num(bh.get("total_return")),
            beats_buy_and_hold=flag["beats_buy_and_hold"], beats_random=flag["beats_random"],
            warnings=tuple(str(w) for w in q.get("warnings", ()) or ()),
            scalars={k: x for k, x in m.items() if not isinstance(x, Mapping | list | tuple)}))
    return out


@attrs.frozen
class WalkForwardView:
    """A stored walk-forward run: its settings and the out-of-sample aggregate, against
    buy-and-hold, with the deflated Sharpe ratio and the probability of backtest overfitting."""

    run_key: str
    kind: str
    created_at: datetime | None
    algo: str | None
    windows: int
    oos_total_return: float | None
    oos_sharpe: float | None
    oos_max_drawdown: float | None
    bh_total_return: float | None
    share_beating_buy_and_hold: float | None
    share_beating_random: float | None
    deflated_sharpe: float | None
    pbo: float | None
    settings: Mapping[str, Any]


def walk_forward_runs(repo: WalkForwardRepo, kind: str | None = None) -> list[WalkForwardView]:
    """Return the stored walk-forward runs (of ``kind``: ``rl`` for agents, ``strategy`` for
    strategies; None: all), newest first."""
    out: list[WalkForwardView] = []
    for r in repo.list():
        if kind is not None and r.get("kind") != kind:
            continue
        agg = r.get("aggregate") or {}
        dsr = r.get("deflated_sharpe") or {}
        pbo = r.get("pbo") or {}
        settings = dict(r.get("settings") or {})
        out.append(WalkForwardView(
            run_key=str(r["run_key"]), kind=str(r.get("kind", "")),
            created_at=r.get("created_at"),
            algo=None if settings.get("algo") is None else str(settings["algo"]),
            windows=int(agg.get("windows") or 0),
            oos_total_return=_num(agg.get("oos_total_return")),
            oos_sharpe=_num(agg.get("oos_sharpe")),
            oos_max_drawdown=_num(agg.get("oos_max_drawdown")),
            bh_total_return=_num(agg.get("bh_total_return")),
            share_beating_buy_and_hold=_num(agg.get("share_beating_buy_and_hold")),
            share_beating_random=_num(agg.get("share_beating_random")),
            deflated_sharpe=_num(dsr.get("dsr")), pbo=_num(pbo.get("pbo")),
            settings=settings))
    return out
