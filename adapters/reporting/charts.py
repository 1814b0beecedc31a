"""The charts of the dashboard and of the HTML tearsheet, drawn once, with Plotly.

Every function takes plain pandas series (a datetime index, floats) and returns a
``plotly.graph_objects.Figure``; the dashboard shows it with ``st.plotly_chart``, the report
embeds it with :func:`figure_html`. The series helpers (daily returns, drawdown, monthly
returns, drawdown periods, rolling Sharpe) are the numbers behind the charts and the tables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from domain.analytics.metrics import ANNUALIZATION

__all__ = [
    "actions_figure",
    "daily_equity",
    "drawdown",
    "drawdown_periods",
    "equity_figure",
    "figure_html",
    "monthly_heatmap",
    "monthly_returns",
    "price_figure",
    "price_figure_spec",
    "returns_histogram",
    "rolling_sharpe",
    "rolling_sharpe_figure",
    "underwater_figure",
]

STRATEGY, BENCHMARK = "#1f77b4", "#7f7f7f"
_LAYOUT: dict[str, Any] = {"template": "plotly_white", "margin": {"l": 50, "r": 20, "t": 90,
                                                                   "b": 40},
                           "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.02,
                                      "x": 0}}


def daily_equity(ts: Sequence[Any], values: Sequence[Any]) -> pd.Series:
    """Return the equity as floats indexed by day (UTC dates, tz-naive), the last value of
    each day kept."""
    idx = pd.DatetimeIndex(pd.to_datetime(list(ts), utc=True)) if len(ts) else pd.DatetimeIndex([])
    if idx.tz is not None:
        idx = idx.tz_convert(None)
    s = pd.Series([float(v) for v in values], index=idx.normalize(), dtype=float)
    if s.empty:
        return s
    s = s[~s.index.duplicated(keep="last")]
    return s.sort_index()


def drawdown(equity: pd.Series) -> pd.Series:
    """Return the drawdown from the running peak, a fraction (0 or negative)."""
    if equity.empty:
        return equity
    return equity / equity.cummax() - 1.0


def monthly_returns(equity: pd.Series) -> pd.DataFrame:
    """Return compounded returns per month as a year x month table (fractions; NaN where
    there was no trading); the first month is measured from the first value."""
    if len(equity) < 2:
        return pd.DataFrame()
    idx = pd.DatetimeIndex(equity.index)
    month_end = equity.groupby([idx.year, idx.month]).last()
    prev = month_end.shift(1)
    prev.iloc[0] = equity.iloc[0]
    rets = month_end / prev - 1.0
    table = rets.unstack()
    table.index.name, table.columns.name = "year", "month"
    return table.reindex(columns=range(1, 13))


def yearly_returns(equity: pd.Series) -> pd.Series:
    """Return compounded returns per calendar year (the first from the first value)."""
    if len(equity) < 2:
        return pd.Series(dtype=float)
    year_end = equity.groupby(pd.DatetimeIndex(equity.index).year).last()
    prev = year_end.shift(1)
    prev.iloc[0] = equity.iloc[0]
    return year_end / prev - 1.0


def drawdown_periods(equity: pd.Series, top: int = 5) -> pd.DataFrame:
    """Return the ``top`` worst drawdowns: peak, trough, recovery (NaT while under water),
    depth (a fraction) and length in days from peak to recovery (or to the last value)."""
    rows = []
    if len(equity) >= 2:
        peak_val, peak_ts = equity.iloc[0], equity.index[0]
        trough_val, trough_ts, under = peak_val, peak_ts, False
        for ts, v in equity.items():
            if v >= peak_val:
                if under:
                    rows.append((peak_ts, trough_ts, ts, trough_val / peak_val - 1.0))
                peak_val, peak_ts, trough_val, trough_ts, under = v, ts, v, ts, False
            elif v < trough_val or not under:
                if v < trough_val:
                    trough_val, trough_ts = v, ts
                under = True
        if under:
            rows.append((peak_ts, trough_ts, pd.NaT, trough_val / peak_val - 1.0))
    df = pd.DataFrame(rows, columns=["peak", "trough", "recovery", "depth"])
    if df.empty:
        return df.assign(days=pd.Series(dtype=int))
    end = df["recovery"].fillna(equity.index[-1])
    df["days"] = (pd.to_datetime(end) - pd.to_datetime(df["peak"])).dt.days
    return df.sort_values("depth").head(top).reset_index(drop=True)


def rolling_sharpe(equity: pd.Series, window: int = 63) -> pd.Series:
    """Return the annualised Sharpe ratio of daily returns over a rolling ``window``."""
    rets = equity.pct_change().dropna()
    mean = rets.rolling(window).mean()
    std = rets.rolling(window).std(ddof=1)
    out: pd.Series = (mean / std.replace(0.0, np.nan) * np.sqrt(ANNUALIZATION)).dropna()
    return out


def equity_figure(equity: pd.Series, benchmark: pd.Series | None = None, *, log: bool = False,
                  with_drawdown: bool = True, title: str = "Equity vs benchmark",
                  others: Mapping[str, pd.Series] | None = None) -> go.Figure:
    """Return the equity curve (and the benchmark's, and ``others`` by name, e.g. SPY), with
    the drawdowns below."""
    rows = 2 if with_drawdown else 1
    fig = make_subplots(rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.05,
                        row_heights=[0.7, 0.3] if with_drawdown else [1.0])
    fig.add_trace(go.Scatter(x=equity.index, y=equity.values, name="strategy",
                             line={"color": STRATEGY}), row=1, col=1)
    if benchmark is not None and not benchmark.empty:
        fig.add_trace(go.Scatter(x=benchmark.index, y=benchmark.values,
                                 name="benchmark (equal-weight buy-and-hold)",
                                 line={"color": BENCHMARK, "dash": "dot"}), row=1, col=1)
    for name, series in (others or {}).items():
        fig.add_trace(go.Scatter(x=series.index, y=series.values, name=name,
                                 line={"color": "#ff7f0e", "dash": "dash"}), row=1, col=1)
    if with_drawdown:
        fig.add_trace(go.Scatter(x=equity.index, y=drawdown(equity).to_numpy() * 100,
                                 name="strategy drawdown %", fill="tozeroy",
                                 line={"color": "#d62728"}), row=2, col=1)
        if benchmark is not None and not benchmark.empty:
            fig.add_trace(go.Scatter(x=benchmark.index, y=drawdown(benchmark).to_numpy() * 100,
                                     name="benchmark drawdown %",
                                     line={"color": BENCHMARK, "dash": "dot"}), row=2, col=1)
        fig.update_yaxes(title_text="drawdown (%)", row=2, col=1)
    fig.update_yaxes(title_text="equity ($)", type="log" if log else "linear", row=1, col=1)
    fig.update_layout(title=title, height=520 if with_drawdown else 380, **_LAYOUT)
    if log:  # a button to switch the scale back
        _scale_buttons(fig)
    return fig


def _scale_buttons(fig: go.Figure) -> None:
    fig.update_layout(updatemenus=[{
        "type": "buttons", "direction": "right", "x": 1.0, "y": 1.15, "showactive": True,
        "buttons": [{"label": "log", "method": "relayout", "args": [{"yaxis.type": "log"}]},
                    {"label": "linear", "method": "relayout",
                     "args": [{"yaxis.type": "linear"}]}]}])


def underwater_figure(equity: pd.Series, benchmark: pd.Series | None = None) -> go.Figure:
    """Return the underwater plot: drawdown from the running peak, in percent."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=equity.index, y=drawdown(equity).to_numpy() * 100, name="strategy",
                             fill="tozeroy", line={"color": "#d62728"}))
    if benchmark is not None and not benchmark.empty:
        fig.add_trace(go.Scatter(x=benchmark.index, y=drawdown(benchmark).to_numpy() * 100,
                                 name="benchmark", line={"color": BENCHMARK, "dash": "dot"}))
    fig.update_layout(title="Underwater (drawdown %)", height=300, yaxis_title="%", **_LAYOUT)
    return fig


def monthly_heatmap(equity: pd.Series) -> go.Figure:
    """Return the monthly returns as a year x month heatmap (percent)."""
    table = monthly_returns(equity)
    z = (table.to_numpy() * 100) if not table.empty else np.zeros((0, 12))
    text = [[("" if np.isnan(v) else f"{v:+.1f}") for v in row] for row in z]
    fig = go.Figure(go.Heatmap(
        z=z, x=["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
                "Dec"],
        y=[str(y) for y in table.index], text=text, texttemplate="%{text}",
        colorscale="RdYlGn", zmid=0, colorbar={"title": "%"}))
    fig.update_layout(title="Monthly returns (%)", height=120 + 40 * max(1, len(table)),
                      **_LAYOUT)
    fig.update_yaxes(autorange="reversed", type="category")
    return fig


def rolling_sharpe_figure(equity: pd.Series, benchmark: pd.Series | None = None,
                          window: int = 63) -> go.Figure:
    """Return the rolling Sharpe ratio over ``window`` trading days."""
    fig = go.Figure()
    rs = rolling_sharpe(equity, window)
    fig.add_trace(go.Scatter(x=rs.index, y=rs.values, name="strategy",
                             line={"color": STRATEGY}))
    if benchmark is not None and not benchmark.empty:
        rb = rolling_sharpe(benchmark, window)
        fig.add_trace(go.Scatter(x=rb.index, y=rb.values, name="benchmark",
                                 line={"color": BENCHMARK, "dash": "dot"}))
    fig.update_layout(title=f"Rolling Sharpe ({window} trading days)", height=300, **_LAYOUT)
    return fig


def returns_histogram(equity: pd.Series, benchmark: pd.Series | None = None) -> go.Figure:
    """Return the distribution of daily returns (percent)."""
    fig = go.Figure()
    fig.add_trace(go.Histogram(x=equity.pct_change().dropna().to_numpy() * 100, name="strategy",
                               marker={"color": STRATEGY}, opacity=0.75, nbinsx=60))
    if benchmark is not None and not benchmark.empty:
        fig.add_trace(go.Histogram(x=benchmark.pct_change().dropna().to_numpy() * 100,
                                   name="benchmark", marker={"color": BENCHMARK},
                                   opacity=0.5, nbinsx=60))
    fig.update_layout(title="Daily returns (%)", barmode="overlay", height=300, **_LAYOUT)
    return fig


def price_figure(ticker: str, close: pd.Series, trades: Sequence[Any]) -> go.Figure:
    """Return the ticker's closes with each trade's entry (triangle up), exit (triangle down)
    and its stop and target levels (dashed lines over the holding period).

    ``trades`` are objects with ``opened_at``, ``closed_at`` (None while open),
    ``entry_price``, ``exit_price`` (None while open), ``stop_loss`` and ``take_profit``.
    """
    return go.Figure(price_figure_spec(ticker, close, trades, template="plotly_white"))


def price_figure_spec(ticker: str, close: pd.Series, trades: Sequence[Any], *,
                      template: str | Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Return :func:`price_figure` as a plain figure dict, without building the validated
    figure (much faster; what the report embeds, one per traded ticker). ``template`` is the
    layout template by name (to build a figure from it) or as its dict (to render it
    directly, see :func:`figure_html`); by default the expanded ``plotly_white``."""
    data: list[dict[str, Any]] = [{"type": "scatter", "x": _dates(close.index),
                                   "y": close.to_numpy(dtype=float).tolist(),
                                   "name": f"{ticker} close", "line": {"color": "#444"}}]
    ex, ey, xx, xy = [], [], [], []
    for t in trades:
        ex.append(t.opened_at)
        ey.append(float(t.entry_price))
        end = getattr(t, "closed_at", None)
        if end is not None and getattr(t, "exit_price", None) is not None:
            xx.append(end)
            xy.append(float(t.exit_price))
        end = end if end is not None else (close.index[-1] if len(close) else t.opened_at)
        for level, color, name in ((t.stop_loss, "#d62728", "stop"),
                                   (t.take_profit, "#2ca02c", "target")):
            if level is not None:
                data.append({"type": "scatter", "x": [t.opened_at, end],
                             "y": [float(level)] * 2, "mode": "lines", "name": name,
                             "showlegend": False,
                             "line": {"color": color, "dash": "dash", "width": 1}})
    data.append({"type": "scatter", "x": ex, "y": ey, "mode": "markers", "name": "entry",
                 "marker": {"symbol": "triangle-up", "size": 11, "color": "#2ca02c"}})
    data.append({"type": "scatter", "x": xx, "y": xy, "mode": "markers", "name": "exit",
                 "marker": {"symbol": "triangle-down", "size": 11, "color": "#d62728"}})
    layout = {**_LAYOUT, "title": {"text": f"{ticker}: entries, exits, stops and targets"},
              "height": 380,
              "template": _template_dict() if template is None else template}
    return {"data": data, "layout": layout}


def _dates(index: Any) -> Any:
    # naive datetimes as ISO strings, a whole column at once (plotly's encoder converts them
    # one by one); anything else as it is
    if isinstance(index, pd.DatetimeIndex) and index.tz is None:
        return np.datetime_as_string(index.to_numpy(), unit="auto").tolist()
    return index


_TEMPLATES: dict[str, dict[str, Any]] = {}


def _template_dict(name: str = "plotly_white") -> dict[str, Any]:
    # the expanded template, built once (plotly copies it into every validated figure)
    if name not in _TEMPLATES:
        import plotly.io as pio

        _TEMPLATES[name] = pio.templates[name].to_plotly_json()
    return _TEMPLATES[name]


def actions_figure(shares: Mapping[str, Mapping[str, float]]) -> go.Figure:
    """Return the action distribution of each agent version (``ref -> action -> share of its
    bars``) as grouped bars, one group per action."""
    actions = sorted({a for per in shares.values() for a in per})
    fig = go.Figure()
    for ref, per in sorted(shares.items()):
        fig.add_trace(go.Bar(x=actions, y=[float(per.get(a, 0.0)) for a in actions], name=ref))
    fig.update_layout(title="Actions per version (share of bars)", barmode="group", height=320,
                      showlegend=True,
                      yaxis={"tickformat": ".0%"}, **_LAYOUT)
    return fig


def figure_html(fig: go.Figure | Mapping[str, Any], *, first: bool) -> str:
    """Return the figure (a figure, or a plain figure dict with its template expanded, see
    :func:`price_figure_spec`) as an HTML fragment; the first of a page carries plotly.js
    inline (the page then works offline), the others reuse it."""
    import plotly.io as pio

    html: str = pio.to_html(fig if isinstance(fig, go.Figure) else dict(fig), full_html=False,
                            include_plotlyjs="inline" if first else False,
                            config={"displaylogo": False}, validate=False)
    return html
