"""One way to show values: the tables' cells and the ``--json`` schema.

Tables:

- money (P&L, cash, equity, prices) with thousands separators and two decimals;
- fractions (returns, drawdowns, win rates, volatility) as percentages, in every view;
- an infinite ratio (``profit_factor`` with no losing trade) as ``∞``, a missing or undefined
  value as an empty cell, never ``None``, ``inf`` or ``nan``;
- times as ``YYYY-MM-DD`` (``YYYY-MM-DD HH:MM`` when not the session's close);
- short column headers, and when the table is still wider than the terminal the least
  useful columns are dropped (``--json`` always has every field).

JSON (docs/trading.md, "JSON output"): money and quantities as decimal strings, other
numbers as JSON numbers, missing or undefined values as ``null``, times in ISO 8601.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

__all__ = [
    "HEADERS",
    "cell",
    "fit_table",
    "is_money",
    "is_percent",
    "json_row",
    "json_value",
]

#: keys whose value is a fraction shown as a percentage
_PERCENT = ("return", "drawdown", "win_rate", "volatility", "_pct")
#: keys whose value is money (or a price)
_MONEY = ("pnl", "price", "cash", "equity", "market_value", "commission", "expectancy",
          "avg_win", "avg_loss", "stop_loss", "take_profit", "trailing_stop", "notional")
#: keys that are counts or ratios though a money word is part of their name
_NOT_MONEY = ("trades", "days", "wins", "losses", "sharpe", "sortino", "calmar",
              "profit_factor", "pnl_pct", "max_drawdown_pct")

#: short table headers (``--json`` keeps the full field names)
HEADERS = {
    "quantity": "qty", "entry_price": "entry", "exit_price": "exit", "opened_at": "opened",
    "closed_at": "closed", "exit_reason": "reason", "realized_pnl": "pnl",
    "avg_entry_price": "entry", "last_price": "last", "unrealized_pnl": "unreal. pnl",
    "stop_loss": "stop", "take_profit": "target", "trailing_stop": "trail",
    "client_order_id": "order id", "filled_qty": "filled", "avg_fill_price": "fill price",
    "created_at": "created", "period_start": "period", "total_return": "return",
    "max_drawdown": "max dd", "win_rate": "win rate", "profit_factor": "PF",
    "started_at": "started", "finished_at": "finished", "open_positions": "open",
}


def is_percent(key: str) -> bool:
    """Return whether ``key`` holds a fraction shown as a percentage."""
    return any(k in key for k in _PERCENT)


def is_money(key: str) -> bool:
    """Return whether ``key`` holds money or a price (a decimal string in JSON)."""
    if key in _NOT_MONEY or is_percent(key):
        return False
    return any(k in key for k in _MONEY)


def _missing(v: object) -> bool:
    if v is None or (isinstance(v, str) and v.strip().lower() in ("", "none", "nan", "null")):
        return True
    return isinstance(v, float | Decimal) and math.isnan(v)


def _number(v: object) -> Decimal | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, Decimal):
        return v
    if isinstance(v, int | float):
        return Decimal(repr(v)) if isinstance(v, float) and math.isfinite(v) else (
            Decimal(v) if isinstance(v, int) else None)
    if isinstance(v, str):
        try:
            return Decimal(v)
        except InvalidOperation:
            return None
    return None


def _infinite(v: object) -> int:
    if isinstance(v, float | Decimal) and not isinstance(v, bool):
        if v == math.inf:
            return 1
        if v == -math.inf:
            return -1
    if isinstance(v, str) and v.strip().lower() in ("inf", "infinity", "+inf"):
        return 1
    if isinstance(v, str) and v.strip().lower() in ("-inf", "-infinity"):
        return -1
    return 0


def _time(raw: datetime | str) -> str:
    if isinstance(raw, datetime):
        v = raw
    else:
        try:
            v = datetime.fromisoformat(raw)
        except ValueError:
            return raw
    if (v.hour, v.minute, v.second) in ((0, 0, 0), (21, 0, 0), (20, 0, 0)):
        return v.date().isoformat()  # midnight or the New York close: a daily bar
    return v.strftime("%Y-%m-%d %H:%M")


def cell(key: str, v: object) -> str:
    """Return the table cell of field ``key`` holding ``v``."""
    if _missing(v):
        return ""
    inf = _infinite(v)
    if inf:
        return "∞" if inf > 0 else "-∞"
    if isinstance(v, datetime) or (isinstance(v, str) and key.endswith(("_at", "_ts"))):
        return _time(v)
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, dict):
        return ", ".join(f"{a}={b}" for a, b in v.items())
    if isinstance(v, bool) or isinstance(v, int) and not is_money(key):
        return str(v)
    n = _number(v)
    if n is None:
        return str(v)
    if is_percent(key):
        pct = f"{float(n):+.2%}" if "return" in key else f"{float(n):.2%}"
        return pct
    if is_money(key):
        return f"{n:,.2f}"
    if key in ("quantity", "filled_qty", "qty"):
        return f"{n.normalize():f}" if n == n.to_integral_value() else f"{n:f}"
    if isinstance(v, float):
        return f"{v:,.2f}"
    return str(v)


def json_value(key: str, v: object) -> Any:
    """Return field ``key``'s value for ``--json``: money as a decimal string, other numbers as
    numbers, missing or undefined as null."""
    if _missing(v) or _infinite(v):
        return None
    if isinstance(v, dict):  # a breakdown (e.g. exit reason -> count): keys are not fields
        return {str(k): (int(x) if isinstance(x, str) and x.isdigit() else x)
                for k, x in v.items()}
    if isinstance(v, datetime | date):
        return v.isoformat()
    if isinstance(v, bool) or isinstance(v, int) and not is_money(key):
        return v
    n = _number(v)
    if n is None:
        return v if isinstance(v, str | int | float) else str(v)
    if is_money(key) or key in ("quantity", "filled_qty"):
        return str(n.quantize(Decimal("0.01"))) if isinstance(v, float) else str(n)
    if isinstance(v, str):
        return v
    return float(n) if isinstance(v, float | Decimal) else v


def json_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``row`` with every value as :func:`json_value` gives it."""
    return {k: json_value(k, v) for k, v in row.items()}


def fit_table(console: Console, title: str, rows: Sequence[Mapping[str, Any]],
              cols: Sequence[str], optional: Iterable[str] = (),
              right: Iterable[str] = ()) -> Table:
    """Return a table of ``cols`` that fits ``console``'s width.

    Headers are shortened (:data:`HEADERS`) and cells formatted with :func:`cell`; while the
    table is wider than the console, the ``optional`` columns are dropped, last first.
    """
    right_set = set(right)
    drop = list(optional)
    shown = list(cols)
    while True:
        t = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
        for c in shown:
            numeric = c in right_set or any(_number(r.get(c)) is not None
                                            and not isinstance(r.get(c), bool)
                                            for r in rows[:5])
            t.add_column(HEADERS.get(c, c), justify="right" if numeric else "left",
                         no_wrap=True)
        for r in rows:
            t.add_row(*(cell(c, r.get(c)) for c in shown))
        if not drop or _natural_width(t) <= console.width:
            return t
        shown.remove(drop.pop())


def _natural_width(table: Table) -> int:
    """Return the width ``table`` takes when nothing limits it."""
    wide = Console(width=10_000, file=io.StringIO(), color_system=None)
    with wide.capture() as cap:
        wide.print(table)
    return max((len(line) for line in cap.get().splitlines()), default=0)
