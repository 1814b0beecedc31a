"""The ``catalyst rl`` Typer app, its option types and the helpers its commands share."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import pandas as pd
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from adapters.data.features import (
    FeatureFileError,
    check_feature_frame,
    feature_panel,
    sample_features,
)
from adapters.rl.registry import (
    FileSystemModelRegistry,
    JsonMetadataStore,
    MetadataStore,
)
from domain.market_data.features import TickerFeatures

if TYPE_CHECKING:
    pass



app = typer.Typer(
    help="Reinforcement learning: train, tune, register, ensemble and evaluate agents.",
    no_args_is_help=True,
)
models_app = typer.Typer(help="The model registry: list, show, promote, rollback.",
                         no_args_is_help=True)
app.add_typer(models_app, name="models")

out = Console()
err = Console(stderr=True)

BASELINES = ("random", "buy-and-hold")


@app.callback()
def _group() -> None:
    """Reinforcement learning: train, tune, register, ensemble and evaluate agents."""


class AlgoName(StrEnum):
    """Stable-Baselines3 algorithms."""

    ppo = "ppo"
    sac = "sac"
    a2c = "a2c"


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


class VecEnvName(StrEnum):
    """Vectorised environment kind."""

    auto = "auto"
    dummy = "dummy"
    subproc = "subproc"


class WeightingName(StrEnum):
    """How ensemble weights come from validation Sharpe."""

    sharpe = "sharpe"
    softmax = "softmax"
    equal = "equal"


def fail(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}")
    return typer.Exit(2)


# ------------------------------------------------------------------------- helpers

DataOpt = Annotated[
    Path | None,
    typer.Option(help="Feature file from 'catalyst data build'; default the bundled sample."),
]
ModelsDirOpt = Annotated[
    Path | None, typer.Option("--models-dir", help="Registry directory (model files; default: "
                              "models/ under the state home, CATALYST_HOME).")
]
DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Registry metadata database URL ('none' for metadata.json files only); "
        "default the configured database when it has the model_versions table.",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def load_frame(data: Path | None) -> pd.DataFrame:
    if data is None:
        return sample_features()
    if not data.exists():
        raise fail(f"no such feature file: {data} (build one with 'catalyst data build')")
    try:
        frame = pd.read_parquet(data)
    except Exception as exc:
        raise fail(f"{data} is not a feature file (Parquet): {exc}") from None
    try:
        check_feature_frame(frame, data)
    except FeatureFileError as exc:
        raise fail(str(exc)) from None
    return frame


def load_panel(
    frame: pd.DataFrame, split: str | None, tickers: list[str] | None, data: Path | None
) -> dict[str, TickerFeatures]:
    try:
        panel = feature_panel(frame, split=split, tickers=tickers)
    except (KeyError, ValueError) as exc:
        raise fail(f"{data} is not a feature file: {exc}") from None
    if not panel:
        raise fail(f"no ticker has bars in the {split or 'whole'} split")
    return panel


def cli_settings() -> Any:
    """Return the process's settings (paths under the state home, the database URL)."""
    from entrypoints.cli.container import get_container

    return get_container().core.settings()


def status_path(run_id: str) -> Path:
    """Return where the agents of run ``run_id`` write their status (``agents/`` under the
    state home)."""
    return Path(cli_settings().home) / "agents" / f"{run_id}.json"


def default_db() -> str | None:
    return str(cli_settings().database_url)


def metadata_store(models_dir: Path, db: str | None) -> MetadataStore:
    if db is not None and db.lower() == "none":
        return JsonMetadataStore(models_dir)
    url = db or default_db()
    if url is None:
        return JsonMetadataStore(models_dir)
    try:
        from adapters.rl.registry import SqlMetadataStore

        return SqlMetadataStore(url)
    except ImportError:
        if db is None:
            return JsonMetadataStore(models_dir)
        raise fail(f"--db {db!r}: the database adapter is not available") from None
    except Exception as exc:
        if db is None:
            err.print(
                f"[yellow]warning:[/] registry database unavailable ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0][:120]}); using metadata.json files in {models_dir}"
            )
            return JsonMetadataStore(models_dir)
        raise fail(f"--db {db!r}: cannot open the registry database: {exc}") from None


def open_registry(models_dir: Path | None, db: str | None) -> FileSystemModelRegistry:
    """Open the registry in ``models_dir`` (default: ``models/`` under the state home)."""
    settings = cli_settings()
    root = models_dir if models_dir is not None else settings.models_dir
    return FileSystemModelRegistry(root, metadata_store(root, db or settings.models_db))


def parse_params(params: str | None) -> dict[str, Any]:
    if params is None:
        return {}
    text = params
    if not params.lstrip().startswith("{"):
        p = Path(params)
        if not p.exists():
            raise fail(f"--params {params!r}: expected a JSON object or a JSON file")
        text = p.read_text()
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise fail(f"--params: invalid JSON ({exc})") from None
    if isinstance(value, dict) and "hyperparams" in value and isinstance(
        value["hyperparams"], dict
    ):
        value = value["hyperparams"]  # a 'catalyst rl tune' result file
    if not isinstance(value, dict):
        raise fail("--params: expected a JSON object of hyper-parameters")
    return value


def progress_display() -> Progress:
    return Progress(
        TextColumn("[bold]{task.fields[label]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.description}"),
        console=err,
        transient=False,
    )


def fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)
