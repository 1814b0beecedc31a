"""``catalyst data``: import, fetch, build and validate market data.

Exit codes: 0 success, 1 validation errors remain, 2 bad input (file, option, source).

Why one module: it is the ``catalyst data`` Typer sub-app. The four commands share the
loading, refusal (exit 2) and summary-table helpers at its top, and each only parses options,
calls the data adapters or :func:`application.datasets.build_dataset` and renders.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from adapters.data.alerts import AlertFileError, read_alerts
from adapters.data.cache import ParquetCache, content_hash
from adapters.data.features import (
    PIPELINE_VERSION,
    repair_frame,
    validate_frame,
)
from adapters.data.ohlcv import DataError, fetch_ohlcv, load_ohlcv
from adapters.data.sample import sample_paths
from adapters.data.splits import Splits, read_splits
from domain.alerts import Alert
from domain.market_data import (
    Availability,
    DatasetSpec,
    IssueSeverity,
    Problem,
    ValidationIssue,
)
from entrypoints.cli.lease import check_writable_file

app = typer.Typer(
    help="Market data: import OHLCV files, fetch from Alpaca, build features, validate.",
    no_args_is_help=True,
)

out = Console()
err = Console(stderr=True)

def _data_dir() -> Path:
    """Return the settings' data folder (``data/`` under ``CATALYST_HOME``)."""
    from entrypoints.cli.container import load_settings

    return Path(load_settings().data_dir)


def _cache_dir(given: Path | None) -> Path:
    """Return ``given`` or the settings' cache folder (``cache/`` under ``CATALYST_HOME``)."""
    if given is not None:
        return given
    from entrypoints.cli.container import load_settings

    return Path(load_settings().cache_dir)


class AvailabilityOpt(StrEnum):
    """CLI spelling of :class:`Availability`."""

    open = "open"
    close = "close"


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


def _load(
    path: Path | None, ticker: str | None, cache_dir: Path | None
) -> tuple[pd.DataFrame, Path]:
    src = path or sample_paths().prices
    try:
        if cache_dir is None:
            return load_ohlcv(src, ticker=ticker, adj_close=True), src
        if not src.exists():
            raise DataError(f"no such file: {src}")
        key = content_hash(PIPELINE_VERSION, "ohlcv+adj", ticker or "", src)
        df, _ = ParquetCache(cache_dir).get_or_build(
            "ohlcv", key, lambda: load_ohlcv(src, ticker=ticker, adj_close=True)
        )
        return df, src
    except DataError as exc:
        raise _fail(str(exc)) from None


def _alerts(paths: list[Path] | None, use_sample: bool) -> list[Alert]:
    try:
        if paths:
            missing = [p for p in paths if not p.exists()]
            if missing:
                raise _fail(f"no such alert file: {missing[0]}")
            return read_alerts(paths)
        return read_alerts(sample_paths().alerts) if use_sample else []
    except AlertFileError as exc:
        raise _fail(str(exc)) from None


def _splits(path: Path | None) -> Splits:
    if path is None:
        return {}
    try:
        return read_splits(path)
    except DataError as exc:
        raise _fail(str(exc)) from None


def _write(df: pd.DataFrame, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.suffix.lower() == ".csv":
        df.to_csv(dest, index=False)
    else:
        df.to_parquet(dest, index=False)


def _summary_table(df: pd.DataFrame, title: str) -> Table:
    t = Table(title=title)
    for c in ("ticker", "bars", "first", "last"):
        t.add_column(c, justify="right" if c == "bars" else "left")
    for ticker, g in df.groupby("ticker", sort=True):
        t.add_row(
            str(ticker),
            str(len(g)),
            g["date"].min().strftime("%Y-%m-%d"),
            g["date"].max().strftime("%Y-%m-%d"),
        )
    return t


@app.command("import")
def import_(
    path: Annotated[Path, typer.Argument(help="OHLCV file (.csv or .parquet).")],
    ticker: Annotated[
        str | None, typer.Option(help="Ticker for a file without a ticker column.")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--out", help="Canonical Parquet written here; default "
                                  "data/ohlcv.parquet under CATALYST_HOME.")
    ] = None,
    cache_dir: Annotated[
        Path | None, typer.Option(help="Parquet cache folder; default cache/ under "
                                  "CATALYST_HOME.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON summary.")
    ] = False,
) -> None:
    """Read an OHLCV file into the canonical layout and store it as Parquet."""
    output = output or _data_dir() / "ohlcv.parquet"
    check_writable_file(output, "--out")
    df, _ = _load(path, ticker, _cache_dir(cache_dir))
    _write(df, output)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "output": str(output),
                    "rows": len(df),
                    "tickers": df["ticker"].nunique(),
                }
            )
        )
        return
    out.print(_summary_table(df, f"imported {path.name}"))
    out.print(
        f"wrote {len(df):,} rows to [bold]{output}[/]; check them with 'catalyst data validate {output}'"
    )


@app.command()
def fetch(
    tickers: Annotated[list[str], typer.Argument(help="Symbols to fetch.")],
    start: Annotated[datetime, typer.Option(help="First day (YYYY-MM-DD).")],
    end: Annotated[
        datetime | None, typer.Option(help="Last day; default today.")
    ] = None,
    timeframe: Annotated[
        str, typer.Option(help="Bar size: 1Day, 1Hour or 1Min.")
    ] = "1Day",
    feed: Annotated[str, typer.Option(help="Alpaca data feed: iex or sip.")] = "iex",
    output: Annotated[
        Path | None, typer.Option("--out", help="Canonical Parquet written here; default "
                                  "data/ohlcv.parquet under CATALYST_HOME.")
    ] = None,
) -> None:
    """Fetch historical bars from Alpaca (keys from APCA_API_KEY_ID / APCA_API_SECRET_KEY).

    Bars come through the Alpaca price-feed adapter (the same ``PriceFeedPort`` the engine
    uses: timeouts, rate limit, retries with backoff); ``CATALYST_ALPACA_DATA_URL`` points it
    elsewhere (e.g. ``catalyst sim-server``).
    """
    from domain.errors import DomainError
    from entrypoints.cli.container import get_container

    output = output or _data_dir() / "ohlcv.parquet"
    check_writable_file(output, "--out")
    start_utc = start.replace(tzinfo=UTC) if start.tzinfo is None else start
    end_dt = end or datetime.now(UTC)
    end_utc = end_dt.replace(tzinfo=UTC) if end_dt.tzinfo is None else end_dt
    try:
        source = get_container().gateways.alpaca_price_feed(data_feed=feed)
        with Progress(
            TextColumn("fetching {task.description}"), console=err, transient=True
        ) as p:
            p.add_task(", ".join(tickers))
            df = fetch_ohlcv(
                source, [t.upper() for t in tickers], start_utc, end_utc, timeframe
            )
    except (DataError, DomainError) as exc:
        raise _fail(str(exc)) from None
    if df.empty:
        raise _fail("Alpaca returned no bars for that range")
    _write(df, output)
    out.print(_summary_table(df, "fetched from Alpaca"))
    out.print(f"wrote {len(df):,} rows to [bold]{output}[/]")


@app.command()
def build(
    data: Annotated[
        Path | None, typer.Option(help="OHLCV file; default the bundled sample.")
    ] = None,
    ticker: Annotated[
        str | None, typer.Option(help="Ticker for a single-ticker file.")
    ] = None,
    alerts: Annotated[
        list[Path] | None,
        typer.Option(
            help="Alert JSONL file(s); default the sample's alerts with the sample."
        ),
    ] = None,
    benchmark: Annotated[
        str | None,
        typer.Option(help="Benchmark ticker for beta; default equal-weighted panel."),
    ] = None,
    availability: Annotated[
        AvailabilityOpt,
        typer.Option(help="When an alert becomes usable: open or close rule."),
    ] = AvailabilityOpt.open,
    train: Annotated[float, typer.Option(help="Train fraction.")] = 0.70,
    validation: Annotated[float, typer.Option(help="Validation fraction.")] = 0.15,
    test: Annotated[float, typer.Option(help="Test fraction.")] = 0.15,
    embargo: Annotated[int, typer.Option(help="Bars left out between splits.")] = 5,
    output: Annotated[Path | None, typer.Option(
        "--out", help="Feature Parquet file; default data/features.parquet under "
        "CATALYST_HOME.")] = None,
    cache_dir: Annotated[
        Path | None, typer.Option(help="Parquet cache folder; default cache/ under "
                                  "CATALYST_HOME.")
    ] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Rebuild even if cached.")
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Build even if validation finds errors (they are reported)."
        ),
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON summary.")
    ] = False,
) -> None:
    """Compute indicators, catalyst features and splits into a Parquet feature file.

    The input is validated first (as 'catalyst data validate' does); errors stop the build
    (exit 1) unless --force is given.
    """
    from adapters.data.datasets import FramePriceHistory, ParquetFeatureStore
    from application.datasets import DatasetRejectedError, build_dataset

    cache_dir = _cache_dir(cache_dir)
    output = output or _data_dir() / "features.parquet"
    check_writable_file(output, "--out")
    df, src = _load(data, ticker, None if no_cache else cache_dir)
    alert_list = _alerts(alerts, use_sample=data is None)
    bars = FramePriceHistory(df, str(src))
    spec = DatasetSpec(
        benchmark=benchmark,
        availability=Availability(availability.value),
        split_fractions=(train, validation, test),
        embargo=embargo,
    )
    params = [benchmark, availability.value, train, validation, test, embargo]
    alert_files = alerts or ([sample_paths().alerts] if data is None else [])
    key = content_hash(PIPELINE_VERSION, src, *alert_files, params)
    with Progress(
        TextColumn("building features"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as prog:
        task = prog.add_task("", total=bars.tickers())
        try:
            built = build_dataset(
                bars,
                alert_list,
                ParquetFeatureStore(cache_dir),
                spec,
                str(output),
                cache_key=None if no_cache else key,
                force=force,
                on_ticker=lambda t: prog.update(task, advance=1, description=t),
            )
        except DatasetRejectedError as exc:
            prog.stop()
            errors = exc.errors
            err.print(_issue_table(errors, f"{src.name}: {len(errors)} error(s)", 10, True))
            raise _fail(
                f"{exc}. Run 'catalyst data validate {src} --repair --out FIXED.parquet' "
                "(with --splits FILE for ambiguous jumps) and build from FIXED.parquet, or "
                "pass --force to build from it as it is",
                1,
            ) from None
        except ValueError as exc:
            raise _fail(str(exc)) from None
    errors = built.unrepaired
    if errors:
        err.print(
            f"[yellow]warning:[/] building from {src.name} with {len(errors)} "
            f"unrepaired error(s) (--force), first {errors[0].ticker} {errors[0].date} "
            f"{errors[0].problem.value}"
        )
    too_old = built.alerts_before_first_bar
    if too_old:
        err.print(
            f"[yellow]note:[/] dropped {sum(too_old.values())} alert(s) dated before their "
            "ticker's first bar: "
            + ", ".join(f"{t} {n}" for t, n in sorted(too_old.items()))
        )
    counts = built.features.split_counts()
    if as_json:
        summary: dict[str, Any] = {
            "output": str(output),
            "rows": built.features.rows(),
            "cached": built.cached,
            "alerts": built.alerts,
            "alerts_before_first_bar": too_old,
            "unrepaired_errors": len(errors),
            "splits": counts,
        }
        typer.echo(json.dumps(summary))
        return
    t = Table(title=f"features from {src.name}" + (" (cached)" if built.cached else ""))
    t.add_column("ticker")
    for c in ("train", "validation", "test", "embargo", "catalysts"):
        t.add_column(c, justify="right")
    cats = built.features.catalyst_bars()
    for name, row in counts.items():
        t.add_row(
            name,
            *(str(row.get(c, 0)) for c in ("train", "validation", "test", "embargo")),
            str(cats.get(name, 0)),
        )
    out.print(t)
    out.print(
        f"wrote {built.features.rows():,} rows x {built.features.columns()} columns "
        f"to [bold]{output}[/]"
    )


def _issue_dict(i: ValidationIssue) -> dict[str, str]:
    return {
        "ticker": i.ticker,
        "date": i.date,
        "problem": i.problem.value,
        "severity": i.severity.value,
        "detail": i.detail,
        "evidence": i.evidence,
    }


def _is_ambiguous(i: ValidationIssue) -> bool:
    return i.problem is Problem.SPLIT_LIKE_JUMP and "ambiguous" in i.detail


def _issue_table(
    issues: list[ValidationIssue], title: str, limit: int, evidence: bool = False
) -> Table:
    t = Table(title=title)
    cols = ["ticker", "date", "problem", "severity", "detail"]
    for c in cols + (["evidence"] if evidence else []):
        t.add_column(c)
    for i in issues[:limit]:
        style = "red" if i.severity is IssueSeverity.ERROR else "yellow"
        row = [i.ticker, i.date, i.problem.value, f"[{style}]{i.severity.value}[/]", i.detail]
        t.add_row(*row, *([i.evidence] if evidence else []))
    if len(issues) > limit:
        t.add_row("…", "", f"{len(issues) - limit} more", "", "use --json for all",
                  *([""] if evidence else []))
    return t


@app.command()
def validate(
    path: Annotated[
        Path | None, typer.Argument(help="OHLCV file; default the bundled sample.")
    ] = None,
    alerts: Annotated[
        list[Path] | None,
        typer.Option(help="Alert JSONL: large moves on catalyst days are fine."),
    ] = None,
    repair: Annotated[
        bool,
        typer.Option(
            "--repair", help="Drop or fix what can be fixed and save the result."
        ),
    ] = False,
    output: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Where --repair writes; default <name>.repaired.parquet."
        ),
    ] = None,
    ticker: Annotated[
        str | None, typer.Option(help="Ticker for a single-ticker file.")
    ] = None,
    splits: Annotated[
        Path | None,
        typer.Option(
            help="Known splits, CSV ticker,date,ratio (ratio 4 or 4:1; 1:10 reverse)."
        ),
    ] = None,
    jump_threshold: Annotated[
        float,
        typer.Option(help="Close-to-close move whose split evidence is weighed."),
    ] = 0.40,
    strict: Annotated[bool, typer.Option(help="Fail on warnings (gaps) too.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print findings as JSON.")
    ] = False,
    limit: Annotated[int, typer.Option(help="Rows shown in the table.")] = 50,
) -> None:
    """Check bars for gaps, NaN, bad prices, duplicates and unadjusted splits.

    A large move is a split only on evidence (a --splits file, an adj_close column, or a
    lasting volume shift by the ratio with no spike); a real move is a warning, and a move
    the evidence does not decide is reported as ambiguous and never repaired.
    """
    if repair and output is not None:
        check_writable_file(output, "--out")
    df, src = _load(path, ticker, None)
    alert_list = _alerts(alerts, use_sample=path is None)
    known = _splits(splits)
    issues = validate_frame(df, alert_list, jump_threshold=jump_threshold, splits=known)
    actions: list[ValidationIssue] = []
    remaining = issues
    dest: Path | None = None
    if repair and issues:
        fixed, actions = repair_frame(
            df, alert_list, jump_threshold=jump_threshold, splits=known
        )
        remaining = validate_frame(
            fixed, alert_list, jump_threshold=jump_threshold, splits=known
        )
        dest = output or _data_dir() / f"{src.name.split('.')[0]}.repaired.parquet"
        _write(fixed, dest)
    failing = [
        i
        for i in remaining
        if i.severity is IssueSeverity.ERROR or (strict and i.severity is IssueSeverity.WARNING)
    ]
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "file": str(src),
                    "rows": len(df),
                    "tickers": int(df["ticker"].nunique()),
                    "issues": [_issue_dict(i) for i in issues],
                    "repairs": [_issue_dict(i) for i in actions],
                    "repaired_file": str(dest) if dest else None,
                    "remaining": [_issue_dict(i) for i in remaining]
                    if repair
                    else None,
                    "ambiguous": [_issue_dict(i) for i in remaining if _is_ambiguous(i)],
                    "ok": not failing,
                }
            )
        )
        raise typer.Exit(1 if failing else 0)
    n_err = sum(i.severity is IssueSeverity.ERROR for i in issues)
    n_warn = len(issues) - n_err
    if issues:
        out.print(
            _issue_table(
                issues, f"{src.name}: {n_err} error(s), {n_warn} warning(s)", limit
            )
        )
    if actions:
        out.print(_issue_table(actions, "repairs", limit))
        out.print(f"wrote the repaired data to [bold]{dest}[/]")
    ambiguous = [i for i in remaining if _is_ambiguous(i)]
    if ambiguous:
        out.print(
            _issue_table(ambiguous, "ambiguous jumps (not repaired)", limit, evidence=True)
        )
    if failing:
        err.print(
            f"[bold red]{len(failing)} problem(s) remain[/]"
            + ("" if repair else "; run with --repair to drop or fix what can be fixed")
        )
        raise typer.Exit(1)
    out.print(
        f"[green]ok[/]: {len(df):,} bars of {df['ticker'].nunique()} ticker(s) in {src.name}"
        + (f" ({n_warn} warning(s))" if n_warn and not repair else "")
    )
