"""``catalyst rl models ...`` and ``catalyst rl ensemble``."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from adapters.rl.agents import (
    env_config_from_json,
    mean_metrics,
    run_episodes,
)
from adapters.rl.evaluate import Agent
from adapters.rl.registry import (
    FileSystemModelRegistry,
)
from domain.rl.models import (
    FEATURE_STATS_KEY,
    ModelVersion,
    RegistryError,
    parse_model_ref,
)
from domain.rl.training import promotion_blocker

if TYPE_CHECKING:
    pass
from entrypoints.cli.rl._common import (
    DataOpt,
    DbOpt,
    JsonOpt,
    ModelsDirOpt,
    WeightingName,
    app,
    fail,
    fmt,
    load_frame,
    load_panel,
    models_app,
    open_registry,
    out,
)

# -------------------------------------------------------------------------- models


@models_app.command("list")
def models_list(
    name: Annotated[str | None, typer.Argument(help="Only this model.")] = None,
    models_dir: ModelsDirOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List registered model versions."""
    reg = open_registry(models_dir, db)
    versions = reg.list(name)
    if as_json:
        typer.echo(json.dumps([v.to_json() for v in versions]))
        return
    t = Table(title=f"models in {reg.root}")
    cols = ("name", "ver", "algo", "status", "seed", "val Sharpe", "val return",
            "beats B&H", "beats random", "created")
    for c in cols:
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
            _verdict(v, "beats_buy_and_hold"),
            _verdict(v, "beats_random"),
            v.created_at.strftime("%Y-%m-%d %H:%M"),
        )
    out.print(t)


def _verdict(v: ModelVersion, key: str) -> str:
    """``yes``/``no`` from the version's recorded quality verdict, ``-`` when not recorded."""
    q = v.metrics.get("quality")
    val = q.get(key) if isinstance(q, dict) else None
    return "-" if val is None else ("yes" if val else "[red]no[/]")


def _status(s: str) -> str:
    return {"production": "[green]production[/]", "archived": "[dim]archived[/]"}.get(s, s)


def _get(reg: FileSystemModelRegistry, ref: str) -> ModelVersion:
    try:
        name, version = parse_model_ref(ref)
        return reg.get(name, version)
    except (ValueError, RegistryError) as exc:
        raise fail(str(exc)) from None


@models_app.command("show")
def models_show(
    ref: Annotated[str, typer.Argument(help="name or name@version.")],
    models_dir: ModelsDirOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show one version: hyper-parameters, data hash, env config, libraries, metrics."""
    mv = _get(open_registry(models_dir, db), ref)
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
            t.add_row(f"{group}.{k}", json.dumps(v) if isinstance(v, dict | list) else fmt(v))
    t.add_section()
    for split, m in d["metrics"].items():
        if split == FEATURE_STATS_KEY:  # one number per feature: summarised
            names = m.get("names") if isinstance(m, dict) else None
            t.add_row(f"metrics.{split}", f"{len(names)} features (the drift monitor's "
                      "reference)" if isinstance(names, list) else "unreadable")
        elif isinstance(m, dict):
            for k, v in m.items():
                t.add_row(f"metrics.{split}.{k}", fmt(v))
    out.print(t)


@models_app.command("promote")
def models_promote(
    ref: Annotated[str, typer.Argument(help="name@version to make production.")],
    force: Annotated[
        bool,
        typer.Option(help="Promote even a version that did not beat buy-and-hold and random."),
    ] = False,
    models_dir: ModelsDirOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Promote a version to production (the previous production version is archived).

    A version whose validation did not beat buy-and-hold and a random agent needs --force.
    """
    reg = open_registry(models_dir, db)
    try:
        name, version = parse_model_ref(ref)
        if version is None:
            raise ValueError(f"promote needs name@version, got {ref!r}")
        blocker = promotion_blocker(reg.get(name, version).metrics)
        if blocker is not None and not force:
            raise ValueError(f"{name}@{version} is not promoted: {blocker} (use --force)")
        mv = reg.promote(name, version)
    except (ValueError, RegistryError) as exc:
        raise fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(mv.to_json()))
        return
    out.print(f"{mv.ref} is now [green]production[/]")


@models_app.command("rollback")
def models_rollback(
    name: Annotated[str, typer.Argument(help="Model name.")],
    models_dir: ModelsDirOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Archive the production version and restore the previously promoted one."""
    reg = open_registry(models_dir, db)
    try:
        mv = reg.rollback(name)
    except (ValueError, RegistryError) as exc:
        raise fail(str(exc)) from None
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
    models_dir: ModelsDirOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Combine registered models into a weighted-average agent and register it."""
    from adapters.rl.agents import load_agent
    from adapters.rl.ensemble import EnsembleAgent, ensemble_weights, register_ensemble

    reg = open_registry(models_dir, db)
    members = [_get(reg, r) for r in member]
    frame = load_frame(data)
    val = load_panel(frame, "validation", None, data)
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
        raise fail(str(exc)) from None
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
