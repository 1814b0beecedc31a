"""``catalyst rl walk-forward``: train and test agents window by window, with overfitting
statistics (deflated Sharpe ratio, PBO) and an optional HTML report."""

from __future__ import annotations

import datetime as dt
import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from domain.validation.windows import Window, last_windows, parse_span, walk_forward_windows
from entrypoints.cli.rl._common import (
    DataOpt,
    JsonOpt,
    app,
    cli_settings,
    err,
    fail,
    fmt,
    load_frame,
    out,
)


class WfAlgo(StrEnum):
    """Algorithms of a walk-forward run."""

    ppo = "ppo"
    sac = "sac"
    a2c = "a2c"
    ensemble = "ensemble"


class SchemeName(StrEnum):
    """Window schemes."""

    rolling = "rolling"
    anchored = "anchored"


class ExecutorName(StrEnum):
    """Where windows run."""

    local = "local"
    ray = "ray"


@app.command("walk-forward")
def walk_forward_cmd(
    data: DataOpt = None,
    scheme: Annotated[SchemeName, typer.Option(help="rolling or anchored train windows.")] = (
        SchemeName.rolling
    ),
    train: Annotated[
        str | None, typer.Option(help="Train window: bars (500) or a duration (2y, 18m, 90d).")
    ] = None,
    test: Annotated[str | None, typer.Option(help="Test window: bars or a duration.")] = None,
    step: Annotated[str | None, typer.Option(help="Step between windows (default --test).")] = None,
    windows: Annotated[
        int | None,
        typer.Option(min=1, help="N equal test windows at the end of the data (instead of --test)."),
    ] = None,
    embargo: Annotated[int, typer.Option(min=0, help="Bars between train and test.")] = 5,
    algo: Annotated[WfAlgo, typer.Option(help="ppo, sac, a2c or ensemble.")] = WfAlgo.ppo,
    timesteps: Annotated[int, typer.Option(min=1, help="Training steps per model.")] = 20_000,
    tune_trials: Annotated[
        int, typer.Option(min=0, help="Tuning trials per window (on its own validation bars).")
    ] = 0,
    seed: Annotated[int, typer.Option(help="Seed.")] = 0,
    ticker: Annotated[list[str] | None, typer.Option(help="Only these tickers.")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Windows run at once (processes).")] = 1,
    executor: Annotated[
        ExecutorName, typer.Option(help="local (this machine) or ray (a Ray cluster).")
    ] = ExecutorName.local,
    ray_address: Annotated[
        str | None, typer.Option(help="Ray cluster address (default: a local Ray runtime).")
    ] = None,
    state_dir: Annotated[
        Path | None, typer.Option(help="Finished windows are kept here; a rerun resumes "
                                  "(default: walk_forward/ under the state home).")
    ] = None,
    report: Annotated[Path | None, typer.Option(help="Write an HTML report to this folder.")] = None,
    db: Annotated[
        str | None,
        typer.Option("--db", help="Also store the run in this database ('none': do not)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Walk-forward validation of RL agents: rolling or anchored windows, each trained then
    tested out of sample against buy-and-hold and random, with PBO and the deflated Sharpe."""
    if state_dir is None:
        state_dir = cli_settings().home / "walk_forward"
    from adapters.validation.executors import ProcessPoolWindowExecutor, make_executor

    try:
        ex = make_executor(executor.value, workers, ray_address, preload=WORKER_PRELOAD,
                           fork_when_safe=True)
    except ValueError as exc:
        raise fail(str(exc)) from None
    if isinstance(ex, ProcessPoolWindowExecutor):
        # The workers start now and import the RL stack while this process loads the
        # features (forked where that is safe, which saves starting an interpreter each).
        ex.start()
        with ex:
            _run(ex, data, scheme, train, test, step, windows, embargo, algo, timesteps,
                 tune_trials, seed, ticker, state_dir, report, db, as_json)
        return
    _run(ex, data, scheme, train, test, step, windows, embargo, algo, timesteps, tune_trials,
         seed, ticker, state_dir, report, db, as_json)


#: Modules each worker process imports as it starts: everything a window needs.
WORKER_PRELOAD = ("adapters.rl.walk_forward", "adapters.rl.training")


def _run(
    ex: Any, data: Path | None, scheme: SchemeName, train: str | None, test: str | None,
    step: str | None, windows: int | None, embargo: int, algo: WfAlgo, timesteps: int,
    tune_trials: int, seed: int, ticker: list[str] | None, state_dir: Path,
    report: Path | None, db: str | None, as_json: bool,
) -> None:
    from adapters.data.features import feature_panel
    from adapters.rl.agents import data_hash
    from adapters.rl.env import EnvConfig
    from adapters.rl.walk_forward import RlWindowRunner, panel_calendar
    from adapters.validation.store import JsonWalkForwardStore
    from application.walk_forward import plan_jobs, run_key, walk_forward

    frame = load_frame(data)
    panel = feature_panel(frame, tickers=ticker)
    if not panel:
        raise fail("no ticker has bars for a walk-forward run")
    calendar = panel_calendar(panel)
    days = [dt.date.fromisoformat(d) for d in calendar]
    try:
        wins = make_windows(days, scheme.value, train, test, step, windows, embargo)
        runner = RlWindowRunner(
            panel=panel, calendar=tuple(calendar), algo=algo.value, timesteps=timesteps,
            tune_trials=tune_trials, seed=seed, env_config=EnvConfig(costs=cli_settings().cost_model()),
        )
    except ValueError as exc:
        raise fail(str(exc)) from None
    settings: dict[str, Any] = {
        "kind": "rl", "scheme": scheme.value, "train": train, "test": test, "step": step,
        "windows": windows, "embargo": embargo, "algo": algo.value, "timesteps": timesteps,
        "tune_trials": tune_trials, "seed": seed, "tickers": sorted(panel),
    }
    key = run_key(settings, data_hash(frame))
    jobs = plan_jobs(days, wins, settings)
    if not as_json:
        err.print(f"walk-forward {key}: {len(jobs)} windows, state in {state_dir / key}")

    def tick(r: Any) -> None:
        if not as_json:
            err.print(f"  window {r.index} ({r.test_start}..{r.test_end}) done in {r.seconds:.0f}s")

    try:
        rep = walk_forward(runner, ex, jobs, JsonWalkForwardStore(state_dir), key, progress=tick)
    except ValueError as exc:
        raise fail(str(exc)) from None
    js = rep.to_json()
    js["settings"] = settings
    persist(db, key, settings, js)
    if report is not None:
        from adapters.validation.report import write_html_report

        eq, bh = rep.equity()
        path = write_html_report(report, js, eq, bh, f"RL walk-forward ({algo.value})")
        if not as_json:
            err.print(f"report: {path}")
    if as_json:
        typer.echo(json.dumps(js))
        return
    out.print(walk_forward_table(js, f"walk-forward {algo.value} ({scheme.value})"))


def make_windows(
    days: list[dt.date], scheme: str, train: str | None, test: str | None, step: str | None,
    windows: int | None, embargo: int,
) -> list[Window]:
    """Return the windows the options describe (``--windows N`` or ``--train/--test``)."""
    if windows is not None:
        if test is not None or step is not None:
            raise ValueError("--windows sets the test windows: give it without --test/--step")
        train_bars = None
        if train is not None:
            span = parse_span(train, "--train")
            if span.unit != "bars":
                raise ValueError(f"--train with --windows must be a bar count, got {train!r}")
            train_bars = span.count
        return last_windows(len(days), windows, train=train_bars, scheme=scheme, embargo=embargo)
    if train is None or test is None:
        raise ValueError("give --train and --test, or --windows N")
    return walk_forward_windows(
        len(days),
        train=parse_span(train, "--train"),
        test=parse_span(test, "--test"),
        step=None if step is None else parse_span(step, "--step"),
        scheme=scheme,
        embargo=embargo,
        dates=days,
    )


def persist(db: str | None, key: str, settings: dict[str, Any], js: dict[str, Any]) -> None:
    """Store the run in the database when one is given (``--db``)."""
    if db is None or db == "none":
        return
    from adapters.sqlalchemy.walk_forward import save_walk_forward_run

    try:
        save_walk_forward_run(db, key, settings, js)
    except Exception as exc:  # noqa: BLE001 - a report is still printed
        raise fail(f"--db {db!r}: could not store the walk-forward run: {exc}") from None


def walk_forward_table(js: dict[str, Any], title: str) -> Table:
    """Return the per-window table with the aggregate and overfitting lines."""
    t = Table(title=title)
    for c in ("#", "train", "test", "return", "buy&hold", "random", "sharpe", "chosen"):
        t.add_column(c, justify="right" if c in ("return", "buy&hold", "random", "sharpe") else "left")
    for w in js["windows"]:
        b = w["baselines"]
        t.add_row(
            str(w["index"]),
            f"{w['train_start']}..{w['train_end']}",
            f"{w['test_start']}..{w['test_end']}",
            fmt_pct(w["metrics"].get("total_return")),
            fmt_pct(b.get("buy_and_hold", {}).get("total_return")),
            fmt_pct(b.get("random", {}).get("total_return")),
            fmt(w["metrics"].get("sharpe")),
            str(w["chosen"].get("label")),
        )
    a = js["aggregate"]
    d = js["deflated_sharpe"]
    pbo = js["pbo"]
    t.caption = (
        f"stitched OOS {fmt_pct(a['oos_total_return'])} vs buy-and-hold "
        f"{fmt_pct(a['bh_total_return'])}; beats buy-and-hold in "
        f"{fmt_pct(a['share_beating_buy_and_hold'])} of windows, random in "
        f"{fmt_pct(a['share_beating_random'])}; WFE {fmt(a['walk_forward_efficiency'])}\n"
        f"deflated Sharpe {fmt(d['dsr'])} over {js['n_trials']} trials "
        f"({'significant' if d['significant'] else 'not significant'} at 95 %); "
        f"PBO {fmt(None if pbo is None else pbo['pbo'])} ({js['pbo_note']})"
    )
    return t


def fmt_pct(v: Any) -> str:
    """Format a fraction as a percentage (n/a for missing)."""
    return "n/a" if v is None else f"{float(v):+.2%}"
