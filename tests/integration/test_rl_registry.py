"""Model registry: versions, metadata, promote/rollback, env-config guard (no training)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

from adapters.rl.agents import env_config_from_json, env_config_json
from adapters.rl.ensemble import EnsembleAgent, ensemble_weights
from adapters.rl.env import EnvConfig
from adapters.rl.registry import FileSystemModelRegistry, JsonMetadataStore, SqlMetadataStore
from adapters.rl.tune import normalise_storage_url
from domain.rl.models import (
    IncompatibleEnvConfigError,
    ModelNotFoundError,
    ModelStatus,
    RegistryError,
    check_env_config,
    parse_model_ref,
)


class _Clock:
    def __init__(self) -> None:
        self.t = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.t += timedelta(minutes=1)
        return self.t


def _register(reg: FileSystemModelRegistry, tmp: Path, name: str = "m", **kw: Any) -> Any:
    art = tmp / "model.zip"
    art.write_bytes(b"zip")
    args: dict[str, Any] = {
        "hyperparams": {"learning_rate": 3e-4, "net_arch": [64, 64]},
        "data_hash": "sha256:abc",
        "env_config": env_config_json(EnvConfig(episode_length=252)),
        "seed": 7,
        "library_versions": {"torch": "2.13.0"},
        "metrics": {"validation": {"sharpe": 1.5}},
    }
    args.update(kw)
    return reg.register(name, "ppo", str(art), **args)


def _registries(tmp_path: Path) -> list[FileSystemModelRegistry]:
    return [FileSystemModelRegistry(tmp_path / "fs", JsonMetadataStore(tmp_path / "fs"),
                                    now=_Clock())]


@pytest.fixture(params=["json", "sqlite"])
def registry(request: pytest.FixtureRequest, tmp_path: Path) -> FileSystemModelRegistry:
    root = tmp_path / "models"
    if request.param == "json":
        return FileSystemModelRegistry(root, JsonMetadataStore(root), now=_Clock())
    store = SqlMetadataStore(f"sqlite:///{tmp_path / 'reg.db'}")
    return FileSystemModelRegistry(root, store, now=_Clock())


def test_register_when_new_model_then_version_1_candidate_with_all_metadata(
    registry: FileSystemModelRegistry, tmp_path: Path
) -> None:
    mv = _register(registry, tmp_path)
    assert (mv.name, mv.version, mv.status) == ("m", 1, ModelStatus.candidate)
    assert (Path(mv.path) / "model.zip").read_bytes() == b"zip"
    meta = json.loads((Path(mv.path) / "metadata.json").read_text())
    for key in ("algo", "hyperparams", "data_hash", "env_config", "seed", "library_versions",
                "metrics", "created_at"):
        assert key in meta
    got = registry.get("m", 1)
    assert got == mv
    assert got.hyperparams["net_arch"] == [64, 64]
    assert got.env_config["fill_at"] == "next_open"


def test_register_when_same_name_again_then_next_version(
    registry: FileSystemModelRegistry, tmp_path: Path
) -> None:
    assert [_register(registry, tmp_path).version for _ in range(3)] == [1, 2, 3]
    _register(registry, tmp_path, name="other")
    assert [(v.name, v.version) for v in registry.list()] == [
        ("m", 1), ("m", 2), ("m", 3), ("other", 1)
    ]
    assert registry.get("m").version == 3  # no production: latest


def test_promote_when_another_in_production_then_previous_archived(
    registry: FileSystemModelRegistry, tmp_path: Path
) -> None:
    for _ in range(3):
        _register(registry, tmp_path)
    registry.promote("m", 1)
    registry.promote("m", 2)
    status = {v.version: v.status for v in registry.list("m")}
    assert status == {1: ModelStatus.archived, 2: ModelStatus.production,
                      3: ModelStatus.candidate}
    assert registry.get("m").version == 2  # production wins over latest
    assert registry.get("m", 2).promoted_at is not None


def test_rollback_when_promoted_twice_then_walks_back_history(
    registry: FileSystemModelRegistry, tmp_path: Path
) -> None:
    for _ in range(3):
        _register(registry, tmp_path)
    for v in (1, 2, 3):
        registry.promote("m", v)
    assert registry.rollback("m").version == 2
    assert registry.get("m").version == 2
    assert registry.rollback("m").version == 1
    with pytest.raises(RegistryError, match="no earlier promoted version"):
        registry.rollback("m")


def test_rollback_when_no_production_then_error(
    registry: FileSystemModelRegistry, tmp_path: Path
) -> None:
    _register(registry, tmp_path)
    with pytest.raises(RegistryError, match="no production version"):
        registry.rollback("m")


def test_get_when_unknown_name_or_version_then_model_not_found(
    registry: FileSystemModelRegistry, tmp_path: Path
) -> None:
    _register(registry, tmp_path)
    with pytest.raises(ModelNotFoundError, match="no model named 'x'"):
        registry.get("x")
    with pytest.raises(ModelNotFoundError, match=r"m@9 is not registered \(versions: 1\)"):
        registry.get("m", 9)


def test_check_env_config_when_fields_differ_then_error_names_each_field(
    tmp_path: Path,
) -> None:
    reg = _registries(tmp_path)[0]
    mv = _register(reg, tmp_path)
    same_but_sampling = env_config_json(EnvConfig(episode_length=None, random_start=False))
    check_env_config(mv, same_but_sampling)  # sampling fields may differ
    other = env_config_json(
        attrs.evolve(EnvConfig(), fill_at="close", costs=attrs.evolve(
            EnvConfig().costs, commission_bps=20.0))
    )
    with pytest.raises(IncompatibleEnvConfigError) as exc:
        check_env_config(mv, other)
    msg = str(exc.value)
    assert "m@1" in msg
    assert "fill_at: trained 'next_open', given 'close'" in msg
    assert "costs.commission_bps: trained 10.0, given 20.0" in msg
    features = env_config_json(EnvConfig())
    features["observation_features"] = features["observation_features"][:-1]
    with pytest.raises(IncompatibleEnvConfigError, match="observation_features"):
        check_env_config(mv, features)


def test_env_config_json_when_round_tripped_then_equal() -> None:
    cfg = EnvConfig(fill_at="next_close", episode_length=100, initial_balance=5e4)
    assert env_config_from_json(json.loads(json.dumps(env_config_json(cfg)))) == cfg


@pytest.mark.parametrize(
    ("ref", "expected"),
    [("ppo", ("ppo", None)), ("ppo-1.x@3", ("ppo-1.x", 3))],
)
def test_parse_model_ref_when_valid_then_name_and_version(
    ref: str, expected: tuple[str, int | None]
) -> None:
    assert parse_model_ref(ref) == expected


@pytest.mark.parametrize("ref", ["", "a@", "a@0", "a@x", "../etc", "a b"])
def test_parse_model_ref_when_invalid_then_value_error(ref: str) -> None:
    with pytest.raises(ValueError):
        parse_model_ref(ref)


def test_ensemble_weights_when_each_scheme_then_normalised() -> None:
    assert ensemble_weights([1.0, 3.0]) == [0.25, 0.75]
    assert ensemble_weights([-1.0, 2.0]) == [0.0, 1.0]
    assert ensemble_weights([-1.0, -2.0]) == [0.5, 0.5]  # nobody positive: equal
    assert ensemble_weights([1.0, 2.0, 3.0], "equal") == pytest.approx([1 / 3] * 3)
    soft = ensemble_weights([0.0, 1.0], "softmax", temperature=1.0)
    assert soft[1] / soft[0] == pytest.approx(2.718281828)
    with pytest.raises(ValueError, match="weighting"):
        ensemble_weights([1.0], "best")  # type: ignore[arg-type]


class _Const:
    def __init__(self, a: float) -> None:
        self.a = a
        self.resets = 0

    def reset(self) -> None:
        self.resets += 1

    def act(self, obs: Any) -> Any:
        import numpy as np

        return np.array([self.a], dtype=np.float32)


def test_ensemble_agent_when_weighted_then_weighted_mean_of_actions() -> None:
    import numpy as np

    members = [_Const(1.0), _Const(-0.5)]
    ens = EnsembleAgent(members, [3.0, 1.0])
    assert ens.act(np.zeros(33, np.float32))[0] == pytest.approx(0.75 - 0.125)
    ens.reset()
    assert [m.resets for m in members] == [1, 1]
    with pytest.raises(ValueError, match="weights"):
        EnsembleAgent(members, [0.0, 0.0])


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u:p@h:5432/db", "postgresql+psycopg://u:p@h:5432/db"),
        ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
    ],
)
def test_normalise_storage_url_when_postgres_then_psycopg_driver(url: str, expected: str) -> None:
    assert normalise_storage_url(url) == expected


def test_normalise_storage_url_when_bare_path_then_sqlite_and_dir_created(tmp_path: Path) -> None:
    url = normalise_storage_url(str(tmp_path / "sub" / "o.db"))
    assert url == f"sqlite:///{tmp_path / 'sub' / 'o.db'}"
    assert (tmp_path / "sub").is_dir()


def test_sql_store_when_postgres_then_same_behaviour(
    postgresql_url: str, tmp_path: Path
) -> None:
    reg = FileSystemModelRegistry(tmp_path / "m", SqlMetadataStore(postgresql_url), now=_Clock())
    for _ in range(2):
        _register(reg, tmp_path)
    reg.promote("m", 2)
    other = FileSystemModelRegistry(tmp_path / "m", SqlMetadataStore(postgresql_url))
    assert [(v.version, v.status) for v in other.list("m")] == [
        (1, ModelStatus.candidate), (2, ModelStatus.production)
    ]
    assert other.get("m").hyperparams == {"learning_rate": 3e-4, "net_arch": [64, 64]}



