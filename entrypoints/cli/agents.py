"""Wiring of ``--agent`` for ``catalyst backtest`` and ``catalyst run``.

``--agent NAME[@VERSION][:TICKER,...]`` (repeatable) deploys a registered model as the signal
source: without a version it trades the production version and follows promotions and
rollbacks while the run goes on; without tickers it trades every ticker of the data. Several
agents may run at once on different tickers (``--agent a@1:AAPL,MSFT --agent b:GOOG``).

The registry is the one ``catalyst rl models`` shows: ``models/`` under the state home
(``CATALYST_HOME``) with its metadata in the configured database. The agents' status goes to
``agents/<run>.json`` under the state home (read by ``catalyst rl status``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import typer
from rich.console import Console
from rich.markup import escape

from application.agents import AgentSignalSource
from domain.market import Bar

__all__ = ["agent_source", "bars_frame", "served_bars"]

err = Console(stderr=True)


def _fail(msg: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {escape(msg)}")
    return typer.Exit(2)


def served_bars(data: Any) -> list[Bar]:
    """Return the bars a replay of ``data`` (:class:`adapters.sources.market.DailyBars`)
    serves, in time order: the file's bars without those it set aside as bad."""
    from adapters.simulated.sessions import dt_from_ns

    out: list[Bar] = []
    for ch in data.chunks():
        for ns, t, o, h, lo, c, v in zip(ch.ts.tolist(), ch.ticker.tolist(), ch.open.tolist(),
                                         ch.high.tolist(), ch.low.tolist(), ch.close.tolist(),
                                         ch.volume.tolist(), strict=True):
            out.append(Bar(str(t), dt_from_ns(int(ns)), o, h, lo, c, v))
    return out


def bars_frame(bars: Sequence[Bar]) -> pd.DataFrame:
    """Return ``bars`` as the canonical OHLCV frame (``load_ohlcv``'s columns and order: by
    ticker, then date; each bar dated by its session in New York)."""
    from adapters.rl.inference import session_date

    df = pd.DataFrame({
        "date": np.array([session_date(b.ts) for b in bars], dtype="datetime64[ns]"),
        "ticker": [b.ticker for b in bars],
        **{k: np.array([float(getattr(b, k)) for b in bars], dtype=np.float64)
           for k in ("open", "high", "low", "close", "volume")}})
    return df.sort_values(["ticker", "date"], kind="stable").reset_index(drop=True)


def agent_source(specs: Sequence[str], data: Path, alerts: str | None, tickers: Sequence[str],
                 cash: float, run_id: str, notifier: Any = None,
                 bars: Sequence[Bar] = ()) -> AgentSignalSource:
    """Build the agents' signal source over ``bars``, the bars the replay of the price file
    ``data`` serves (:func:`served_bars`: bad bars set aside), see the module doc. The
    benchmark and the drift monitor's feature statistics are built from ``bars``, and the
    observations are fed them again on a resume."""
    from adapters.data.alerts import read_alerts
    from adapters.data.features import benchmark_close, build_features
    from adapters.data.sample import sample_paths
    from adapters.rl.inference import (
        FeatureObservations,
        RegistryPolicyLoader,
        StatusFile,
        feature_stats,
    )
    from domain.rl.deployment import parse_agent_spec
    from domain.rl.models import RegistryError
    from entrypoints.cli.rl._common import open_registry, status_path

    try:
        parsed = [parse_agent_spec(s) for s in specs]
    except ValueError as exc:
        raise _fail(str(exc)) from None
    if not bars:
        raise _fail(f"--data {str(data)!r}: no valid bars for the agents")
    frame = bars_frame(bars)
    spec = alerts or str(sample_paths().alerts)
    history = read_alerts(spec) if Path(spec).is_file() else []
    unknown = sorted({t for p in parsed for t in p.tickers} - set(tickers))
    if unknown:
        raise _fail(f"--agent: {', '.join(unknown)} not in the data (tickers: "
                    f"{', '.join(tickers)})")
    bench = benchmark_close(frame)
    closes: dict[Any, float] = {
        np.datetime64(pd.Timestamp(str(k)).date().isoformat(), "ns"): float(v)
        for k, v in bench.items()}

    def lookup(d: np.datetime64) -> float:
        return closes.get(d, float("nan"))

    try:
        stats = feature_stats(build_features(frame, history))
    except ValueError:
        stats = None  # too little history for a training split: no drift monitoring
    registry = open_registry(None, None)  # models/ under the state home, the configured db
    try:
        source = AgentSignalSource(
            parsed, registry, RegistryPolicyLoader(registry),
            lambda t: FeatureObservations(t, lookup), initial_balance=cash,
            all_tickers=tickers, notifier=notifier, feature_stats=stats,
            status_sink=StatusFile(status_path(run_id)).write, history=bars)
    except (RegistryError, ValueError, OSError) as exc:
        raise _fail(f"--agent: {exc}") from None
    for a in history:
        source.push_alert(a)
    return source


class LiveBenchmark:
    """The equal-weighted index of the watched tickers, built from the bars as they arrive.

    The feature file's benchmark (no benchmark ticker given) is the equal-weighted index of
    every ticker of the data: each day's return is the mean of the tickers' close-to-close
    returns. Live, the data is the watched tickers; a day's value is known once one of its
    bars arrived, and beta only uses its returns, so the index's starting level is free.
    """

    def __init__(self) -> None:
        self._close: dict[str, dict[np.datetime64, float]] = {}
        self._level: dict[np.datetime64, float] = {}

    def add(self, bar: Bar) -> None:
        """Record ``bar``'s close (the index is recomputed on the next lookup)."""
        from adapters.rl.inference import session_date

        self._close.setdefault(bar.ticker, {})[session_date(bar.ts)] = float(bar.close)
        self._level.clear()

    def __call__(self, d: np.datetime64) -> float:
        if not self._level:
            frame = pd.DataFrame(self._close).sort_index()
            rets = frame.pct_change(fill_method=None).mean(axis=1, skipna=True).fillna(0.0)
            self._level = {cast(np.datetime64, k): float(v)
                           for k, v in (1.0 + rets).cumprod().items()}
        return self._level.get(d, float("nan"))


class _BenchmarkedAgents:
    """The agents' source on a live feed: the benchmark is fed every bar first (warm-up and
    steps), and only one bar per ticker and session reaches the agents (their observations
    are daily; a feed serving intraday bars would otherwise repeat a session)."""

    def __init__(self, inner: AgentSignalSource, bench: LiveBenchmark) -> None:
        self._inner = inner
        self._bench = bench
        self._session: dict[str, np.datetime64] = {}
        self._last_ts: dict[str, datetime] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def _daily(self, bars: Sequence[Bar]) -> list[Bar]:
        from adapters.rl.inference import session_date

        kept = []
        for b in sorted(bars, key=lambda b: (b.ts, b.ticker)):
            d = session_date(b.ts)
            last = self._session.get(b.ticker)
            # an older session is dropped, and so is a later intraday bar of the last one;
            # the very same bar again (the first step repeats the history's last bar) passes:
            # the agents decide on it once
            if last is not None and (d < last or (d == last
                                                  and b.ts != self._last_ts.get(b.ticker))):
                continue
            self._session[b.ticker] = d
            self._last_ts[b.ticker] = b.ts
            self._bench.add(b)
            kept.append(b)
        return kept

    def warm_up(self, bars: Sequence[Bar]) -> None:
        self._inner.warm_up(self._daily(bars))

    def observe(self, bars: Any) -> None:
        self._inner.observe({b.ticker: b for b in self._daily(list(bars.values()))})


def live_agent_source(specs: Sequence[str], tickers: Sequence[str], run_id: str, broker: Any,
                      feed: Any, notifier: Any = None) -> Any:
    """Build the agents' source for a real-time run on ``broker``: the account features and
    the starting capital come from the broker's account, the observations warm up from the
    price feed's history (:meth:`application.live.LiveTrading.warm_up`), the agents decide
    on each completed session's daily bar from ``feed``, once
    (:class:`application.live.CompletedDailyBars`: not on the feed's minute bars), the
    benchmark is
    :class:`LiveBenchmark` and drift is measured against each version's training statistics,
    recorded with it at registration (a version registered without them reports drift as
    unavailable, saying why)."""
    from adapters.rl.inference import (
        FeatureObservations,
        RegistryPolicyLoader,
        StatusFile,
        session_stamp,
    )
    from application.agents import broker_account_features
    from application.live import CompletedDailyBars
    from domain.errors import DomainError
    from domain.rl.deployment import parse_agent_spec
    from domain.rl.models import RegistryError
    from entrypoints.cli.rl._common import open_registry, status_path

    try:
        parsed = [parse_agent_spec(s) for s in specs]
    except ValueError as exc:
        raise _fail(str(exc)) from None
    unknown = sorted({t for p in parsed for t in p.tickers} - set(tickers))
    if unknown:
        raise _fail(f"--agent: {', '.join(unknown)} not among --tickers "
                    f"({', '.join(tickers)})")
    try:
        equity = float(broker.get_account().equity)
    except DomainError as exc:
        raise _fail(f"--broker alpaca: cannot read the account: {exc}") from None
    bench = LiveBenchmark()
    registry = open_registry(None, None)
    try:
        source = AgentSignalSource(
            parsed, registry, RegistryPolicyLoader(registry),
            lambda t: FeatureObservations(t, bench), initial_balance=equity,
            account=broker_account_features(broker), all_tickers=tickers, notifier=notifier,
            status_sink=StatusFile(status_path(run_id)).write)
    except (RegistryError, ValueError, OSError) as exc:
        raise _fail(f"--agent: {exc}") from None
    return CompletedDailyBars(_BenchmarkedAgents(source, bench), feed, broker, tickers,
                              session_stamp)
