"""``catalyst rl evaluate``: agents on one split, tables, a chart."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
)
from rich.table import Table

from adapters.rl.agents import (
    EpisodeMetrics,
)
from domain.rl.models import (
    IncompatibleEnvConfigError,
)

if TYPE_CHECKING:
    pass
from entrypoints.cli.rl._common import (
    DataOpt,
    DbOpt,
    FillAtName,
    JsonOpt,
    ModelsDirOpt,
    SplitName,
    app,
    cli_settings,
    err,
    fail,
    load_frame,
    load_panel,
    open_registry,
    out,
)

# ------------------------------------------------------------------------ evaluate


@app.command("evaluate")
def evaluate_cmd(
    agent: Annotated[
        list[str] | None,
        typer.Option(
            help="random, buy-and-hold, or a registered model/ensemble name[@version]; "
            "repeat to compare."
        ),
    ] = None,
    split: Annotated[SplitName, typer.Option(help="Which split of the data.")] = SplitName.test,
    data: DataOpt = None,
    ticker: Annotated[list[str] | None, typer.Option(help="Only these tickers.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the random agent.")] = 0,
    fill_at: Annotated[
        FillAtName | None,
        typer.Option(help="Fill rule (default next_open, or the model's own)."),
    ] = None,
    initial_balance: Annotated[
        float | None, typer.Option(help="Starting cash (default 100000, or the model's own).")
    ] = None,
    plot: Annotated[
        Path | None, typer.Option(help="Write equity and drawdown curves to this PNG.")
    ] = None,
    models_dir: ModelsDirOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run agents over every ticker of a split: return, Sharpe, drawdown, turnover, trades."""
    from adapters.rl.evaluation import PanelAgentEvaluator
    from adapters.rl.plots import MatplotlibEquityChart
    from application.evaluation import UnusableAgentError, evaluate_agents

    names = agent or ["random"]
    frame = load_frame(data)
    panel = load_panel(frame, None if split is SplitName.all else split.value, ticker, data)
    overrides: dict[str, Any] = {}
    configured = cli_settings()
    if configured.costs:  # [costs] / CATALYST_COSTS__*: a model trained under others is refused
        overrides["costs"] = configured.cost_model()
    if fill_at is not None:
        overrides["fill_at"] = fill_at.value
    if initial_balance is not None:
        overrides["initial_balance"] = initial_balance
    evaluator = PanelAgentEvaluator(panel, lambda: open_registry(models_dir, db), overrides, seed)
    with Progress(
        TextColumn("evaluating {task.fields[label]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        console=err,
        transient=True,
    ) as prog:

        def ticker_progress(label: str) -> Callable[[str], None]:
            task = prog.add_task("", total=len(panel), label=label)

            def tick(t: str, k: TaskID = task) -> None:
                prog.update(k, advance=1, description=t)

            return tick

        try:
            evaluations = evaluate_agents(
                evaluator,
                names,
                chart=MatplotlibEquityChart() if plot is not None else None,
                chart_path=None if plot is None else str(plot),
                chart_title=f"Equal-weight equity over tickers, {split.value} split",
                progress=ticker_progress,
            )
        except UnusableAgentError as exc:
            if isinstance(exc.cause, IncompatibleEnvConfigError):
                raise fail(str(exc.cause)) from None
            raise fail(
                f"{exc} (expected random, buy-and-hold or a registered model)"
            ) from None
    if as_json:
        payload = [
            {
                "agent": e.label,
                "split": split.value,
                "seed": seed,
                "fill_at": e.fill_at,
                "results": [r.summary() for r in e.episodes],
                "mean": e.mean,
            }
            for e in evaluations
        ]
        typer.echo(json.dumps(payload[0] if len(payload) == 1 else {"agents": payload}))
        return
    for e in evaluations:
        out.print(_table(e.episodes, e.mean, f"{e.label} agent on the {split.value} split"))
    if len(evaluations) > 1:
        out.print(_compare_table({e.label: e.mean for e in evaluations}, split.value))
    if plot is not None:
        out.print(f"plot written to {plot}")


def _table(results: Sequence[EpisodeMetrics], mean: Mapping[str, float], title: str) -> Table:
    t = Table(title=title)
    cols = ("ticker", "from", "to", "bars", "return", "Sharpe", "max drawdown", "turnover",
            "trades")
    for c in cols:
        t.add_column(c, justify="left" if c in ("ticker", "from", "to") else "right",
                     no_wrap=True)
    for r in results:
        t.add_row(r.ticker, r.start, r.end, str(r.steps), f"{r.total_return:+.2%}",
                  f"{r.sharpe:.2f}", f"{r.max_drawdown:.2%}", f"{r.turnover:.2f}",
                  str(r.trades))
    t.add_section()
    t.add_row("mean", "", "", "", f"{mean['total_return']:+.2%}", f"{mean['sharpe']:.2f}",
              f"{mean['max_drawdown']:.2%}", f"{mean['turnover']:.2f}", f"{mean['trades']:.0f}")
    return t


def _compare_table(means: Mapping[str, Mapping[str, float]], split: str) -> Table:
    t = Table(title=f"comparison on the {split} split (mean over tickers)")
    for c in ("agent", "return", "ann. return", "Sharpe", "Sortino", "max drawdown",
              "turnover", "trades"):
        t.add_column(c, justify="left" if c == "agent" else "right", no_wrap=c == "agent")
    for label, m in means.items():
        t.add_row(label, f"{m['total_return']:+.2%}", f"{m['annual_return']:+.2%}",
                  f"{m['sharpe']:.2f}", f"{m['sortino']:.2f}", f"{m['max_drawdown']:.2%}",
                  f"{m['turnover']:.2f}", f"{m['trades']:.0f}")
    return t
