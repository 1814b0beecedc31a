"""Live inference for deployed agents: observations bar by bar, policies from the registry.

* :class:`FeatureObservations` keeps one ticker's bars and alerts and, after each new bar,
  returns that bar's 30 market features, computed by
  :class:`domain.market_data.incremental.IncrementalFeatures`: the recursive indicators
  carried as state, the windowed ones by the feature file's own functions over the last
  bars, the same calendar bounds. The rows equal the feature file's bit for bit (the parity
  tests check every bar of the bundled data); :meth:`FeatureObservations.market_matrix`
  recomputes the whole history the feature file's way, as the reference.
* :class:`RegistryPolicyLoader` loads a registered version as a policy, after the
  env-config guard (:func:`domain.rl.deployment.check_deployable`).
* :func:`feature_stats` computes the training statistics the drift monitor compares with.
* :class:`StatusFile` writes the agents' status (``catalyst rl status`` reads it).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from adapters.data.calendar import previous_session_bounds_ns, session_bounds_ns
from adapters.rl.agents import load_agent
from application.agent_monitor import FeatureStats
from application.ports import ModelRegistry, Policy
from domain.alerts import Alert
from domain.market import Bar
from domain.market_data import Availability, catalyst_features
from domain.market_data.features import (
    MARKET_FEATURES,
    OBSERVATION_FEATURES,
    WARMUP_BARS,
    indicator_columns,
    market_matrix,
)
from domain.market_data.incremental import IncrementalFeatures
from domain.rl.deployment import ACTION_SPACE, check_deployable
from domain.rl.models import ModelVersion

__all__ = [
    "DEFAULT_STATUS_DIR",
    "FeatureObservations",
    "RegistryPolicyLoader",
    "StatusFile",
    "feature_stats",
    "session_bounds",
    "session_date",
    "session_stamp",
]

_NY = ZoneInfo("America/New_York")
DEFAULT_STATUS_DIR = Path("var/agents")


#: Session bounds per (calendar, date), filled a year ahead at a time: one calendar lookup
#: costs milliseconds, a bar must not.
_BOUNDS: dict[tuple[str, np.datetime64], tuple[int, int]] = {}
_BOUNDS_AHEAD = 400


def session_bounds(d: np.datetime64, calendar: str = "XNYS") -> tuple[int, int]:
    """Return ``session_bounds_ns`` of one date, computed with the next year's dates at once
    (the function treats each date on its own, so the values are the same)."""
    key = (calendar, d)
    hit = _BOUNDS.get(key)
    if hit is None:
        days = d.astype("datetime64[D]") + np.arange(_BOUNDS_AHEAD)
        o, c = session_bounds_ns(days.astype("datetime64[ns]"), calendar)
        for day, a, b in zip(days.astype("datetime64[ns]"), o.tolist(), c.tolist(),
                             strict=True):
            _BOUNDS[(calendar, day)] = (int(a), int(b))
        hit = _BOUNDS[key]
    return hit


def session_date(ts: datetime) -> np.datetime64:
    """Return the exchange date (New York) of a bar stamped at its session's close."""
    return np.datetime64(ts.astimezone(_NY).date().isoformat(), "ns")


def session_stamp(ts: datetime, calendar: str = "XNYS") -> tuple[date, datetime]:
    """Return the exchange date (New York) of a time in a session or of a daily bar (stamped
    at its session's close, or at its date's midnight as Alpaca labels them) and the close
    of that date's session: the time the replay and the backtest stamp its bar with."""
    day = ts.astimezone(_NY).date()
    _, close_ns = session_bounds(np.datetime64(day.isoformat(), "ns"), calendar)
    return day, datetime.fromtimestamp(close_ns // 1_000_000_000, tz=UTC)


class FeatureObservations:
    """One ticker's market features, updated from each new bar and alert.

    Parameters
    ----------
    ticker
        The ticker.
    benchmark
        The benchmark's close on a date (``NaN`` when it has none), as the feature file's
        ``benchmark_close``; ``None``: beta is ``NaN`` -> its neutral 0.
    availability
        When an alert becomes usable (the feature file's setting).
    warmup
        Bars before the first observation (the panel drops the same count).
    calendar
        The exchange calendar of the session bounds.
    """

    def __init__(
        self,
        ticker: str,
        benchmark: Callable[[np.datetime64], float] | None = None,
        *,
        availability: Availability = Availability.OPEN,
        warmup: int = WARMUP_BARS,
        calendar: str = "XNYS",
    ) -> None:
        self.ticker = ticker.upper()
        self._bench = benchmark
        self.availability = availability
        self.warmup = warmup
        self.calendar = calendar
        self._dates: list[np.datetime64] = []
        self._before: tuple[int, int] | None = None
        self._alerts: list[Alert] = []
        self._inc: IncrementalFeatures | None = None
        self._row: NDArray[np.float32] | None = None

    def __len__(self) -> int:
        return len(self._dates)

    def push_alert(self, alert: Alert) -> None:
        """Record an alert of this ticker (used from the bar its availability allows)."""
        if alert.ticker == self.ticker:
            self._alerts.append(alert)
            if self._inc is not None:
                self._inc.push_alert(alert)
            self._row = None

    def push_bar(self, bar: Bar) -> None:
        """Append the bar that closed and compute its features."""
        if bar.ticker != self.ticker:
            raise ValueError(f"bar of {bar.ticker} pushed to the observations of {self.ticker}")
        d = session_date(bar.ts)
        if self._dates and d <= self._dates[-1]:
            raise ValueError(f"{self.ticker}: bar of {str(d)[:10]} is not after the last bar "
                             f"({str(self._dates[-1])[:10]})")
        if not self._dates:
            self._before = previous_session_bounds_ns(d, self.calendar)
            self._inc = IncrementalFeatures(
                availability=self.availability, session_before=self._before,
                with_benchmark=self._bench is not None)
            for a in self._alerts:
                self._inc.push_alert(a)
        inc = self._inc
        assert inc is not None  # created at the first bar
        o, c = session_bounds(d, self.calendar)
        self._dates.append(d)
        bclose = float("nan") if self._bench is None else float(self._bench(d))
        inc.push(bar.open, bar.high, bar.low, bar.close, bar.volume, bclose, o, c)
        self._row = None

    def market_matrix(self) -> NDArray[np.float32]:
        """Return the market features of every bar pushed so far, recomputed over the whole
        history in one pass: the feature file's computation, kept as the reference the
        incremental rows are checked against."""
        inc = self._inc
        if inc is None:
            return np.empty((0, len(MARKET_FEATURES)), dtype=np.float32)
        f64 = np.float64
        o, h, lo, c, v = (np.asarray(x, dtype=f64) for x in
                          (inc.open, inc.high, inc.low, inc.close, inc.volume))
        b = np.asarray(inc.bench, dtype=f64) if self._bench is not None else None
        cat = catalyst_features(
            inc.alerts, np.asarray(inc.open_ns, dtype=np.int64),
            np.asarray(inc.close_ns, dtype=np.int64), availability=self.availability,
            session_before=self._before)
        raw = indicator_columns(h, lo, c, v, b)
        return market_matrix(o, h, lo, c, v, cat, b, raw)

    def market_row(self) -> NDArray[np.float32] | None:
        """Return the last bar's 30 market features, ``None`` during the warm-up."""
        if len(self._dates) <= self.warmup:
            return None
        if self._row is None and self._inc is not None:
            self._row = self._inc.row()
        return self._row


class RegistryPolicyLoader:
    """Loads registered versions as policies, refusing models trained for another
    observation or action space."""

    def __init__(self, registry: ModelRegistry) -> None:
        self.registry = registry

    def load(self, version: ModelVersion) -> Policy:
        """Return ``version``'s policy (an SB3 model or an ensemble)."""
        check_deployable(version, OBSERVATION_FEATURES, ACTION_SPACE)
        agent, _ = load_agent(self.registry, version.ref)
        return agent


def feature_stats(features: pd.DataFrame, split: str | None = "train",
                  warmup: int = WARMUP_BARS) -> FeatureStats:
    """Return the mean and standard deviation of each market feature of a feature frame
    (its ``split`` rows after each ticker's warm-up): the drift monitor's reference."""
    parts = []
    for _, g in features.groupby("ticker", sort=True):
        g = g.sort_values("date", kind="stable").iloc[warmup:]
        if split is not None:
            g = g[g["split"] == split]
        parts.append(g)
    cols = [f"f_{n}" for n in MARKET_FEATURES]
    m = pd.concat(parts)[cols].to_numpy(np.float64)
    if len(m) == 0:
        raise ValueError(f"no {split or 'usable'} rows to take feature statistics from")
    return FeatureStats(tuple(MARKET_FEATURES), tuple(m.mean(axis=0).tolist()),
                        tuple(m.std(axis=0, ddof=1).tolist() if len(m) > 1
                              else [0.0] * len(cols)))


class StatusFile:
    """The agents' status as JSON (written atomically), ``agents/<run>.json`` under the state
    home."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def write(self, status: Mapping[str, Any]) -> None:
        """Replace the file with ``status``."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(status, indent=2, sort_keys=True, default=str))
        tmp.replace(self.path)

    def read(self) -> dict[str, Any]:
        """Return the status written last."""
        return dict(json.loads(self.path.read_text()))
