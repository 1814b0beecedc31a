"""The trading report: a tearsheet (one self-contained HTML page), the equity curve as PNG,
the trades as CSV and the metrics as JSON.

The tearsheet puts the strategy beside its benchmark (equal-weight buy-and-hold of the run's
universe, when the run's prices are given): headline metrics as percentages, equity and
underwater plots, monthly returns and yearly table, the worst drawdowns, rolling Sharpe, the
return distribution, per-ticker results with trade markers on price, the run's parameters,
risk limits, costs and notices. The charts are the dashboard's (:mod:`adapters.reporting.charts`),
with plotly.js inline so the page works offline. The returns-based metrics are
:func:`domain.analytics.metrics.summary`'s for both columns.

Each run's folder sits in the reports folder, whose ``index.html`` lists every run's report
with a ``latest`` link (see :func:`write_index`).

Why one module: the four files of a run's report (HTML, PNG, CSV, JSON) and the reports index
are written from the same rows and metrics, with the same formatting helpers; the charts
themselves are in :mod:`adapters.reporting.charts`.
"""

from __future__ import annotations

import contextlib
import csv
import html
import json
import math
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs

from domain.audit import PortfolioSnapshot
from domain.position import ClosedPosition

__all__ = ["TRADE_COLUMNS", "ReportFiles", "trade_rows", "write_index", "write_report",
           "write_trades_csv"]

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
    from adapters.reporting.equity_png import equity_png

    return equity_png([s.ts for s in snapshots], [float(s.equity) for s in snapshots], title)


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:,.4f}"
    if isinstance(v, dict):
        return ", ".join(f"{k}: {x}" for k, x in v.items())
    return "" if v is None else str(v)


def _pct(v: Any, signed: bool = False) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a" if v is None else str(v)
    return f"{float(v):+.2%}" if signed else f"{float(v):.2%}"


def _num(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float) and not math.isfinite(v):
        return "inf" if v > 0 else "-inf"
    return f"{float(v):,.2f}"


def _dd_duration(equity: Any) -> int:
    """Longest stretch under water, in calendar days (to the last value while under)."""
    from adapters.reporting.charts import drawdown_periods

    periods = drawdown_periods(equity, top=10_000)
    return int(periods["days"].max()) if not periods.empty else 0


def _exposure(snapshots: Sequence[PortfolioSnapshot]) -> float | None:
    """Share of the steps with at least one open position (time in market)."""
    if not snapshots:
        return None
    return sum(1 for s in snapshots if s.open_positions > 0) / len(snapshots)


def _headline(metrics: Mapping[str, Any], equity: Any, bench: Any,
              snapshots: Sequence[PortfolioSnapshot]) -> list[tuple[str, str, str]]:
    from domain.analytics.metrics import summary

    b = summary(bench.to_numpy(), []) if bench is not None and len(bench) > 1 else {}
    bd = _dd_duration(bench) if bench is not None and len(bench) > 1 else None
    pf = metrics.get("profit_factor")
    return [
        ("Total return", _pct(metrics.get("total_return"), True),
         _pct(b.get("total_return"), True) if b else "n/a"),
        ("CAGR", _pct(metrics.get("annual_return"), True),
         _pct(b.get("annual_return"), True) if b else "n/a"),
        ("Sharpe", _num(metrics.get("sharpe")), _num(b.get("sharpe")) if b else "n/a"),
        ("Sortino", _num(metrics.get("sortino")), _num(b.get("sortino")) if b else "n/a"),
        ("Max drawdown", _pct(metrics.get("max_drawdown")),
         _pct(b.get("max_drawdown")) if b else "n/a"),
        ("Longest drawdown (days)", str(_dd_duration(equity)) if len(equity) else "n/a",
         str(bd) if bd is not None else "n/a"),
        ("Exposure (time in market)", _pct(_exposure(snapshots)), "100.00%" if b else "n/a"),
        ("Win rate", _pct(metrics.get("win_rate")), ""),
        ("Profit factor", _num(pf) if not isinstance(pf, str) else pf, ""),
        ("Expectancy ($ per trade)", _num(metrics.get("expectancy")), ""),
        ("Trades", str(metrics.get("trades", 0)), ""),
        ("End equity ($)", _num(metrics.get("end_equity")),
         _num(b.get("end_equity")) if b else "n/a"),
    ]


def _table(head: Sequence[str], rows: Sequence[Sequence[Any]], cls: str = "") -> str:
    esc = html.escape
    h = "".join(f"<th>{esc(str(c))}</th>" for c in head)
    body = "".join("<tr>" + "".join(f"<td>{esc(_fmt(v))}</td>" for v in r) + "</tr>"
                   for r in rows)
    return f'<table class="{cls}"><tr>{h}</tr>{body}</table>'


def write_report(
    out_dir: str | Path,
    *,
    run_id: str,
    snapshots: Sequence[PortfolioSnapshot],
    closed: Sequence[ClosedPosition],
    metrics: Mapping[str, Any],
    extra: Mapping[str, Any] | None = None,
    notices: Sequence[str] = (),
    prices: str | Path | None = None,
    params: Mapping[str, Any] | None = None,
    alerts: str | Path | None = None,
    prices_ticker: str | None = None,
    headlines: Mapping[str, str] | None = None,
) -> ReportFiles:
    """Write ``report.html`` (the tearsheet), ``equity.png``, ``trades.csv`` and
    ``metrics.json`` into ``out_dir``, and refresh the reports folder's ``index.html``.

    ``notices`` are what the reader must not miss (a latched circuit breaker, bad input, the
    costs used): shown at the top of the page and kept in ``metrics.json``. ``prices`` is the
    run's OHLCV file: with it the page shows the benchmark and each traded ticker's price
    with its trades (``prices_ticker`` names the ticker of a file without a ticker column).
    ``params`` are the run's parameters (shown as given). ``alerts`` is the
    run's alerts file (JSONL, or a folder of them) and ``headlines`` the headlines stored with
    the run's signals (signal id -> headline, :func:`application.views.trade_headlines`): the
    trade list then shows the headline of the alert behind each trade, the stored one first.
    """
    from adapters.reporting import charts
    from adapters.reporting.prices import benchmark_from_series

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    png = _plot(snapshots, f"Catalyst Trader - run {run_id}")
    png_path = out / "equity.png"
    png_path.write_bytes(png)
    csv_path = write_trades_csv(closed, out / "trades.csv")
    equity = charts.daily_equity([s.ts for s in snapshots], [s.equity for s in snapshots])
    closes = _closes(prices, prices_ticker)
    bench = benchmark_from_series(closes, equity) if closes and len(equity) else None
    bench = bench if bench is not None and len(bench) > 1 else None
    headline = _headline(metrics, equity, bench, snapshots)
    spy = ({"SPY buy-and-hold": benchmark_from_series({"SPY": closes["SPY"]}, equity)}
           if "SPY" in closes and bench is not None else {})
    json_path = out / "metrics.json"
    bench_doc = None
    if bench is not None:
        bench_doc = {"name": "equal-weight buy-and-hold", "tickers": sorted(closes),
                     "total_return": float(bench.iloc[-1] / bench.iloc[0] - 1.0)}
    json_path.write_text(json.dumps({"run_id": run_id, "metrics": dict(metrics),
                                     **dict(extra or {}), "benchmark": bench_doc,
                                     "notices": list(notices)},
                                    indent=2, default=str) + "\n",
                         encoding="utf-8")
    esc = html.escape
    shown = dict(extra or {})
    breaker = shown.get("breaker")
    trips: list[Mapping[str, Any]] = []
    if isinstance(breaker, Mapping):  # the trips get their own table below
        trips = list(breaker.get("trips") or [])
        shown["breaker"] = {k: v for k, v in breaker.items() if k != "trips"}
    limits = shown.pop("risk_limits", None)
    costs = shown.pop("costs", None)
    xrows = "".join(f"<tr><th>{esc(str(k))}</th><td>{esc(_fmt(v))}</td></tr>"
                    for k, v in shown.items())
    trips_html = (f"<h2>Circuit breaker trips ({len(trips)})</h2>" + _table(
        ("at", "rule", "to", "message"),
        [[t.get(c) for c in ("at", "rule", "to", "message")] for t in trips]) if trips else "")
    nrows = "".join(f"<li>{esc(n)}</li>" for n in notices)
    note_html = f'<h2>Notices</h2><ul class="notices">{nrows}</ul>' if notices else ""
    bench_note = (f"Benchmark: equal-weight buy-and-hold of {', '.join(sorted(closes))} "
                  "from the run's price data, over the run's dates." if bench is not None
                  else "Benchmark: not shown (the run's price data was not given).")
    head_rows = "".join(
        f"<tr><th>{esc(n)}</th><td>{esc(a)}</td><td>{esc(b)}</td></tr>" for n, a, b in headline)

    figs: list[str] = []

    def fig(f: Any) -> str:
        figs.append(charts.figure_html(f, first=not figs))
        return figs[-1]

    sections: list[str] = []
    if len(equity) > 1:
        sections.append("<h2>Equity and benchmark</h2>" + fig(
            charts.equity_figure_spec(equity, bench, log=True, with_drawdown=False,
                                      title="Equity vs benchmark (log scale; buttons switch)",
                                      others=spy)))
        sections.append("<h2>Underwater</h2>" + fig(charts.underwater_figure_spec(equity,
                                                                                 bench)))
        sections.append("<h2>Monthly returns</h2>" + fig(charts.monthly_heatmap_spec(equity)))
        years = charts.yearly_returns(equity)
        byears = charts.yearly_returns(bench) if bench is not None else None
        sections.append("<h3>Yearly returns</h3>" + _table(
            ("year", "strategy", "benchmark"),
            [[str(y), _pct(v, True), _pct(byears.get(y), True) if byears is not None else "n/a"]
             for y, v in years.items()], "num"))
        worst = charts.drawdown_periods(equity, top=5)
        sections.append("<h2>Worst drawdowns</h2>" + _table(
            ("peak", "trough", "recovered", "depth", "days"),
            _worst_rows(worst), "num"))
        sections.append("<h2>Rolling Sharpe</h2>" + fig(
            charts.rolling_sharpe_figure_spec(equity, bench)))
        sections.append("<h2>Return distribution</h2>" + fig(
            charts.returns_histogram_spec(equity, bench)))
    else:
        sections.append("<h2>Equity and benchmark</h2><p>No equity recorded.</p>")
    by_ticker: dict[str, list[ClosedPosition]] = {}
    for c in closed:
        by_ticker.setdefault(c.ticker, []).append(c)
    sections.append("<h2>Per ticker</h2>" + _table(
        ("ticker", "trades", "win rate", "P&L ($)", "best ($)", "worst ($)"),
        [[t, len(cs), _pct(sum(1 for c in cs if c.realized_pnl > 0) / len(cs)),
          _num(float(sum((c.realized_pnl for c in cs), Decimal(0)))),
          _num(float(max(c.realized_pnl for c in cs))),
          _num(float(min(c.realized_pnl for c in cs)))]
         for t, cs in sorted(by_ticker.items())], "num"))
    for t, cs in sorted(by_ticker.items()):
        if t in closes:
            series = closes[t][~closes[t].index.duplicated(keep="last")]
            # a plain figure dict: building the validated figure of every traded ticker
            # was most of the report's time
            sections.append(fig(charts.price_figure_spec(t, series, [_Marker(c) for c in cs])))
    if params:
        sections.append("<h2>Parameters</h2><table>" + "".join(
            f"<tr><th>{esc(str(k))}</th><td>{esc(_fmt(v))}</td></tr>"
            for k, v in params.items()) + "</table>")
    if isinstance(limits, Mapping):
        sections.append("<h2>Risk limits</h2><table>" + "".join(
            f"<tr><th>{esc(str(k))}</th><td>{esc(_fmt(v))}</td></tr>"
            for k, v in limits.items()) + "</table>")
    if isinstance(costs, Mapping):
        sections.append("<h2>Cost assumptions</h2><table>" + "".join(
            f"<tr><th>{esc(str(k))}</th><td>{esc(_fmt(v))}</td></tr>"
            for k, v in costs.items()) + "</table>")
    cols: tuple[str, ...] = (
        "ticker", "side", "quantity", "entry_price", "exit_price", "opened_at", "closed_at",
        "exit_reason", "realized_pnl", "realized_pnl_pct", "commission", "catalyst_score",
        "signal_id")
    trows = [[_money(r[c]) if c in _MONEY else _pct(r[c], True) if c == "realized_pnl_pct"
              else r[c] for c in cols] for r in trade_rows(closed)]
    by_alert = _headlines(alerts)
    stored = dict(headlines or {})
    if by_alert or stored:
        cols = (*cols, "headline")
        for row, c in zip(trows, closed, strict=True):
            row.append(stored.get(c.signal_id or "")
                       or by_alert.get(str((c.metadata or {}).get("alert_id")), ""))
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Catalyst Trader report {esc(run_id)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1200px}}table{{border-collapse:collapse;
margin-bottom:1em}}td,th{{border:1px solid #ccc;padding:2px 8px;font-size:13px;text-align:left}}
table.num td{{text-align:right}}.headline td{{text-align:right;font-size:15px}}
.notices li{{color:#a40000;font-weight:bold}}</style></head>
<body><h1>Catalyst Trader report</h1><p>run <code>{esc(run_id)}</code></p>
{note_html}
<h2>Headline</h2><table class="headline"><tr><th>metric</th><th>strategy</th>
<th>benchmark</th></tr>{head_rows}</table><p>{esc(bench_note)}</p>
{"".join(sections)}
<h2>Run</h2><table>{xrows}</table>
{trips_html}
<h2>Trades ({len(closed)})</h2>{_table(cols, trows, "num")}
</body></html>
"""
    html_path = out / "report.html"
    html_path.write_text(page, encoding="utf-8")
    write_index(out.parent)
    return ReportFiles(html_path, png_path, csv_path, json_path)


def _closes(prices: str | Path | None, ticker: str | None) -> dict[str, Any]:
    """Ticker -> closes (series by day) of the run's price file; empty without one."""
    if prices is None:
        return {}
    from adapters.reporting.prices import load_close_series

    return load_close_series(prices, ticker=ticker)


def _worst_rows(worst: Any) -> list[list[Any]]:
    import pandas as pd

    def day(v: Any) -> str:
        return "not yet" if pd.isna(v) else str(pd.Timestamp(v).date())

    return [[day(r["peak"]), day(r["trough"]), day(r["recovery"]), _pct(r["depth"]),
             int(r["days"])] for r in worst.to_dict("records")]


def _headlines(alerts: str | Path | None) -> dict[str, str]:
    """Alert id -> headline of the run's alerts file (empty when it cannot be read)."""
    if alerts is None or str(alerts) == "-" or not Path(alerts).exists():
        return {}
    from adapters.data.alerts import read_alerts

    try:
        return {a.id: a.headline for a in read_alerts(alerts)}
    except (OSError, ValueError):
        return {}


_MONEY = {"entry_price", "exit_price", "realized_pnl", "commission"}


def _money(v: Any) -> str:
    return "" if v is None else f"{float(v):,.2f}"


class _Marker:
    """A closed trade as the price chart draws it (dates, not times)."""

    def __init__(self, c: ClosedPosition) -> None:
        import pandas as pd

        def day(ts: Any) -> Any:
            t = pd.Timestamp(ts)
            return (t.tz_convert(None) if t.tzinfo else t).normalize()

        self.opened_at, self.closed_at = day(c.opened_at), day(c.closed_at)
        self.entry_price, self.exit_price = c.entry_price, c.exit_price
        self.stop_loss, self.take_profit = c.stop_loss, c.take_profit


def write_index(reports_dir: str | Path) -> Path:
    """Write ``index.html`` in ``reports_dir``: a ``latest`` link to the newest report, then
    every run folder holding a ``report.html``, newest first, with its headline numbers."""
    root = Path(reports_dir)
    found = sorted((p for p in root.glob("*/report.html")), key=lambda p: p.stat().st_mtime,
                   reverse=True)
    esc = html.escape
    rows = []
    for p in found:
        doc: dict[str, Any] = {}
        with contextlib.suppress(OSError, ValueError):
            doc = json.loads((p.parent / "metrics.json").read_text(encoding="utf-8"))
        m = doc.get("metrics") or {}
        b = doc.get("benchmark") or {}
        rel = f"{p.parent.name}/report.html"
        rows.append(f'<tr><td><a href="{esc(rel)}">{esc(p.parent.name)}</a></td>'
                    f"<td>{esc(str(doc.get('status', '')))}</td>"
                    f"<td>{esc(_pct(m.get('total_return'), True))}</td>"
                    f"<td>{esc(_pct(b.get('total_return'), True) if b else 'n/a')}</td>"
                    f"<td>{esc(_num(m.get('sharpe')))}</td>"
                    f"<td>{esc(_pct(m.get('max_drawdown')))}</td><td>{m.get('trades', '')}</td>"
                    "</tr>")
    latest = (f'<p><a id="latest" href="{esc(found[0].parent.name)}/report.html">latest: '
              f"{esc(found[0].parent.name)}</a></p>" if found else "<p>No report yet.</p>")
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Catalyst Trader reports</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:2px 8px;font-size:13px}}</style></head>
<body><h1>Catalyst Trader reports</h1>{latest}
<table><tr><th>run</th><th>status</th><th>return</th><th>benchmark</th><th>Sharpe</th>
<th>max drawdown</th><th>trades</th></tr>{"".join(rows)}</table></body></html>
"""
    path = root / "index.html"
    path.write_text(page, encoding="utf-8")
    return path
