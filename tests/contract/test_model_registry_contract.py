"""ModelRegistry contract (:class:`application.ports.ModelRegistry`): numbered cases MR-...

Runs :class:`FileSystemModelRegistry` with each metadata store: ``json`` (``metadata.json``
files), ``sqlite`` and ``postgres`` (the ``model_versions`` table). Each database is migrated
once per module and emptied after every case. No training: the artifact is a small file.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete
from sqlalchemy.engine import Engine

from adapters.rl.registry import FileSystemModelRegistry, JsonMetadataStore, SqlMetadataStore
from adapters.sqlalchemy import make_engine
from adapters.sqlalchemy.tables import model_versions
from domain.rl.models import ModelNotFoundError, ModelStatus, ModelVersion, RegistryError


class _Clock:
    """A clock that ticks one minute per reading."""

    def __init__(self) -> None:
        self.t = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.t += timedelta(minutes=1)
        return self.t


@pytest.fixture(scope="module")
def sqlite_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    eng = make_engine(f"sqlite:///{tmp_path_factory.mktemp('mr') / 'registry.db'}")
    yield eng
    eng.dispose()


@pytest.fixture(scope="module")
def postgres_engine(postgresql_server: Any) -> Iterator[Engine]:
    postgresql_server.admin('CREATE DATABASE "mr_contract" TEMPLATE template0')
    eng = make_engine(postgresql_server.url("mr_contract"))
    yield eng
    eng.dispose()


class RegistryHarness:
    """A registry and a factory of a second registry over the same root and store."""

    def __init__(self, make: Callable[[], FileSystemModelRegistry], tmp: Path) -> None:
        self.make = make
        self.registry = make()
        self.tmp = tmp

    def artifact(self, content: bytes = b"zip-bytes", name: str = "model.zip") -> Path:
        p = self.tmp / "src" / name
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(content)
        return p

    def register(self, name: str = "m", artifact: Path | None = None,
                 **kw: Any) -> ModelVersion:
        args: dict[str, Any] = {
            "hyperparams": {"learning_rate": 3e-4, "net_arch": [64, 64]},
            "data_hash": "sha256:abc",
            "env_config": {"episode_length": 252, "fill_at": "next_open"},
            "seed": 7,
            "library_versions": {"torch": "2.13.0"},
            "metrics": {"validation": {"sharpe": 1.5}},
        }
        args.update(kw)
        return self.registry.register(name, "ppo", str(artifact or self.artifact()), **args)


@pytest.fixture(params=["json", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def h(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RegistryHarness]:
    root = tmp_path / "models"
    clock = _Clock()
    if request.param == "json":
        yield RegistryHarness(lambda: FileSystemModelRegistry(root, JsonMetadataStore(root),
                                                              now=clock), tmp_path)
        return
    eng: Engine = request.getfixturevalue(f"{request.param}_engine")
    try:
        yield RegistryHarness(lambda: FileSystemModelRegistry(root, SqlMetadataStore(eng),
                                                              now=clock), tmp_path)
    finally:
        with eng.begin() as conn:
            conn.execute(delete(model_versions))


def test_mr01_register_stores_version_1_candidate_with_all_metadata(h: RegistryHarness) -> None:
    mv = h.register()
    assert (mv.name, mv.version, mv.algo, mv.status) == ("m", 1, "ppo", ModelStatus.candidate)
    assert (Path(mv.path) / "model.zip").read_bytes() == b"zip-bytes"
    assert mv.hyperparams == {"learning_rate": 3e-4, "net_arch": [64, 64]}
    assert (mv.data_hash, mv.seed) == ("sha256:abc", 7)
    assert mv.library_versions == {"torch": "2.13.0"}
    assert mv.metrics == {"validation": {"sharpe": 1.5}}
    assert mv.created_at.utcoffset() == timedelta(0) and mv.promoted_at is None
    assert h.registry.get("m", 1) == mv


def test_mr02_versions_count_up_per_name(h: RegistryHarness) -> None:
    assert [h.register().version for _ in range(3)] == [1, 2, 3]
    assert h.register("other").version == 1
    assert h.register().version == 4


def test_mr03_a_directory_artifact_is_copied_whole(h: RegistryHarness) -> None:
    d = h.tmp / "ensemble"
    d.mkdir()
    (d / "ensemble.json").write_text('{"members": 2}')
    (d / "weights.bin").write_bytes(b"\x00\x01")
    mv = h.register(artifact=d)
    assert (Path(mv.path) / "ensemble.json").read_text() == '{"members": 2}'
    assert (Path(mv.path) / "weights.bin").read_bytes() == b"\x00\x01"


def test_mr04_the_artifact_is_a_copy_not_a_reference(h: RegistryHarness) -> None:
    src = h.artifact(b"v1")
    mv = h.register(artifact=src)
    src.write_bytes(b"changed after registration")
    assert (Path(h.registry.get("m", mv.version).path) / "model.zip").read_bytes() == b"v1"


def test_mr05_a_missing_artifact_registers_nothing(h: RegistryHarness) -> None:
    with pytest.raises(FileNotFoundError):
        h.register(artifact=h.tmp / "nope.zip")
    assert list(h.registry.list()) == []
    assert h.register().version == 1


@pytest.mark.parametrize("bad", ["", "../escape", "a/b", "-lead", "x" * 65, "sp ace"])
def test_mr06_a_bad_name_is_refused_and_nothing_is_written(h: RegistryHarness, bad: str) -> None:
    with pytest.raises(ValueError, match="model name"):
        h.register(bad)
    assert list(h.registry.list()) == []
    assert not (h.tmp / "escape").exists()


def test_mr07_get_without_version_is_production_else_latest(h: RegistryHarness) -> None:
    for _ in range(3):
        h.register()
    assert h.registry.get("m").version == 3
    h.registry.promote("m", 2)
    assert h.registry.get("m").version == 2


def test_mr08_list_orders_by_name_then_version_and_filters_by_name(h: RegistryHarness) -> None:
    h.register("zeta")
    h.register("alpha")
    h.register("zeta")
    h.register("alpha")
    assert [(v.name, v.version) for v in h.registry.list()] == [
        ("alpha", 1), ("alpha", 2), ("zeta", 1), ("zeta", 2)]
    assert [v.version for v in h.registry.list("zeta")] == [1, 2]
    assert list(h.registry.list("unknown")) == []


def test_mr09_promote_archives_the_previous_production_and_leaves_others(
    h: RegistryHarness,
) -> None:
    for _ in range(3):
        h.register()
    h.register("other")
    h.registry.promote("other", 1)
    first = h.registry.promote("m", 1)
    assert first.status is ModelStatus.production and first.promoted_at is not None
    second = h.registry.promote("m", 2)
    assert second.promoted_at is not None and second.promoted_at > first.promoted_at
    assert {v.version: v.status for v in h.registry.list("m")} == {
        1: ModelStatus.archived, 2: ModelStatus.production, 3: ModelStatus.candidate}
    assert h.registry.get("other").status is ModelStatus.production


def test_mr10_promoting_the_production_version_again_changes_nothing(
    h: RegistryHarness,
) -> None:
    h.register()
    first = h.registry.promote("m", 1)
    again = h.registry.promote("m", 1)
    assert again == first == h.registry.get("m", 1)


def test_mr11_unknown_names_and_versions_raise_model_not_found(h: RegistryHarness) -> None:
    h.register()
    for call in (lambda: h.registry.get("x"), lambda: h.registry.get("m", 9),
                 lambda: h.registry.promote("x", 1), lambda: h.registry.promote("m", 9),
                 lambda: h.registry.rollback("x")):
        with pytest.raises(ModelNotFoundError):
            call()
    with pytest.raises(KeyError):  # ModelNotFoundError is a KeyError too
        h.registry.get("m", 9)


def test_mr12_rollback_walks_back_through_promotions(h: RegistryHarness) -> None:
    for _ in range(3):
        h.register()
    for v in (1, 2, 3):
        h.registry.promote("m", v)
    back = h.registry.rollback("m")
    assert (back.version, back.status) == (2, ModelStatus.production)
    assert h.registry.get("m").version == 2
    assert h.registry.get("m", 3).status is ModelStatus.archived
    assert h.registry.rollback("m").version == 1
    with pytest.raises(RegistryError, match="no earlier promoted version"):
        h.registry.rollback("m")
    assert h.registry.get("m").version == 1  # a refused rollback changes nothing


def test_mr13_rollback_without_production_is_refused(h: RegistryHarness) -> None:
    h.register()
    with pytest.raises(RegistryError, match="no production version"):
        h.registry.rollback("m")
    assert h.registry.get("m", 1).status is ModelStatus.candidate


def test_mr14_a_second_registry_over_the_same_store_sees_everything(h: RegistryHarness) -> None:
    h.register()
    h.register()
    h.registry.promote("m", 2)
    other = h.make()
    assert [(v.version, v.status) for v in other.list("m")] == [
        (1, ModelStatus.candidate), (2, ModelStatus.production)]
    assert other.register("m", "ppo", str(h.artifact()), hyperparams={}, data_hash="h",
                          env_config={}, seed=0, library_versions={}, metrics={}).version == 3
    assert h.registry.get("m", 3).seed == 0


def test_mr15_json_metadata_round_trips_exactly(h: RegistryHarness) -> None:
    meta: dict[str, Any] = {
        "hyperparams": {"gamma": 0.99, "clip": 0.2, "schedule": [1e-3, 5e-4], "name": "Zürich"},
        "env_config": {"features": ["rsi", "macd"], "costs": {"bps": 1.5}, "short": False},
        "metrics": {"validation": {"sharpe": -0.125, "trades": 42, "note": None}},
    }
    mv = h.register(**meta)
    got = h.make().get("m", mv.version)
    assert got.hyperparams == meta["hyperparams"]
    assert got.env_config == meta["env_config"]
    assert got.metrics == meta["metrics"]
    assert got == mv


def test_mr16_a_copied_version_directory_describes_itself(h: RegistryHarness) -> None:
    mv = h.register()
    meta = json.loads((Path(mv.path) / "metadata.json").read_text())
    assert (meta["name"], meta["version"], meta["algo"]) == ("m", 1, "ppo")
    assert ModelVersion.from_json(meta) == mv
