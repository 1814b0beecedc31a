"""``catalyst rl``: train, tune, register, ensemble and evaluate RL agents.

Heavy imports (torch, Stable-Baselines3, Optuna) happen inside the commands that need them,
so ``catalyst --help`` stays fast.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
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
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from adapters.data.features import (
    FeatureFileError,
    check_feature_frame,
    feature_panel,
    sample_features,
)
from adapters.rl.agents import (
    EpisodeMetrics,
    env_config_from_json,
    mean_metrics,
    run_episodes,
)
from adapters.rl.env import EnvConfig
from adapters.rl.evaluate import Agent
from adapters.rl.registry import (
    DEFAULT_MODELS_DIR,
    FileSystemModelRegistry,
    JsonMetadataStore,
    MetadataStore,
)
from domain.market_data.features import TickerFeatures
from domain.rl.models import (
    IncompatibleEnvConfigError,
    ModelVersion,
    RegistryError,
    parse_model_ref,
)

if TYPE_CHECKING:
    from domain.rl.training import TrainingRun

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


def _fail(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}")
    return typer.Exit(2)


# ------------------------------------------------------------------------- helpers

DataOpt = Annotated[
    Path | None,
    typer.Option(help="Feature file from 'catalyst data build'; default the bundled sample."),
]
ModelsDirOpt = Annotated[
    Path, typer.Option("--models-dir", help="Registry directory (model files).")
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


def _load_frame(data: Path | None) -> pd.DataFrame:
    if data is None:
        return sample_features()
    if not data.exists():
        raise _fail(f"no such feature file: {data} (build one with 'catalyst data build')")
    try:
        frame = pd.read_parquet(data)
    except Exception as exc:
        raise _fail(f"{data} is not a feature file (Parquet): {exc}") from None
    try:
        check_feature_frame(frame, data)
    except FeatureFileError as exc:
        raise _fail(str(exc)) from None
    return frame


def _panel(
    frame: pd.DataFrame, split: str | None, tickers: list[str] | None, data: Path | None
) -> dict[str, TickerFeatures]:
    try:
        panel = feature_panel(frame, split=split, tickers=tickers)
    except (KeyError, ValueError) as exc:
        raise _fail(f"{data} is not a feature file: {exc}") from None
    if not panel:
        raise _fail(f"no ticker has bars in the {split or 'whole'} split")
    return panel


def _default_db() -> str | None:
    url = os.environ.get("CATALYST_DATABASE_URL")
    if url is None:
        try:
            from entrypoints.cli.container import get_container

            url = str(get_container().core.settings().database_url)
        except Exception:
            return None
    return url


def _metadata_store(models_dir: Path, db: str | None) -> MetadataStore:
    if db is not None and db.lower() == "none":
        return JsonMetadataStore(models_dir)
    url = db or _default_db()
    if url is None:
        return JsonMetadataStore(models_dir)
    try:
        from adapters.rl.registry import SqlMetadataStore

        return SqlMetadataStore(url)
    except ImportError:
        if db is None:
            return JsonMetadataStore(models_dir)
        raise _fail(f"--db {db!r}: the database adapter is not available") from None
    except Exception as exc:
        if db is None:
            err.print(
                f"[yellow]warning:[/] registry database unavailable ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0][:120]}); using metadata.json files in {models_dir}"
            )
            return JsonMetadataStore(models_dir)
        raise _fail(f"--db {db!r}: cannot open the registry database: {exc}") from None


def _registry(models_dir: Path, db: str | None) -> FileSystemModelRegistry:
    return FileSystemModelRegistry(models_dir, _metadata_store(models_dir, db))


def _parse_params(params: str | None) -> dict[str, Any]:
    if params is None:
        return {}
    text = params
    if not params.lstrip().startswith("{"):
        p = Path(params)
        if not p.exists():
            raise _fail(f"--params {params!r}: expected a JSON object or a JSON file")
        text = p.read_text()
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _fail(f"--params: invalid JSON ({exc})") from None
    if isinstance(value, dict) and "hyperparams" in value and isinstance(
        value["hyperparams"], dict
    ):
        value = value["hyperparams"]  # a 'catalyst rl tune' result file
    if not isinstance(value, dict):
        raise _fail("--params: expected a JSON object of hyper-parameters")
    return value


def _progress() -> Progress:
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


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


# --------------------------------------------------------------------------- train


@app.command("train")
def train_cmd(
    algo: Annotated[AlgoName, typer.Option(help="Algorithm.")] = AlgoName.ppo,
    data: DataOpt = None,
    timesteps: Annotated[int, typer.Option(min=1, help="Environment steps (at most).")] = 20_000,
    seed: Annotated[int, typer.Option(help="Seed (same seed, data, config: same model).")] = 0,
    name: Annotated[
        str | None, typer.Option(help="Registry name (default: the algorithm).")
    ] = None,
    params: Annotated[
        str | None,
        typer.Option(help="Hyper-parameters: JSON object, or a JSON file (e.g. a tune result)."),
    ] = None,
    n_envs: Annotated[
        int | None, typer.Option(min=1, help="Parallel envs (default 2; SAC 1).")
    ] = None,
    vec_env: Annotated[
        VecEnvName, typer.Option(help="auto (= dummy, fastest for this env), dummy, subproc.")
    ] = VecEnvName.auto,
    eval_freq: Annotated[
        int | None, typer.Option(min=1, help="Validate every N steps (default timesteps/10).")
    ] = None,
    patience: Annotated[
        int, typer.Option(min=1, help="Stop after N validations without improvement.")
    ] = 5,
    episode_length: Annotated[
        int, typer.Option(min=2, help="Training episode length (random starts).")
    ] = 252,
    fill_at: Annotated[FillAtName, typer.Option(help="Fill rule.")] = FillAtName.next_open,
    initial_balance: Annotated[float, typer.Option(help="Starting cash.")] = 100_000.0,
    ticker: Annotated[list[str] | None, typer.Option(help="Only these tickers.")] = None,
    promote: Annotated[bool, typer.Option(help="Promote the new version to production.")] = False,
    models_dir: ModelsDirOpt = DEFAULT_MODELS_DIR,
    db: DbOpt = None,
    tensorboard_dir: Annotated[
        Path, typer.Option(help="TensorBoard log directory.")
    ] = Path("var/tensorboard"),
    as_json: JsonOpt = False,
) -> None:
    """Train PPO, SAC or A2C on the train split, validate on the validation split, register."""
    from adapters.rl.training import Sb3Trainer, TrainConfig
    from application.training import train_and_register

    frame = _load_frame(data)
    hp = _parse_params(params)
    model_name = name or algo.value
    try:
        cfg = TrainConfig(
            algo=algo.value,
            timesteps=timesteps,
            seed=seed,
            hyperparams=hp,
            env_config=EnvConfig(
                initial_balance=initial_balance,
                fill_at=fill_at.value,
                episode_length=episode_length,
            ),
            n_envs=n_envs,
            vec_env=vec_env.value,
            eval_freq=eval_freq,
            patience=patience,
        )
        from adapters.rl.algorithms import resolve_hyperparams
        from domain.rl.models import validate_model_name

        resolve_hyperparams(algo.value, hp)
        validate_model_name(model_name)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    registry = _registry(models_dir, db)
    with _progress() as prog:
        try:
            trainer = Sb3Trainer(
                frame, cfg, tickers=ticker, tensorboard_dir=tensorboard_dir, progress=prog
            )
            trained = train_and_register(trainer, registry, model_name)
        except ValueError as exc:
            raise _fail(str(exc)) from None
    mv, res = trained.version, trained.run
    for warning in trained.verdict.warnings:
        err.print(f"[bold red]WARNING[/]: {mv.ref}: {warning}")
    if promote:
        mv = registry.promote(mv.name, mv.version)
    if as_json:
        typer.echo(json.dumps({
            "model": mv.to_json(),
            "warnings": list(trained.verdict.warnings),
            "tensorboard": str(tensorboard_dir),
        }))
        return
    out.print(_train_table(mv, res))
    out.print(f"TensorBoard: tensorboard --logdir {tensorboard_dir}")


def _train_table(mv: ModelVersion, res: TrainingRun) -> Table:
    t = Table(title=f"registered {mv.ref} ({mv.algo}, seed {mv.seed}, {mv.status.value})")
    t.add_column("item")
    t.add_column("value", justify="right")
    t.add_row("timesteps", str(res.timesteps))
    t.add_row("validated every", f"{res.validate_every} steps")
    t.add_row("best at step", f"{res.best_step} ({res.best_updates} policy updates)")
    t.add_row("stopped early", str(res.stopped_early))
    t.add_row("envs", f"{res.n_envs} x {res.vec_env}")
    t.add_row("seconds", f"{res.seconds:.1f}")
    for k, v in res.validation.items():
        t.add_row(f"validation {k}", _metric(k, v))
    if "total_return" in res.buy_and_hold:
        t.add_row("buy-and-hold validation total_return",
                  _metric("total_return", res.buy_and_hold["total_return"]))
    t.add_row("path", mv.path)
    return t


def _metric(k: str, v: float) -> str:
    if k in ("total_return", "max_drawdown", "annual_return", "annual_volatility"):
        return f"{v:+.2%}"
    if k == "trades":
        return f"{v:.0f}"
    return f"{v:.3f}"


# ---------------------------------------------------------------------------- tune


@app.command("tune")
def tune_cmd(
    algo: Annotated[AlgoName, typer.Option(help="Algorithm.")] = AlgoName.ppo,
    data: DataOpt = None,
    study: Annotated[str | None, typer.Option(help="Study name (default catalyst-<algo>).")] = None,
    storage: Annotated[
        str,
        typer.Option(
            help="Optuna storage URL: sqlite:///... or postgresql://user:pw@host/db "
            "(shared by workers on several machines)."
        ),
    ] = "sqlite:///var/optuna.db",
    n_trials: Annotated[int, typer.Option(min=1, help="Trials run by this worker.")] = 10,
    timesteps: Annotated[int, typer.Option(min=1, help="Training steps per trial.")] = 5_000,
    seed: Annotated[int, typer.Option(help="Training seed of every trial.")] = 0,
    sampler_seed: Annotated[
        int | None,
        typer.Option(help="Seed of the TPE sampler (leave unset when several workers share)."),
    ] = None,
    params: Annotated[
        str | None, typer.Option(help="Fixed hyper-parameters (JSON object or file).")
    ] = None,
    eval_freq: Annotated[
        int | None, typer.Option(min=1, help="Validate (and report to the pruner) every N steps.")
    ] = None,
    timeout: Annotated[
        float | None, typer.Option(help="Start no new trial after this many seconds.")
    ] = None,
    out_file: Annotated[
        Path | None,
        typer.Option("--out", help="Write the best trial's hyper-parameters here (JSON)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Search hyper-parameters with Optuna (TPE, median pruning on validation Sharpe)."""
    import optuna

    from adapters.rl.training import TrainConfig
    from adapters.rl.tune import OptunaSearch, Sb3TrialTrainer, normalise_storage_url, open_study
    from application.tuning import TrialOutcome, tune

    frame = _load_frame(data)
    fixed = _parse_params(params)
    study_name = study or f"catalyst-{algo.value}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        from adapters.rl.algorithms import resolve_hyperparams

        resolve_hyperparams(algo.value, fixed)
        base = TrainConfig(algo=algo.value, timesteps=timesteps, seed=seed, eval_freq=eval_freq)
        normalise_storage_url(storage)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    with _progress() as prog:
        task = prog.add_task("", total=n_trials, label=f"tuning {algo.value} ({study_name})")

        def done(t: TrialOutcome) -> None:
            v = "pruned" if t.value is None else f"{t.value:+.3f}"
            prog.update(task, advance=1, description=f"trial {t.number}: {v}")

        started = time.monotonic()

        def out_of_time() -> bool:
            return timeout is not None and time.monotonic() - started >= timeout

        try:
            st = open_study(storage, study_name, sampler_seed)
            tune(
                OptunaSearch(st, algo.value, fixed),
                Sb3TrialTrainer(frame, base),
                n_trials,
                should_stop=out_of_time,
                on_trial=done,
            )
        except (ValueError, ImportError) as exc:
            raise _fail(f"--storage {storage!r}: {exc}") from None
        except Exception as exc:
            if type(exc).__module__.startswith("sqlalchemy"):
                raise _fail(f"--storage {storage!r}: {str(exc).splitlines()[0]}") from None
            raise
    trials = st.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    best = st.best_trial if complete else None
    summary: dict[str, Any] = {
        "study": study_name,
        "algo": algo.value,
        "trials": len(trials),
        "complete": len(complete),
        "pruned": sum(t.state == optuna.trial.TrialState.PRUNED for t in trials),
        "best": None
        if best is None
        else {
            "number": best.number,
            "value": best.value,
            "hyperparams": best.user_attrs.get("hyperparams", best.params),
            "validation": best.user_attrs.get("validation", {}),
        },
    }
    if out_file is not None and best is not None:
        out_file.parent.mkdir(parents=True, exist_ok=True)
        out_file.write_text(json.dumps(summary["best"], indent=2))
    if as_json:
        typer.echo(json.dumps(summary))
        return
    t = Table(title=f"study {study_name}: {summary['complete']} complete, "
                    f"{summary['pruned']} pruned of {summary['trials']}")
    for c in ("trial", "state", "val Sharpe", "params"):
        t.add_column(c, justify="left" if c in ("state", "params") else "right")
    for tr in sorted(trials, key=lambda x: -(x.value if x.value is not None else -1e9))[:15]:
        t.add_row(
            str(tr.number),
            tr.state.name.lower(),
            "" if tr.value is None else f"{tr.value:+.3f}",
            ", ".join(f"{k}={_fmt(v)}" for k, v in sorted(tr.params.items())),
        )
    out.print(t)
    if best is not None and out_file is not None:
        out.print(f"best hyper-parameters written to {out_file}: "
                  f"catalyst rl train --algo {algo.value} --params {out_file}")


# -------------------------------------------------------------------------- models


@models_app.command("list")
def models_list(
    name: Annotated[str | None, typer.Argument(help="Only this model.")] = None,
    models_dir: ModelsDirOpt = DEFAULT_MODELS_DIR,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List registered model versions."""
    reg = _registry(models_dir, db)
    versions = reg.list(name)
    if as_json:
        typer.echo(json.dumps([v.to_json() for v in versions]))
        return
    t = Table(title=f"models in {models_dir}")
    for c in ("name", "ver", "algo", "status", "seed", "val Sharpe", "val return", "created"):
        right = c in ("ver", "seed", "val Sharpe", "val return")
        t.add_column(c, justify="right" if right else "left", no_wrap=c in ("name", "status"))
    for v in versions:
        val = v.metrics.get("validation") or {}
        t.add_row(
            v.name,
            str(v.version),
            v.algo,
            _status(v.status.value),
            str(v.seed),
            f"{val['sharpe']:.3f}" if "sharpe" in val else "",
            f"{val['total_return']:+.2%}" if "total_return" in val else "",
            v.created_at.strftime("%Y-%m-%d %H:%M"),
        )
    out.print(t)


def _status(s: str) -> str:
    return {"production": "[green]production[/]", "archived": "[dim]archived[/]"}.get(s, s)


def _get(reg: FileSystemModelRegistry, ref: str) -> ModelVersion:
    try:
        name, version = parse_model_ref(ref)
        return reg.get(name, version)
    except (ValueError, RegistryError) as exc:
        raise _fail(str(exc)) from None


@models_app.command("show")
def models_show(
    ref: Annotated[str, typer.Argument(help="name or name@version.")],
    models_dir: ModelsDirOpt = DEFAULT_MODELS_DIR,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show one version: hyper-parameters, data hash, env config, libraries, metrics."""
    mv = _get(_registry(models_dir, db), ref)
    d = mv.to_json()
    if as_json:
        typer.echo(json.dumps(d))
        return
    t = Table(title=f"{mv.ref}", show_header=False)
    t.add_column("field")
    t.add_column("value")
    for k in ("algo", "status", "seed", "path", "data_hash", "created_at", "promoted_at"):
        t.add_row(k, str(d[k]))
    for group in ("hyperparams", "env_config", "library_versions"):
        t.add_section()
        for k, v in d[group].items():
            t.add_row(f"{group}.{k}", json.dumps(v) if isinstance(v, dict | list) else _fmt(v))
    t.add_section()
    for split, m in d["metrics"].items():
        if isinstance(m, dict):
            for k, v in m.items():
                t.add_row(f"metrics.{split}.{k}", _fmt(v))
    out.print(t)


@models_app.command("promote")
def models_promote(
    ref: Annotated[str, typer.Argument(help="name@version to make production.")],
    models_dir: ModelsDirOpt = DEFAULT_MODELS_DIR,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Promote a version to production (the previous production version is archived)."""
    reg = _registry(models_dir, db)
    try:
        name, version = parse_model_ref(ref)
        if version is None:
            raise ValueError(f"promote needs name@version, got {ref!r}")
        mv = reg.promote(name, version)
    except (ValueError, RegistryError) as exc:
        raise _fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(mv.to_json()))
        return
    out.print(f"{mv.ref} is now [green]production[/]")


@models_app.command("rollback")
def models_rollback(
    name: Annotated[str, typer.Argument(help="Model name.")],
    models_dir: ModelsDirOpt = DEFAULT_MODELS_DIR,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Archive the production version and restore the previously promoted one."""
    reg = _registry(models_dir, db)
    try:
        mv = reg.rollback(name)
    except (ValueError, RegistryError) as exc:
        raise _fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(mv.to_json()))
        return
    out.print(f"rolled back: {mv.ref} is [green]production[/] again")


# ------------------------------------------------------------------------ ensemble


@app.command("ensemble")
def ensemble_cmd(
    member: Annotated[
        list[str], typer.Option("--member", "-m", help="Registered model (name[@version]).")
    ],
    name: Annotated[str, typer.Option(help="Registry name of the ensemble.")] = "ensemble",
    weighting: Annotated[
        WeightingName, typer.Option(help="Weights from validation Sharpe.")
    ] = WeightingName.sharpe,
    temperature: Annotated[float, typer.Option(help="Softmax temperature.")] = 1.0,
    data: DataOpt = None,
    reevaluate: Annotated[
        bool,
        typer.Option(help="Re-evaluate members on the validation split (else use recorded)."),
    ] = False,
    models_dir: ModelsDirOpt = DEFAULT_MODELS_DIR,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Combine registered models into a weighted-average agent and register it."""
    from adapters.rl.agents import load_agent
    from adapters.rl.ensemble import EnsembleAgent, ensemble_weights, register_ensemble

    reg = _registry(models_dir, db)
    members = [_get(reg, r) for r in member]
    frame = _load_frame(data)
    val = _panel(frame, "validation", None, data)
    cfg = env_config_from_json(members[0].env_config)
    agents: list[Agent] = []
    sharpes: list[float] = []
    try:
        for m in members:
            agent, _ = load_agent(reg, m.ref, cfg)
            agents.append(agent)
            rec = (m.metrics.get("validation") or {}).get("sharpe")
            if reevaluate or rec is None:
                rec = mean_metrics(run_episodes(val, agent, cfg))["sharpe"]
            sharpes.append(float(rec))
        weights = ensemble_weights(sharpes, weighting.value, temperature)
        ens = EnsembleAgent(agents, weights)
        val_metrics = mean_metrics(run_episodes(val, ens, cfg))
        mv = register_ensemble(
            reg, name, members, weights, weighting.value, {"validation": val_metrics}
        )
    except (ValueError, RegistryError) as exc:
        raise _fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps({"model": mv.to_json(), "weights": weights, "sharpes": sharpes}))
        return
    t = Table(title=f"registered {mv.ref} ({weighting.value} weighting)")
    for c in ("member", "algo", "val Sharpe", "weight"):
        t.add_column(c, justify="left" if c in ("member", "algo") else "right")
    for m, s, w in zip(members, sharpes, weights, strict=True):
        t.add_row(m.ref, m.algo, f"{s:.3f}", f"{w:.3f}")
    t.add_section()
    t.add_row("ensemble", "", f"{val_metrics['sharpe']:.3f}", "1.000")
    out.print(t)


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
    models_dir: ModelsDirOpt = DEFAULT_MODELS_DIR,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run agents over every ticker of a split: return, Sharpe, drawdown, turnover, trades."""
    from adapters.rl.evaluation import PanelAgentEvaluator
    from adapters.rl.plots import MatplotlibEquityChart
    from application.evaluation import UnusableAgentError, evaluate_agents

    names = agent or ["random"]
    frame = _load_frame(data)
    panel = _panel(frame, None if split is SplitName.all else split.value, ticker, data)
    overrides: dict[str, Any] = {}
    if fill_at is not None:
        overrides["fill_at"] = fill_at.value
    if initial_balance is not None:
        overrides["initial_balance"] = initial_balance
    evaluator = PanelAgentEvaluator(panel, lambda: _registry(models_dir, db), overrides, seed)
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
                raise _fail(str(exc.cause)) from None
            raise _fail(
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
