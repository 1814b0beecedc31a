"""Parse one alert (a JSON object or a CSV row) and explain exactly why a bad one is bad."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from typing import Any

import attrs

from adapters.data.alerts import REQUIRED_ALERT_FIELDS, alert_from_dict
from domain.alerts import Alert
from domain.errors import InvalidInput

__all__ = ["EARLIEST_KNOWN_AT", "MAX_DEPTH", "MAX_LINE_BYTES", "MAX_NUMBER_CHARS",
           "REQUIRED_FIELDS", "AlertIssue", "IssueLog", "loads_bounded", "parse_alert_dict",
           "parse_json_line"]

#: Longest alert line accepted; longer lines are skipped without being held in memory.
MAX_LINE_BYTES = 64 * 1024
#: Deepest nesting of arrays and objects accepted in one JSON document.
MAX_DEPTH = 32
#: Longest number literal accepted (digits, sign, point and exponent).
MAX_NUMBER_CHARS = 40
#: Alerts known before this are refused as stale (a placeholder date such as 1900 or 0001).
EARLIEST_KNOWN_AT = datetime(1970, 1, 1, tzinfo=UTC)
_BOM = "\ufeff"
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
    try:
        return _parse_alert_dict(d, known_tickers=known_tickers, not_after=not_after)
    except (OverflowError, RecursionError, ArithmeticError) as exc:
        raise ValueError(f"invalid value: {type(exc).__name__}: {str(exc)[:200]}") from None


def _parse_alert_dict(
    d: Any,
    *,
    known_tickers: Collection[str] | None = None,
    not_after: datetime | None = None,
) -> Alert:
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
        if isinstance(v, int) and not isinstance(v, bool) and abs(v) > 10**15:
            raise ValueError(f"field {f}={str(v)[:20]}...: expected a number of sensible size")
        if isinstance(v, str):
            try:
                d = {**d, f: float(v)}
            except ValueError:
                raise ValueError(f"field {f}={v!r}: expected a number") from None
            if math.isnan(d[f]) or math.isinf(d[f]):
                raise ValueError(f"field {f}={v[:40]}: expected a finite number")
    try:
        alert = alert_from_dict(d)
    except InvalidInput as exc:
        raise ValueError(str(exc)) from None
    except (TypeError, ValueError) as exc:
        raise ValueError(f"invalid value: {exc}") from None
    if known_tickers is not None and alert.ticker not in known_tickers:
        raise ValueError(f"unknown ticker {alert.ticker!r}: no price data for it")
    if alert.known_at < EARLIEST_KNOWN_AT:
        raise ValueError(
            f"stale timestamp known_at={alert.known_at.isoformat()} is before "
            f"{EARLIEST_KNOWN_AT.date().isoformat()}: a placeholder date, not news"
        )
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
    obj = loads_bounded(text.removeprefix(_BOM))
    return parse_alert_dict(obj, known_tickers=known_tickers, not_after=not_after)


def _number(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(literal: str) -> Any:
        if len(literal) > MAX_NUMBER_CHARS:
            raise ValueError(f"number too long ({len(literal)} characters, at most "
                             f"{MAX_NUMBER_CHARS}): {literal[:20]}...")
        return kind(literal)
    return parse


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name}: expected a finite number")


def _depth(text: str) -> int:
    """Return the deepest nesting of ``[`` and ``{`` outside strings."""
    deepest = depth = 0
    in_str = escaped = False
    for ch in text:
        if in_str:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def loads_bounded(text: str | bytes, *, max_bytes: int = MAX_LINE_BYTES,
                  max_depth: int = MAX_DEPTH) -> Any:
    """Decode one JSON document within bounds, or raise ``ValueError`` saying which.

    Bounded: its size (``max_bytes``), its nesting (``max_depth``), the length of each number
    literal (:data:`MAX_NUMBER_CHARS`: a 400-digit integer cannot overflow a float later);
    ``NaN`` and ``Infinity`` are refused. Nothing else (no ``RecursionError``, no
    ``OverflowError``) escapes.
    """
    if isinstance(text, bytes):
        if len(text) > max_bytes:
            raise ValueError(f"document too large ({len(text)} bytes, at most {max_bytes})")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"not UTF-8: {exc.reason} at byte {exc.start}") from None
    elif len(text) > max_bytes:
        raise ValueError(f"document too large ({len(text)} characters, at most {max_bytes})")
    text = text.removeprefix(_BOM)
    depth = _depth(text)
    if depth > max_depth:
        raise ValueError(f"nested too deep ({depth} levels, at most {max_depth})")
    try:
        return json.loads(text, parse_int=_number(int), parse_float=_number(float),
                          parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise ValueError(f"bad JSON: {exc.msg} at column {exc.colno}") from None
    except (RecursionError, OverflowError) as exc:  # defensive: the bounds above prevent it
        raise ValueError(f"bad JSON: {type(exc).__name__}") from None
