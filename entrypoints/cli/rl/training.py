"""``catalyst rl train`` and ``catalyst rl tune``."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from adapters.rl.env import EnvConfig
from domain.rl.models import (
    ModelVersion,
)

if TYPE_CHECKING:
    from domain.rl.training import TrainingRun
from entrypoints.cli.rl._common import (
    AlgoName,
    DataOpt,
    DbOpt,
    FillAtName,
    JsonOpt,
    ModelsDirOpt,
    VecEnvName,
    app,
    cli_settings,
    err,
    fail,
    fmt,
    load_frame,
    open_registry,
    out,
    parse_params,
    progress_display,
)

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
    models_dir: ModelsDirOpt = None,
    db: DbOpt = None,
    tensorboard_dir: Annotated[
        Path | None, typer.Option(help="TensorBoard log directory (default: tensorboard/ under "
                                  "the state home).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Train PPO, SAC or A2C on the train split, validate on the validation split, register."""
    from adapters.rl.training import Sb3Trainer, TrainConfig
    from application.training import train_and_register

    if tensorboard_dir is None:
        tensorboard_dir = cli_settings().tensorboard_dir
    frame = load_frame(data)
    hp = parse_params(params)
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
                costs=cli_settings().cost_model(),  # [costs] / CATALYST_COSTS__*, like backtests
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
        raise fail(str(exc)) from None
    registry = open_registry(models_dir, db)
    with progress_display() as prog:
        try:
            trainer = Sb3Trainer(
                frame, cfg, tickers=ticker, tensorboard_dir=tensorboard_dir, progress=prog
            )
            trained = train_and_register(trainer, registry, model_name)
        except ValueError as exc:
            raise fail(str(exc)) from None
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
        str | None,
        typer.Option(
            help="Optuna storage URL: sqlite:///... or postgresql://user:pw@host/db "
            "(shared by workers on several machines; default: optuna.db under the state home)."
        ),
    ] = None,
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

    if storage is None:
        storage = cli_settings().optuna_url
    frame = load_frame(data)
    fixed = parse_params(params)
    study_name = study or f"catalyst-{algo.value}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        from adapters.rl.algorithms import resolve_hyperparams

        resolve_hyperparams(algo.value, fixed)
        base = TrainConfig(algo=algo.value, timesteps=timesteps, seed=seed, eval_freq=eval_freq)
        normalise_storage_url(storage)
    except ValueError as exc:
        raise fail(str(exc)) from None
    with progress_display() as prog:
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
            raise fail(f"--storage {storage!r}: {exc}") from None
        except Exception as exc:
            if type(exc).__module__.startswith("sqlalchemy"):
                raise fail(f"--storage {storage!r}: {str(exc).splitlines()[0]}") from None
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
            ", ".join(f"{k}={fmt(v)}" for k, v in sorted(tr.params.items())),
        )
    out.print(t)
    if best is not None and out_file is not None:
        out.print(f"best hyper-parameters written to {out_file}: "
                  f"catalyst rl train --algo {algo.value} --params {out_file}")
