"""Parse one alert (a JSON object or a CSV row) and explain exactly why a bad one is bad."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Collection
from datetime import datetime
from typing import Any

import attrs

from adapters.data.alerts import REQUIRED_ALERT_FIELDS, alert_from_dict
from domain.alerts import Alert
from domain.errors import InvalidInput

__all__ = ["MAX_LINE_BYTES", "REQUIRED_FIELDS", "AlertIssue", "IssueLog", "parse_alert_dict",
           "parse_json_line"]

#: Longest alert line accepted; longer lines are skipped without being held in memory.
MAX_LINE_BYTES = 64 * 1024
REQUIRED_FIELDS = tuple(REQUIRED_ALERT_FIELDS)


@attrs.frozen
class AlertIssue:
    """One skipped alert line: where it is and why it was skipped."""

    source: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.reason}"


@attrs.define
class IssueLog:
    """Issues of one feed, with counts; ``on_issue`` is told about each as it happens."""

    issues: list[AlertIssue] = attrs.field(factory=list)
    lines: int = 0
    accepted: int = 0
    on_issue: Callable[[AlertIssue], None] | None = None
    keep: int = 1000  # issues kept in memory (all are counted)
    skipped: int = 0

    def add(self, issue: AlertIssue) -> None:
        """Record ``issue``."""
        self.skipped += 1
        if len(self.issues) < self.keep:
            self.issues.append(issue)
        if self.on_issue is not None:
            self.on_issue(issue)


def parse_alert_dict(
    d: Any,
    *,
    known_tickers: Collection[str] | None = None,
    not_after: datetime | None = None,
) -> Alert:
    """Return an :class:`Alert` from a decoded object, or raise ``ValueError`` with the reason.

    Checks: an object with the required fields, valid values (no NaN), a known ticker (when
    ``known_tickers`` is given) and a ``known_at`` not after ``not_after`` (when given).
    """
    if not isinstance(d, dict):
        raise ValueError(f"expected a JSON object, got {type(d).__name__}")
    missing = [f for f in REQUIRED_FIELDS if f not in d or d[f] in (None, "")]
    if missing:
        raise ValueError(
            "missing field(s): "
            + ", ".join(f"{f} (expected {REQUIRED_ALERT_FIELDS[f]})" for f in missing)
        )
    for f in ("score", "sentiment"):
        v = d.get(f)
        if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
            raise ValueError(f"field {f}={v}: expected a finite number")
        if isinstance(v, str):
            try:
                d = {**d, f: float(v)}
            except ValueError:
                raise ValueError(f"field {f}={v!r}: expected a number") from None
            if math.isnan(d[f]) or math.isinf(d[f]):
                raise ValueError(f"field {f}={v}: expected a finite number")
    try:
        alert = alert_from_dict(d)
    except InvalidInput as exc:
        raise ValueError(str(exc)) from None
    except (TypeError, ValueError) as exc:
        raise ValueError(f"invalid value: {exc}") from None
    if known_tickers is not None and alert.ticker not in known_tickers:
        raise ValueError(f"unknown ticker {alert.ticker!r}: no price data for it")
    if not_after is not None and alert.known_at > not_after:
        raise ValueError(
            f"future timestamp known_at={alert.known_at.isoformat()} is after "
            f"{not_after.isoformat()}"
        )
    return alert


def parse_json_line(
    raw: bytes,
    *,
    known_tickers: Collection[str] | None = None,
    not_after: datetime | None = None,
) -> Alert:
    """Parse one JSONL line (bytes, without the newline); ``ValueError`` says why not."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8: {exc.reason} at byte {exc.start}") from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"bad JSON: {exc.msg} at column {exc.colno}") from None
    return parse_alert_dict(obj, known_tickers=known_tickers, not_after=not_after)
