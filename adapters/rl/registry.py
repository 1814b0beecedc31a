"""File-system model registry: artifacts under ``<root>/<name>/<version>/``, metadata in a store.

``FileSystemModelRegistry`` implements :class:`application.ports.ModelRegistry`. The model
files (``model.zip`` for SB3 models, ``ensemble.json`` for ensembles) always live on disk;
the metadata goes to a :class:`MetadataStore`:

* :class:`JsonMetadataStore` -- a ``metadata.json`` next to each artifact (no database);
* :class:`SqlMetadataStore` -- the ``model_versions`` table through SQLAlchemy (the CLI's
  default when the table exists), so several machines see one registry. A
  ``metadata.json`` is written next to the artifact as well, so a copied model directory
  is self-describing.

Version numbers are claimed by creating the version directory (``mkdir`` fails if it
exists), so two processes registering at once get different versions.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import attrs

from domain.rl.models import (
    ModelNotFoundError,
    ModelStatus,
    ModelVersion,
    plan_promotion,
    plan_rollback,
    validate_model_name,
)

__all__ = [
    "DEFAULT_MODELS_DIR",
    "FileSystemModelRegistry",
    "JsonMetadataStore",
    "MetadataStore",
    "SqlMetadataStore",
]

DEFAULT_MODELS_DIR = Path("var/models")
METADATA_FILE = "metadata.json"


class MetadataStore(Protocol):
    """Where version records live."""

    def save(self, versions: Sequence[ModelVersion]) -> None:
        """Insert or update these versions (atomically where the store can)."""
        ...

    def load(self, name: str | None = None) -> list[ModelVersion]:
        """Return all versions (of ``name``), by name then version."""
        ...


class JsonMetadataStore:
    """``metadata.json`` in each version directory under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def save(self, versions: Sequence[ModelVersion]) -> None:
        """Write each version's ``metadata.json`` (write to a temp file, then rename)."""
        for v in versions:
            _write_json(Path(v.path) / METADATA_FILE, v.to_json())

    def load(self, name: str | None = None) -> list[ModelVersion]:
        """Read every ``metadata.json`` (of one model)."""
        if not self.root.exists():
            return []
        dirs = [self.root / name] if name is not None else sorted(self.root.iterdir())
        out: list[ModelVersion] = []
        for d in dirs:
            if not d.is_dir():
                continue
            for vd in d.iterdir():
                meta = vd / METADATA_FILE
                if vd.name.isdigit() and meta.exists():
                    out.append(ModelVersion.from_json(json.loads(meta.read_text())))
        return sorted(out, key=lambda v: (v.name, v.version))


class SqlMetadataStore:
    """The ``model_versions`` table (``adapters.sqlalchemy.tables``)."""

    def __init__(self, url_or_engine: Any) -> None:
        from adapters.sqlalchemy.tables import model_versions

        if isinstance(url_or_engine, str):
            from adapters.sqlalchemy import make_engine

            url_or_engine = make_engine(url_or_engine)
        self.engine = url_or_engine
        self.table = model_versions

    def save(self, versions: Sequence[ModelVersion]) -> None:
        """Upsert the versions in one transaction (also writes ``metadata.json``)."""
        from sqlalchemy import and_, select

        t = self.table
        with self.engine.begin() as conn:
            for v in versions:
                row = _row(v)
                key = and_(t.c.name == v.name, t.c.version == v.version)
                if conn.execute(select(t.c.name).where(key)).first() is None:
                    conn.execute(t.insert().values(**row))
                else:
                    conn.execute(t.update().where(key).values(**row))
        JsonMetadataStore(Path(".")).save(versions)

    def load(self, name: str | None = None) -> list[ModelVersion]:
        """Select the versions (of ``name``)."""
        from sqlalchemy import select

        t = self.table
        q = select(t).order_by(t.c.name, t.c.version)
        if name is not None:
            q = q.where(t.c.name == name)
        with self.engine.connect() as conn:
            rows = conn.execute(q).mappings().all()
        return [_from_row(dict(r)) for r in rows]


def _row(v: ModelVersion) -> dict[str, Any]:
    d = v.to_json()
    d["created_at"] = v.created_at
    d["promoted_at"] = v.promoted_at
    return d


def _from_row(r: dict[str, Any]) -> ModelVersion:
    for k in ("created_at", "promoted_at"):
        t = r.get(k)
        if isinstance(t, datetime):
            r[k] = (t if t.tzinfo else t.replace(tzinfo=UTC)).isoformat()
    r.pop("id", None)
    return ModelVersion.from_json(r)


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str))
    tmp.replace(path)


class FileSystemModelRegistry:
    """Model files under ``root/<name>/<version>/``; metadata in ``store``.

    Parameters
    ----------
    root
        Directory of the registry (``var/models`` by default).
    store
        :class:`JsonMetadataStore` (default) or :class:`SqlMetadataStore`.
    now
        Clock for ``created_at`` / ``promoted_at`` (UTC).
    """

    def __init__(
        self,
        root: Path | str = DEFAULT_MODELS_DIR,
        store: MetadataStore | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.root = Path(root)
        self.store: MetadataStore = store or JsonMetadataStore(self.root)
        self._now = now or (lambda: datetime.now(UTC))

    def register(
        self,
        name: str,
        algo: str,
        artifact: str,
        *,
        hyperparams: dict[str, object],
        data_hash: str,
        env_config: dict[str, object],
        seed: int,
        library_versions: dict[str, str],
        metrics: dict[str, object],
    ) -> ModelVersion:
        """Copy ``artifact`` (a file, or every file of a directory) into a new version."""
        validate_model_name(name)
        src = Path(artifact)
        if not src.exists():
            raise FileNotFoundError(f"no artifact at {src}")
        base = self.root / name
        base.mkdir(parents=True, exist_ok=True)
        existing = [int(p.name) for p in base.iterdir() if p.name.isdigit()]
        version = max(existing, default=0) + 1
        while True:
            vdir = base / str(version)
            try:
                vdir.mkdir()
                break
            except FileExistsError:
                version += 1
        if src.is_dir():
            for f in src.iterdir():
                if f.is_file():
                    shutil.copy2(f, vdir / f.name)
        else:
            shutil.copy2(src, vdir / src.name)
        mv = ModelVersion(
            name=name,
            version=version,
            algo=algo,
            status=ModelStatus.candidate,
            path=str(vdir.resolve()),
            hyperparams=dict(hyperparams),
            data_hash=data_hash,
            env_config=dict(env_config),
            seed=seed,
            library_versions=dict(library_versions),
            metrics=dict(metrics),
            created_at=self._now(),
        )
        self.store.save([mv])
        return mv

    def get(self, name: str, version: int | None = None) -> ModelVersion:
        """Return ``name@version``; without a version production, else the latest."""
        versions = self.store.load(name)
        if not versions:
            raise ModelNotFoundError(f"no model named {name!r} in {self.root}")
        if version is None:
            prod = [v for v in versions if v.status is ModelStatus.production]
            return prod[0] if prod else versions[-1]
        for v in versions:
            if v.version == version:
                return v
        have = ", ".join(str(v.version) for v in versions)
        raise ModelNotFoundError(f"model {name}@{version} is not registered (versions: {have})")

    def list(self, name: str | None = None) -> Sequence[ModelVersion]:
        """Return every version, by name then version."""
        return self.store.load(name)

    def update_metrics(self, name: str, version: int, metrics: dict[str, object]) -> ModelVersion:
        """Merge ``metrics`` into a version's metrics (e.g. a later test evaluation)."""
        v = self.get(name, version)
        nv = attrs.evolve(v, metrics={**v.metrics, **metrics})
        self.store.save([nv])
        return nv

    def promote(self, name: str, version: int) -> ModelVersion:
        """Make ``version`` production; the previous production version is archived."""
        versions = self.store.load(name)
        if not versions:
            raise ModelNotFoundError(f"no model named {name!r} in {self.root}")
        changed = plan_promotion(versions, version, self._now())
        self.store.save(changed)
        return self.get(name, version)

    def rollback(self, name: str) -> ModelVersion:
        """Archive production and make the previously promoted version production."""
        versions = self.store.load(name)
        if not versions:
            raise ModelNotFoundError(f"no model named {name!r} in {self.root}")
        changed = plan_rollback(versions)
        self.store.save(changed)
        return changed[-1]
