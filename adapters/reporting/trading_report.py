"""The trading report: equity curve and drawdown plots (PNG), an HTML page with the metrics
and the trade list, the trades as CSV and the metrics as JSON.

Matplotlib runs headless (Agg); the PNG is embedded in the HTML (base64) so the page is a
single self-contained file, and also written beside it.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from domain.audit import PortfolioSnapshot
from domain.position import ClosedPosition

__all__ = ["TRADE_COLUMNS", "ReportFiles", "trade_rows", "write_report", "write_trades_csv"]

TRADE_COLUMNS = (
    "position_id", "ticker", "side", "quantity", "entry_price", "exit_price", "opened_at",
    "closed_at", "exit_reason", "realized_pnl", "realized_pnl_pct", "commission",
    "max_unrealized_pnl", "min_unrealized_pnl", "max_drawdown_pct", "stop_loss", "take_profit",
    "strategy", "signal_id", "signal_confidence", "catalyst_score", "entry_order_id",
    "exit_order_id",
)


@attrs.frozen
class ReportFiles:
    """Paths of what :func:`write_report` wrote."""

    html: Path
    png: Path
    trades_csv: Path
    metrics_json: Path


def trade_rows(closed: Sequence[ClosedPosition]) -> list[dict[str, Any]]:
    """Return closed positions as flat rows (strings for money, ISO times)."""
    rows = []
    for c in closed:
        d: dict[str, Any] = {}
        for col in TRADE_COLUMNS:
            v = getattr(c, col)
            if hasattr(v, "isoformat"):
                v = v.isoformat()
            elif hasattr(v, "value"):
                v = v.value
            elif v is not None and not isinstance(v, str | int | float):
                v = str(v)
            d[col] = v
        rows.append(d)
    return rows


def write_trades_csv(closed: Sequence[ClosedPosition], path: Path) -> Path:
    """Write the trade list as CSV."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(TRADE_COLUMNS))
        w.writeheader()
        w.writerows(trade_rows(closed))
    return path


def _plot(snapshots: Sequence[PortfolioSnapshot], title: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    ts = [s.ts for s in snapshots]
    eq = np.array([float(s.equity) for s in snapshots], dtype=float)
    peak = np.maximum.accumulate(eq) if eq.size else eq
    dd = (eq / peak - 1.0) * 100 if eq.size else eq
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 6), sharex=True,
                                   gridspec_kw={"height_ratios": [3, 1.3]})
    ax1.plot(ts, eq, color="#1f77b4", lw=1.2)
    ax1.set_title(title)
    ax1.set_ylabel("equity ($)")
    ax1.grid(alpha=0.3)
    ax2.fill_between(ts, dd, 0, color="#d62728", alpha=0.5, step="post")
    ax2.set_ylabel("drawdown (%)")
    ax2.grid(alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:,.4f}"
    if isinstance(v, dict):
        return ", ".join(f"{k}: {x}" for k, x in v.items())
    return "" if v is None else str(v)


def write_report(
    out_dir: str | Path,
    *,
    run_id: str,
    snapshots: Sequence[PortfolioSnapshot],
    closed: Sequence[ClosedPosition],
    metrics: Mapping[str, Any],
    extra: Mapping[str, Any] | None = None,
    notices: Sequence[str] = (),
) -> ReportFiles:
    """Write ``report.html``, ``equity.png``, ``trades.csv`` and ``metrics.json`` into
    ``out_dir``.

    ``notices`` are what the reader must not miss (a latched circuit breaker, bad input, the
    costs used): shown at the top of the page and kept in ``metrics.json``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    png = _plot(snapshots, f"Catalyst Trader - run {run_id}")
    png_path = out / "equity.png"
    png_path.write_bytes(png)
    csv_path = write_trades_csv(closed, out / "trades.csv")
    json_path = out / "metrics.json"
    json_path.write_text(json.dumps({"run_id": run_id, "metrics": dict(metrics),
                                     **dict(extra or {}), "notices": list(notices)},
                                    indent=2, default=str) + "\n",
                         encoding="utf-8")
    esc = html.escape
    mrows = "".join(f"<tr><th>{esc(str(k))}</th><td>{esc(_fmt(v))}</td></tr>"
                    for k, v in metrics.items())
    shown = dict(extra or {})
    breaker = shown.get("breaker")
    trips: list[Mapping[str, Any]] = []
    if isinstance(breaker, Mapping):  # the trips get their own table below
        trips = list(breaker.get("trips") or [])
        shown["breaker"] = {k: v for k, v in breaker.items() if k != "trips"}
    xrows = "".join(f"<tr><th>{esc(str(k))}</th><td>{esc(_fmt(v))}</td></tr>"
                    for k, v in shown.items())
    trip_rows = "".join(
        "<tr>" + "".join(f"<td>{esc(_fmt(t.get(c)))}</td>" for c in ("at", "rule", "to",
                                                                     "message")) + "</tr>"
        for t in trips)
    trips_html = (f"<h2>Circuit breaker trips ({len(trips)})</h2><table><tr><th>at</th>"
                  f"<th>rule</th><th>to</th><th>message</th></tr>{trip_rows}</table>"
                  if trips else "")
    nrows = "".join(f"<li>{esc(n)}</li>" for n in notices)
    note_html = f'<h2>Notices</h2><ul class="notices">{nrows}</ul>' if notices else ""
    cols = ("ticker", "side", "quantity", "entry_price", "exit_price", "opened_at", "closed_at",
            "exit_reason", "realized_pnl", "realized_pnl_pct", "commission", "signal_id")
    head = "".join(f"<th>{c}</th>" for c in cols)
    body = "".join(
        "<tr>" + "".join(f"<td>{esc(_fmt(r[c]))}</td>" for c in cols) + "</tr>"
        for r in trade_rows(closed)
    )
    b64 = base64.b64encode(png).decode("ascii")
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Catalyst Trader report {esc(run_id)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:2px 6px;font-size:13px;text-align:left}}
.notices li{{color:#a40000;font-weight:bold}}</style></head>
<body><h1>Catalyst Trader report</h1><p>run <code>{esc(run_id)}</code></p>
{note_html}
<h2>Equity and drawdown</h2><img alt="equity curve and drawdown" src="data:image/png;base64,{b64}">
<h2>Performance (all time)</h2><table>{mrows}</table>
<h2>Run</h2><table>{xrows}</table>
{trips_html}
<h2>Trades ({len(closed)})</h2><table><tr>{head}</tr>{body}</table>
</body></html>
"""
    html_path = out / "report.html"
    html_path.write_text(page, encoding="utf-8")
    return ReportFiles(html_path, png_path, csv_path, json_path)
