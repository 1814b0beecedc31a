"""A Parquet cache keyed by the hash of the content that produced each entry."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["ParquetCache", "content_hash", "file_hash"]

_CHUNK = 1 << 20


def file_hash(path: str | Path) -> str:
    """Return the SHA-256 of a file's bytes (hex)."""
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def content_hash(*parts: Any) -> str:
    """Return a SHA-256 (hex) over ``parts``: bytes, strings, paths (their bytes) or JSON."""
    h = hashlib.sha256()
    for p in parts:
        if isinstance(p, bytes):
            b = p
        elif isinstance(p, Path):
            b = file_hash(p).encode()
        elif isinstance(p, str):
            b = p.encode()
        else:
            b = json.dumps(p, sort_keys=True, default=str).encode()
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()


class ParquetCache:
    """Frames stored as ``<root>/<kind>-<hash[:20]>.parquet``.

    The key is the hash of everything the frame was built from (input file bytes, the
    code version and the parameters), so a changed input is a different entry and a
    cached entry is never stale. Writes go to a temporary file renamed into place, so a
    crash never leaves a half-written entry.

    Parameters
    ----------
    root
        Cache folder (created on first write); the CLI passes the settings' ``cache_dir``
        (``cache/`` under ``CATALYST_HOME``).
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, kind: str, key: str) -> Path:
        """Return where the entry ``kind``/``key`` lives."""
        return self.root / f"{kind}-{key[:20]}.parquet"

    def get(self, kind: str, key: str) -> pd.DataFrame | None:
        """Return the cached frame, or None."""
        p = self.path(kind, key)
        return pd.read_parquet(p) if p.exists() else None

    def put(self, kind: str, key: str, df: pd.DataFrame) -> Path:
        """Store ``df`` and return its path."""
        p = self.path(kind, key)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_suffix(f".tmp{os.getpid()}")
        df.to_parquet(tmp, index=False)
        tmp.replace(p)
        return p

    def get_or_build(
        self, kind: str, key: str, build: Callable[[], pd.DataFrame]
    ) -> tuple[pd.DataFrame, bool]:
        """Return ``(frame, hit)``: the cached frame, or ``build()`` stored and returned."""
        cached = self.get(kind, key)
        if cached is not None:
            return cached, True
        df = build()
        self.put(kind, key, df)
        return df, False
