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
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import typer
from rich.console import Console
from rich.markup import escape

from application.agents import AgentSignalSource
from domain.market import Bar

__all__ = ["agent_source"]

err = Console(stderr=True)


def _fail(msg: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {escape(msg)}")
    return typer.Exit(2)


def agent_source(specs: Sequence[str], data: Path, alerts: str | None, tickers: Sequence[str],
                 cash: float, run_id: str, notifier: Any = None,
                 bars: Sequence[Bar] = ()) -> AgentSignalSource:
    """Build the agents' signal source over the price file ``data`` (see the module doc);
    ``bars`` are the run's bars, fed again to the observations on a resume."""
    from adapters.data.alerts import read_alerts
    from adapters.data.features import benchmark_close, build_features
    from adapters.data.ohlcv import DataError, load_ohlcv
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
    try:
        frame = load_ohlcv(data)
    except DataError as exc:
        raise _fail(f"--data {str(data)!r}: {exc}") from None
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
