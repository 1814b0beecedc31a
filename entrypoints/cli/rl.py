"""``catalyst rl``: reinforcement-learning commands (evaluation of baseline agents so far)."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import attrs
import numpy as np
import pandas as pd
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from adapters.data.features import feature_panel, sample_features
from adapters.rl.env import EnvConfig
from adapters.rl.evaluate import (
    Agent,
    BuyAndHoldAgent,
    EpisodeResult,
    RandomAgent,
    evaluate,
)

app = typer.Typer(
    help="Reinforcement learning: evaluate agents on the trading environment.",
    no_args_is_help=True,
)

out = Console()
err = Console(stderr=True)


@app.callback()
def _group() -> None:
    """Reinforcement learning: evaluate agents on the trading environment."""


class AgentName(StrEnum):
    """Built-in agents."""

    random = "random"
    buy_and_hold = "buy-and-hold"


class SplitName(StrEnum):
    """Chronological splits of the feature file."""

    train = "train"
    validation = "validation"
    test = "test"
    all = "all"


class FillAtName(StrEnum):
    """When an action fills."""

    next_open = "next_open"
    next_close = "next_close"
    close = "close"


def _fail(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}")
    return typer.Exit(2)


@app.command("evaluate")
def evaluate_cmd(
    agent: Annotated[AgentName, typer.Option(help="Agent to run.")] = AgentName.random,
    split: Annotated[
        SplitName, typer.Option(help="Which split of the data.")
    ] = SplitName.test,
    data: Annotated[
        Path | None,
        typer.Option(
            help="Feature file from 'catalyst data build'; default the bundled sample."
        ),
    ] = None,
    ticker: Annotated[
        list[str] | None, typer.Option(help="Only these tickers.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the random agent.")] = 0,
    fill_at: Annotated[
        FillAtName, typer.Option(help="Fill rule.")
    ] = FillAtName.next_open,
    initial_balance: Annotated[float, typer.Option(help="Starting cash.")] = 100_000.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Run an agent over every ticker of a split and report return, Sharpe and drawdown."""
    if data is None:
        frame = sample_features()
    elif not data.exists():
        raise _fail(
            f"no such feature file: {data} (build one with 'catalyst data build')"
        )
    else:
        frame = pd.read_parquet(data)
    try:
        panel = feature_panel(
            frame, split=None if split is SplitName.all else split.value, tickers=ticker
        )
    except (KeyError, ValueError) as exc:
        raise _fail(f"{data} is not a feature file: {exc}") from None
    if not panel:
        raise _fail("no ticker has bars in that split")
    cfg = EnvConfig(initial_balance=initial_balance, fill_at=fill_at.value)

    def make() -> Agent:
        return RandomAgent(seed) if agent is AgentName.random else BuyAndHoldAgent()

    with Progress(
        TextColumn(f"evaluating {agent.value}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        console=err,
        transient=True,
    ) as prog:
        task = prog.add_task("", total=len(panel))
        results = evaluate(
            panel,
            make,
            cfg,
            progress=lambda t: prog.update(task, advance=1, description=t),
        )
    mean = {
        k: float(np.mean([getattr(r, k) for r in results]))
        for k in ("total_return", "sharpe", "max_drawdown", "trades")
    }
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "agent": agent.value,
                    "split": split.value,
                    "seed": seed,
                    "fill_at": fill_at.value,
                    "results": [attrs.asdict(r) for r in results],
                    "mean": mean,
                }
            )
        )
        return
    out.print(_table(results, mean, f"{agent.value} agent on the {split.value} split"))


def _table(results: list[EpisodeResult], mean: dict[str, float], title: str) -> Table:
    t = Table(title=title)
    for c in (
        "ticker",
        "from",
        "to",
        "bars",
        "return",
        "Sharpe",
        "max drawdown",
        "trades",
    ):
        left = c in ("ticker", "from", "to")
        t.add_column(c, justify="left" if left else "right", no_wrap=True)
    for r in results:
        t.add_row(
            r.ticker,
            r.start,
            r.end,
            str(r.steps),
            f"{r.total_return:+.2%}",
            f"{r.sharpe:.2f}",
            f"{r.max_drawdown:.2%}",
            str(r.trades),
        )
    t.add_section()
    t.add_row(
        "mean",
        "",
        "",
        "",
        f"{mean['total_return']:+.2%}",
        f"{mean['sharpe']:.2f}",
        f"{mean['max_drawdown']:.2%}",
        f"{mean['trades']:.0f}",
    )
    return t
