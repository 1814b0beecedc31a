"""Walk-forward stores: a JSON directory (resumable across processes) and an in-memory one."""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from domain.validation.jobs import WindowResult

__all__ = ["DEFAULT_WALK_FORWARD_DIR", "JsonWalkForwardStore", "MemoryWalkForwardStore"]

DEFAULT_WALK_FORWARD_DIR = Path("var/walk_forward")


def _atomic_write(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, allow_nan=False, default=_json_default)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _json_default(v: Any) -> Any:
    raise TypeError(f"not JSON-able: {type(v).__name__}")


def _finite(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_finite(x) for x in v]
    return v


def _restore(v: Any) -> Any:
    if v is None:
        return float("nan")
    if isinstance(v, dict):
        return {k: _restore(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_restore(x) for x in v]
    return v


class JsonWalkForwardStore:
    """``<root>/<run key>/window-<i>.json`` per finished window and ``report.json``."""

    def __init__(self, root: Path | str = DEFAULT_WALK_FORWARD_DIR) -> None:
        self.root = Path(root)

    def finished(self, run_key: str) -> dict[int, WindowResult]:
        """Return the windows already stored for ``run_key``."""
        out: dict[int, WindowResult] = {}
        for p in sorted((self.root / run_key).glob("window-*.json")):
            r = WindowResult.from_json(_restore(json.loads(p.read_text())))
            out[r.index] = r
        return out

    def save_window(self, run_key: str, result: WindowResult) -> None:
        """Write one window atomically (a crash leaves it absent, never half-written)."""
        _atomic_write(self.root / run_key / f"window-{result.index}.json", _finite(result.to_json()))

    def save_run(self, run_key: str, report: Mapping[str, Any]) -> None:
        """Write the run's report."""
        _atomic_write(self.root / run_key / "report.json", _finite(dict(report)))


class MemoryWalkForwardStore:
    """Keeps everything in dictionaries (tests, and runs that need no resume)."""

    def __init__(self) -> None:
        self.windows: dict[str, dict[int, WindowResult]] = {}
        self.reports: dict[str, dict[str, Any]] = {}

    def finished(self, run_key: str) -> dict[int, WindowResult]:
        """Return the windows stored for ``run_key``."""
        return dict(self.windows.get(run_key, {}))

    def save_window(self, run_key: str, result: WindowResult) -> None:
        """Keep one window."""
        self.windows.setdefault(run_key, {})[result.index] = result

    def save_run(self, run_key: str, report: Mapping[str, Any]) -> None:
        """Keep the report."""
        self.reports[run_key] = dict(report)
