"""Read catalyst alerts in the project's JSONL format (one JSON object per line)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from domain.alerts import Alert
from domain.errors import InvalidInput

__all__ = ["REQUIRED_ALERT_FIELDS", "AlertFileError", "alert_from_dict", "read_alerts"]

#: Fields every alert must carry, with what each must hold.
REQUIRED_ALERT_FIELDS = {
    "id": "a non-empty string",
    "ticker": "a ticker symbol string",
    "known_at": "an ISO-8601 time with a UTC offset, e.g. 2024-01-02T14:30:00Z",
    "score": "a number in [0, 1]",
}


class AlertFileError(ValueError):
    """An alert file has a line that is not a valid alert; names the file and line."""


class MissingAlertField(ValueError):
    """A decoded alert lacks a required field; names it and what it must hold."""

    def __init__(self, field: str) -> None:
        self.field = field
        super().__init__(
            f"missing field {field!r} (expected {REQUIRED_ALERT_FIELDS[field]})"
        )


def _parse_time(v: Any) -> datetime:
    if isinstance(v, datetime):
        return v
    s = str(v).strip()
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    return datetime.fromisoformat(s)


def alert_from_dict(d: dict[str, Any]) -> Alert:
    """Build an :class:`Alert` from one decoded JSON object.

    Raises
    ------
    ValueError
        ``missing field 'id' (expected a non-empty string)`` for a missing required field
        (:data:`REQUIRED_ALERT_FIELDS`), :class:`domain.errors.InvalidInput` for a bad value.
    """
    if not isinstance(d, dict):
        raise ValueError(f"expected a JSON object, got {type(d).__name__}")
    for name in REQUIRED_ALERT_FIELDS:
        if d.get(name) is None:
            raise MissingAlertField(name)
    return Alert(
        id=d["id"],
        ticker=d["ticker"],
        known_at=_parse_time(d["known_at"]),
        catalyst_type=d.get("catalyst_type", "other"),
        score=d["score"],
        sentiment=d.get("sentiment", 0.0),
        headline=str(d.get("headline", "")),
        source=str(d.get("source", "")),
        data=d.get("data") or {},
    )


def read_alerts(paths: Path | str | Iterable[Path | str]) -> list[Alert]:
    """Read alerts from one or more JSONL files, sorted by ``known_at`` then id.

    Parameters
    ----------
    paths
        A file, a folder (every ``*.jsonl`` in it) or several of these.

    Returns
    -------
    list of Alert
        De-duplicated by ``id`` (the first occurrence wins).

    Raises
    ------
    AlertFileError
        Naming the file and line of the first invalid alert.
    """
    items = [paths] if isinstance(paths, str | Path) else list(paths)
    files: list[Path] = []
    for p in map(Path, items):
        files.extend(sorted(p.glob("*.jsonl")) if p.is_dir() else [p])
    seen: set[str] = set()
    out: list[Alert] = []
    for f in files:
        with f.open(encoding="utf-8") as fh:
            for no, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as e:
                    raise AlertFileError(
                        f"{f}:{no}: alert line {no} is not JSON: {e.msg} at column {e.colno}"
                    ) from e
                try:
                    a = alert_from_dict(obj)
                except (InvalidInput, ValueError, TypeError) as e:
                    raise AlertFileError(f"{f}:{no}: alert line {no}: {e}") from e
                if a.id not in seen:
                    seen.add(a.id)
                    out.append(a)
    out.sort(key=lambda a: (a.known_at, a.id))
    return out
