"""Options, checks and small helpers shared by ``backtest``, ``run`` and the read commands."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, cast

import attrs
import typer
from rich.console import Console

from adapters.data.sample import sample_paths
from adapters.sources.parse import AlertIssue
from application.ports import DEFAULT_RUN, UnitOfWork
from domain.costs import SLIPPAGE_MODELS, CostModel
from domain.errors import InvalidInput
from domain.risk.config import RiskConfig
from entrypoints.settings import Settings, mask_url

out = Console()
err = Console(stderr=True)

DAILY_PRICE_AGE_S = 5 * 86_400.0  # daily bars: a price is fresh for a long weekend
#: skipped alert lines printed on stderr (all of them go to ``alert_issues.csv``)
SHOWN_ISSUES = 20
DEFAULT_RISK = RiskConfig(max_price_age_s=DAILY_PRICE_AGE_S)


def fail(msg: str, code: int = 2) -> typer.Exit:
    err.print(f"[bold red]error:[/] {msg}")
    return typer.Exit(code)


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def sqlite_file(url: str) -> Path | None:
    if url.startswith("sqlite:///") and ":memory:" not in url:
        return Path(url.removeprefix("sqlite:///"))
    return None


def open_uow(url: str, *, synchronous: str = "NORMAL", run: str = DEFAULT_RUN) -> UnitOfWork:
    from adapters.sqlalchemy import PersistenceError, make_engine, sql_uow_factory

    try:
        engine = make_engine(url, synchronous=synchronous)  # type: ignore[arg-type]
    except PersistenceError as exc:
        raise fail(f"database {mask_url(url)!r}: {exc}") from None
    return cast(UnitOfWork, sql_uow_factory(engine, run_id=run)())



def print_issue(issue: AlertIssue) -> None:
    err.print(f"[yellow]skipped alert[/] {issue}")


def issue_printer() -> Callable[[AlertIssue], None]:
    """Print the first skipped alert lines on stderr (``--json`` too), then a count hint."""
    seen = [0]

    def sink(issue: AlertIssue) -> None:
        seen[0] += 1
        if seen[0] <= SHOWN_ISSUES:
            print_issue(issue)
        elif seen[0] == SHOWN_ISSUES + 1:
            err.print("[yellow]more alert lines skipped[/]: the count is in the summary, every "
                      "line in the report's alert_issues.csv")

    return sink


DataOpt = Annotated[Path | None, typer.Option("--data", help="OHLCV CSV/Parquet (date,ticker,"
                                              "open,high,low,close,volume); default: sample.")]
AlertsOpt = Annotated[str | None, typer.Option("--alerts", help="Alerts: a JSONL/CSV file, a "
                                               "folder (followed) or - for stdin; default: "
                                               "the bundled earnings alerts.")]
StrategyOpt = Annotated[str | None, typer.Option("--strategy", help="module:callable producing "
                                                 "signals from bars (instead of alerts).")]
AgentOpt = Annotated[list[str] | None, typer.Option(
    "--agent", help="A registered RL model as the signal source: NAME\\[@VERSION]"
    "\\[:TICKER,...] (no version: production, followed as it is promoted; repeat for several "
    "agents on different tickers). See docs/rl.md, Deployment.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
DbOpt = Annotated[str | None, typer.Option("--db", help="Database URL.")]
TickerOpt = Annotated[str | None, typer.Option("--ticker", help="Ticker of a --data file "
                                               "without a ticker column.")]
# "\\[" keeps Rich (Typer's help renderer) from reading "[costs]" as markup
COSTS_HELP = " Default from \\[costs] / CATALYST_COSTS__*; see docs/trading.md#costs."
CommissionBpsOpt = Annotated[float | None, typer.Option(
    "--commission-bps", help="Commission in basis points of notional (default 10 = 0.1 %)."
    + COSTS_HELP)]
CommissionShareOpt = Annotated[float | None, typer.Option(
    "--commission-per-share", help="Commission per share in dollars (default 0)." + COSTS_HELP)]
CommissionOrderOpt = Annotated[float | None, typer.Option(
    "--commission-per-order", help="Commission per fill in dollars (default 0)." + COSTS_HELP)]
MinCommissionOpt = Annotated[float | None, typer.Option(
    "--min-commission", help="Smallest commission of a fill in dollars (default 0)."
    + COSTS_HELP)]
SlippageBpsOpt = Annotated[float | None, typer.Option(
    "--slippage-bps", help="Slippage of market and stop fills in basis points (default 5 = "
    "0.05 %)." + COSTS_HELP)]
SlippageModelOpt = Annotated[str | None, typer.Option(
    "--slippage-model", help="fixed (default), spread (plus half of --spread-bps) or "
    "volatility (plus --volatility-factor x the bar's range)." + COSTS_HELP)]
SpreadBpsOpt = Annotated[float | None, typer.Option(
    "--spread-bps", help="Quoted spread in basis points (spread model)." + COSTS_HELP)]
VolFactorOpt = Annotated[float | None, typer.Option(
    "--volatility-factor", help="Slippage bps per bps of the bar's high-low range "
    "(volatility model)." + COSTS_HELP)]

COST_FLAGS = {"commission_bps": "--commission-bps", "commission_per_share":
               "--commission-per-share", "commission_per_order": "--commission-per-order",
               "min_commission": "--min-commission", "slippage_bps": "--slippage-bps",
               "slippage_model": "--slippage-model", "spread_bps": "--spread-bps",
               "volatility_factor": "--volatility-factor"}


def cost_model(settings: Settings, **flags: Any) -> CostModel:
    """The costs of this command: defaults, then settings, then the flags given."""
    model = flags.get("slippage_model")
    if model is not None and model not in SLIPPAGE_MODELS:
        raise fail(f"--slippage-model {model!r}: expected one of {', '.join(SLIPPAGE_MODELS)}")
    try:
        return settings.cost_model(**flags)
    except InvalidInput as exc:
        flag = COST_FLAGS.get(exc.field, exc.field)
        raise fail(f"{flag} {exc.value!r}: expected {exc.expected}") from None


def settings_risk_config(settings: Settings) -> RiskConfig:
    """The risk limits of ``[risk]`` / ``CATALYST_RISK__*``; prices of daily bars stay fresh
    for a long weekend unless ``max_price_age_s`` is configured."""
    cfg = settings.risk_config()
    if "max_price_age_s" not in settings.risk:
        cfg = attrs.evolve(cfg, max_price_age_s=DAILY_PRICE_AGE_S)
    return cfg
ThresholdOpt = Annotated[float, typer.Option(
    "--threshold", help="Smallest alert confidence that becomes a signal.")]
SizingOpt = Annotated[str, typer.Option("--sizing", help="fixed, confidence, volatility, kelly.")]
MaxHoldOpt = Annotated[float, typer.Option("--max-hold-days", help="Time exit (0: none).")]
RunOpt = Annotated[str | None, typer.Option("--run", help="Run to show (default: the latest "
                                            "run of the database; `catalyst runs` lists them).")]


def data_path(data: Path | None) -> Path:
    p = data or sample_paths().prices
    if not p.is_file():
        raise fail(f"--data {str(p)!r}: no such file (expected an OHLCV CSV or Parquet file)")
    return p

