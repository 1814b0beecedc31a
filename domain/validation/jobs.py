"""What a walk-forward window is asked to do and what it gives back, as plain data.

Both travel between processes (and machines, with Ray) and are stored to resume a run, so
they hold only JSON-able values and convert to and from JSON exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from domain.validation.aggregate import WindowOutcome

__all__ = ["WindowJob", "WindowResult"]


@attrs.frozen(kw_only=True)
class WindowJob:
    """One window to run: its bar ranges, dates and the run's settings.

    ``train_start``..``test_end`` are ISO dates (inclusive); ``bars`` the half-open bar
    ranges on the run's calendar; ``settings`` what the runner needs (seed, budget...).
    """

    index: int
    train_start: str
    train_end: str
    test_start: str
    test_end: str
    bars: tuple[int, int, int, int]
    settings: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class WindowResult:
    """A finished window.

    Parameters
    ----------
    metrics
        The chosen candidate's out-of-sample metrics (total_return, sharpe, ...).
    baselines
        ``{"buy_and_hold": {...}, "random": {...}}``: the same metrics of the baselines on
        the same test bars with the same costs.
    oos_returns, bh_returns, random_returns
        Per-period out-of-sample returns of the chosen candidate and the baselines.
    candidates
        Every candidate tried in the window: ``{"label", "params", "is_sharpe",
        "is_annual_return", "oos_returns"}`` (``is_*`` on the train window's own validation
        bars, Sharpe per period). The chosen one is ``chosen``.
    """

    index: int
    train_start: str
    train_end: str
    test_start: str
    test_end: str
    chosen: int
    metrics: Mapping[str, float]
    baselines: Mapping[str, Mapping[str, float]]
    oos_returns: tuple[float, ...]
    bh_returns: tuple[float, ...]
    random_returns: tuple[float, ...]
    candidates: tuple[Mapping[str, Any], ...]
    seconds: float = 0.0

    @property
    def chosen_candidate(self) -> Mapping[str, Any]:
        """Return the chosen candidate's entry."""
        return self.candidates[self.chosen]

    def outcome(self) -> WindowOutcome:
        """Return the figures :func:`domain.validation.aggregate.summarise` needs."""
        c = self.chosen_candidate
        return WindowOutcome(
            index=self.index,
            oos_returns=self.oos_returns,
            bh_returns=self.bh_returns,
            random_returns=self.random_returns,
            is_annual_return=float(c.get("is_annual_return", float("nan"))),
            params=dict(c.get("params", {})),
        )

    def to_json(self) -> dict[str, Any]:
        """Return the result as JSON."""
        d = attrs.asdict(self)
        d["oos_returns"] = list(self.oos_returns)
        d["bh_returns"] = list(self.bh_returns)
        d["random_returns"] = list(self.random_returns)
        d["candidates"] = [dict(c) for c in self.candidates]
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> WindowResult:
        """Rebuild a result written by :meth:`to_json`."""
        return cls(
            index=int(d["index"]),
            train_start=str(d["train_start"]),
            train_end=str(d["train_end"]),
            test_start=str(d["test_start"]),
            test_end=str(d["test_end"]),
            chosen=int(d["chosen"]),
            metrics=dict(d["metrics"]),
            baselines={k: dict(v) for k, v in d["baselines"].items()},
            oos_returns=tuple(float(x) for x in d["oos_returns"]),
            bh_returns=tuple(float(x) for x in d["bh_returns"]),
            random_returns=tuple(float(x) for x in d["random_returns"]),
            candidates=tuple(dict(c) for c in d["candidates"]),
            seconds=float(d.get("seconds", 0.0)),
        )
