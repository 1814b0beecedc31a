"""``catalyst backtest-walk-forward GRID.toml``: walk-forward validation of the rule strategy.

The grid file lists the values to sweep (every combination is a candidate)::

    [grid]
    threshold = [0.5, 0.6, 0.7]        # minimum alert confidence
    sizing = ["fixed", "confidence"]   # sizing methods
    stop_atr = [1.5, 2.0, 3.0]         # stop distance in ATRs
    target_atr = [0, 2.0, 4.0]         # profit target in ATRs (0: none)
    hold_days = [5, 10]                # sessions held at most

Each window picks the candidate with the best train-window Sharpe ratio and runs it out of
sample next to buy-and-hold and a randomly picked candidate; the report adds the deflated
Sharpe ratio over every candidate of every window and PBO over the candidates' returns.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Annotated, Any

import typer

from entrypoints.cli.rl._common import cli_settings, err, fail, out
from entrypoints.cli.rl.walk_forward import (
    ExecutorName,
    SchemeName,
    make_windows,
    persist,
    walk_forward_table,
)

__all__ = ["backtest_walk_forward", "load_grid"]


def load_grid(path: Path) -> list[dict[str, Any]]:
    """Read the ``[grid]`` table of ``path`` and expand it; errors name the file and key."""
    from adapters.validation.rules import expand_grid

    if not path.exists():
        raise ValueError(f"grid file {str(path)!r}: no such file")
    try:
        doc = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"grid file {str(path)!r} is not TOML: {exc}") from None
    grid = doc.get("grid", doc)
    if not isinstance(grid, dict):
        raise ValueError(f"grid file {str(path)!r}: [grid] must be a table of value lists")
    try:
        return expand_grid(grid)
    except ValueError as exc:
        raise ValueError(f"grid file {str(path)!r}: {exc}") from None


def backtest_walk_forward(
    grid_file: Annotated[Path, typer.Argument(help="TOML file with a [grid] table.")],
    data: Annotated[Path | None, typer.Option(help="OHLCV CSV/Parquet (default: the sample).")]
    = None,
    alerts: Annotated[Path | None, typer.Option(help="Alerts JSONL/CSV (default: the sample).")]
    = None,
    scheme: Annotated[SchemeName, typer.Option(help="rolling or anchored.")] = SchemeName.rolling,
    train: Annotated[str | None, typer.Option(help="Train window: bars or a duration.")] = None,
    test: Annotated[str | None, typer.Option(help="Test window: bars or a duration.")] = None,
    step: Annotated[str | None, typer.Option(help="Step (default --test).")] = None,
    windows: Annotated[int | None, typer.Option(min=1, help="N test windows at the end.")] = None,
    embargo: Annotated[int, typer.Option(min=0, help="Bars between train and test.")] = 5,
    equity: Annotated[float, typer.Option(min=1000.0, help="Starting equity.")] = 100_000.0,
    seed: Annotated[int, typer.Option(help="Seed of the random baseline.")] = 0,
    workers: Annotated[int, typer.Option(min=1, help="Windows run at once.")] = 1,
    executor: Annotated[ExecutorName, typer.Option(help="local or ray.")] = ExecutorName.local,
    ray_address: Annotated[str | None, typer.Option(help="Ray cluster address.")] = None,
    state_dir: Annotated[Path | None, typer.Option(help="Finished windows (resume; default: "
                                                   "walk_forward/ under the state home).")]
    = None,
    report: Annotated[Path | None, typer.Option(help="HTML report folder.")] = None,
    db: Annotated[str | None, typer.Option("--db", help="Also store the run here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Walk-forward validation of the catalyst rule strategy over a parameter grid."""
    if state_dir is None:
        state_dir = cli_settings().home / "walk_forward"
    import datetime as dt

    from adapters.data.alerts import AlertFileError, read_alerts
    from adapters.data.ohlcv import DataError, load_ohlcv
    from adapters.data.sample import sample_paths
    from adapters.rl.agents import data_hash
    from adapters.validation.executors import make_executor
    from adapters.validation.rules import RuleWindowRunner, rules_calendar
    from adapters.validation.store import JsonWalkForwardStore
    from application.walk_forward import plan_jobs, run_key, walk_forward
    from domain.analytics.sizing_backtest import DailyBars

    try:
        grid = load_grid(grid_file)
    except ValueError as exc:
        raise fail(str(exc)) from None
    sample = sample_paths()
    data_path, alerts_path = data or sample.prices, alerts or sample.alerts
    try:
        frame = load_ohlcv(data_path)
    except (DataError, OSError, ValueError) as exc:
        raise fail(f"--data {str(data_path)!r}: {exc}") from None
    try:
        alert_list = tuple(read_alerts(alerts_path))
    except (AlertFileError, OSError, ValueError) as exc:
        raise fail(f"--alerts {str(alerts_path)!r}: {exc}") from None
    bars: dict[str, DailyBars] = {}
    for t, g in frame.groupby("ticker", sort=True):
        g = g.sort_values("date")
        bars[str(t)] = DailyBars(
            dates=tuple(d.date() for d in g["date"]),
            open=g["open"].to_numpy(dtype=float), high=g["high"].to_numpy(dtype=float),
            low=g["low"].to_numpy(dtype=float), close=g["close"].to_numpy(dtype=float),
            volume=g["volume"].to_numpy(dtype=float),
        )
    days: list[dt.date] = rules_calendar(bars)
    try:
        wins = make_windows(days, scheme.value, train, test, step, windows, embargo)
        ex = make_executor(executor.value, workers, ray_address)
    except ValueError as exc:
        raise fail(str(exc)) from None
    runner = RuleWindowRunner(bars=bars, alerts=alert_list, calendar=tuple(days),
                              grid=tuple(grid), equity=equity, seed=seed)
    settings: dict[str, Any] = {
        "kind": "rules", "grid": grid, "scheme": scheme.value, "train": train, "test": test,
        "step": step, "windows": windows, "embargo": embargo, "equity": equity, "seed": seed,
    }
    key = run_key(settings, data_hash(frame) + str(len(alert_list)))
    jobs = plan_jobs(days, wins, settings)
    if not as_json:
        err.print(f"walk-forward {key}: {len(jobs)} windows x {len(grid)} candidates")
    rep = walk_forward(runner, ex, jobs, JsonWalkForwardStore(state_dir), key)
    js = rep.to_json()
    js["settings"] = settings
    persist(db, key, settings, js)
    if report is not None:
        from adapters.validation.report import write_html_report

        eq, bh = rep.equity()
        path = write_html_report(report, js, eq, bh, "Rule strategy walk-forward")
        if not as_json:
            err.print(f"report: {path}")
    if as_json:
        typer.echo(json.dumps(js))
        return
    out.print(walk_forward_table(js, f"rule strategy walk-forward ({scheme.value})"))
