"""The charts of the dashboard and of the HTML tearsheet, drawn once, with Plotly.

Every function takes plain pandas series (a datetime index, floats). The ``*_spec`` ones
return a plain figure dict, which the report embeds with :func:`figure_html` (validating a
figure costs far more than writing it); the others return the same dict as a
``plotly.graph_objects.Figure``, which the dashboard shows with ``st.plotly_chart``. The
series helpers (daily returns, drawdown, monthly returns, drawdown periods, rolling Sharpe)
are the numbers behind the charts and the tables.

Why one module: every chart of the tearsheet and the dashboard is built from the same series
helpers, template and date formatting, and each chart exists in both forms (plain dict and
validated figure) side by side.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from decimal import Decimal
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from domain.analytics.metrics import ANNUALIZATION

__all__ = [
    "actions_figure",
    "daily_equity",
    "drawdown",
    "drawdown_periods",
    "equity_figure",
    "equity_figure_spec",
    "figure_html",
    "monthly_heatmap",
    "monthly_heatmap_spec",
    "monthly_returns",
    "price_figure",
    "price_figure_spec",
    "returns_histogram",
    "returns_histogram_spec",
    "rolling_sharpe",
    "rolling_sharpe_figure",
    "rolling_sharpe_figure_spec",
    "underwater_figure",
    "underwater_figure_spec",
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
    return go.Figure(equity_figure_spec(equity, benchmark, log=log, with_drawdown=with_drawdown,
                                        title=title, others=others, template="plotly_white"))


def equity_figure_spec(equity: pd.Series, benchmark: pd.Series | None = None, *,
                       log: bool = False, with_drawdown: bool = True,
                       title: str = "Equity vs benchmark",
                       others: Mapping[str, pd.Series] | None = None,
                       template: str | Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Return :func:`equity_figure` as a plain figure dict (see :func:`price_figure_spec`):
    one panel, or two sharing the dates (equity 70 %, drawdown 30 %, 5 % apart) laid out as
    ``make_subplots`` lays them out."""
    up = {"xaxis": "x", "yaxis": "y"}
    down = {"xaxis": "x2", "yaxis": "y2"}
    data: list[dict[str, Any]] = [_trace("scatter", equity, name="strategy",
                                         line={"color": STRATEGY}, **up)]
    if benchmark is not None and not benchmark.empty:
        data.append(_trace("scatter", benchmark, name="benchmark (equal-weight buy-and-hold)",
                           line={"color": BENCHMARK, "dash": "dot"}, **up))
    for name, series in (others or {}).items():
        data.append(_trace("scatter", series, name=name,
                           line={"color": "#ff7f0e", "dash": "dash"}, **up))
    yaxis: dict[str, Any] = {"anchor": "x", "title": {"text": "equity ($)"},
                             "type": "log" if log else "linear"}
    if with_drawdown:
        data.append(_trace("scatter", equity, drawdown(equity).to_numpy() * 100,
                           name="strategy drawdown %", fill="tozeroy",
                           line={"color": "#d62728"}, **down))
        if benchmark is not None and not benchmark.empty:
            data.append(_trace("scatter", benchmark, drawdown(benchmark).to_numpy() * 100,
                               name="benchmark drawdown %",
                               line={"color": BENCHMARK, "dash": "dot"}, **down))
        # make_subplots(rows=2, shared_xaxes=True, vertical_spacing=0.05,
        # row_heights=[0.7, 0.3]): the rows share 0.95 of the height, bottom up
        low = 0.3 * (1 - 0.05)
        axes: dict[str, Any] = {
            "xaxis": {"anchor": "y", "domain": [0.0, 1.0], "matches": "x2",
                      "showticklabels": False},
            "yaxis": {**yaxis, "domain": [low + 0.05, low + 0.05 + 0.7 * (1 - 0.05)]},
            "xaxis2": {"anchor": "y2", "domain": [0.0, 1.0]},
            "yaxis2": {"anchor": "x2", "domain": [0.0, low],
                       "title": {"text": "drawdown (%)"}}}
    else:
        axes = {"xaxis": {"anchor": "y", "domain": [0.0, 1.0]},
                "yaxis": {**yaxis, "domain": [0.0, 1.0]}}
    layout: dict[str, Any] = {**axes, **_layout(template), "title": {"text": title},
                              "height": 520 if with_drawdown else 380}
    if log:  # a button to switch the scale back
        layout["updatemenus"] = [{
            "buttons": [{"args": [{"yaxis.type": "log"}], "label": "log", "method": "relayout"},
                        {"args": [{"yaxis.type": "linear"}], "label": "linear",
                         "method": "relayout"}],
            "direction": "right", "showactive": True, "type": "buttons", "x": 1.0, "y": 1.15}]
    return {"data": data, "layout": layout}


def _trace(kind: str, series: pd.Series, y: Any = None, **props: Any) -> dict[str, Any]:
    """A trace of ``series`` (its index as x, its values as y unless ``y`` is given)."""
    values = series.to_numpy(dtype=float) if y is None else y
    return {**props, "x": series.index, "y": values, "type": kind}


def _layout(template: str | Mapping[str, Any] | None) -> dict[str, Any]:
    return {**_LAYOUT, "template": _template_dict() if template is None else template}


def underwater_figure(equity: pd.Series, benchmark: pd.Series | None = None) -> go.Figure:
    """Return the underwater plot: drawdown from the running peak, in percent."""
    return go.Figure(underwater_figure_spec(equity, benchmark, template="plotly_white"))


def underwater_figure_spec(equity: pd.Series, benchmark: pd.Series | None = None, *,
                           template: str | Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Return :func:`underwater_figure` as a plain figure dict."""
    data = [_trace("scatter", equity, drawdown(equity).to_numpy() * 100, fill="tozeroy",
                   line={"color": "#d62728"}, name="strategy")]
    if benchmark is not None and not benchmark.empty:
        data.append(_trace("scatter", benchmark, drawdown(benchmark).to_numpy() * 100,
                           line={"color": BENCHMARK, "dash": "dot"}, name="benchmark"))
    return {"data": data, "layout": {**_layout(template),
                                     "title": {"text": "Underwater (drawdown %)"},
                                     "height": 300, "yaxis": {"title": {"text": "%"}}}}


_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def monthly_heatmap(equity: pd.Series) -> go.Figure:
    """Return the monthly returns as a year x month heatmap (percent)."""
    return go.Figure(monthly_heatmap_spec(equity, template="plotly_white"))


def monthly_heatmap_spec(equity: pd.Series, *,
                         template: str | Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Return :func:`monthly_heatmap` as a plain figure dict."""
    table = monthly_returns(equity)
    z = (table.to_numpy() * 100) if not table.empty else np.zeros((0, 12))
    text = [[("" if np.isnan(v) else f"{v:+.1f}") for v in row] for row in z]
    heat = {"colorbar": {"title": {"text": "%"}}, "colorscale": _RDYLGN, "text": text,
            "texttemplate": "%{text}", "x": list(_MONTHS), "y": [str(y) for y in table.index],
            "z": z, "zmid": 0, "type": "heatmap"}
    return {"data": [heat], "layout": {**_layout(template),
                                       "title": {"text": "Monthly returns (%)"},
                                       "height": 120 + 40 * max(1, len(table)),
                                       "yaxis": {"autorange": "reversed", "type": "category"}}}


# plotly's named "RdYlGn" colour scale, as a figure carries it once validated
_RDYLGN = [[0.0, "rgb(165,0,38)"], [0.1, "rgb(215,48,39)"], [0.2, "rgb(244,109,67)"],
           [0.3, "rgb(253,174,97)"], [0.4, "rgb(254,224,139)"], [0.5, "rgb(255,255,191)"],
           [0.6, "rgb(217,239,139)"], [0.7, "rgb(166,217,106)"], [0.8, "rgb(102,189,99)"],
           [0.9, "rgb(26,152,80)"], [1.0, "rgb(0,104,55)"]]


def rolling_sharpe_figure(equity: pd.Series, benchmark: pd.Series | None = None,
                          window: int = 63) -> go.Figure:
    """Return the rolling Sharpe ratio over ``window`` trading days."""
    return go.Figure(rolling_sharpe_figure_spec(equity, benchmark, window,
                                                template="plotly_white"))


def rolling_sharpe_figure_spec(equity: pd.Series, benchmark: pd.Series | None = None,
                               window: int = 63, *,
                               template: str | Mapping[str, Any] | None = None
                               ) -> dict[str, Any]:
    """Return :func:`rolling_sharpe_figure` as a plain figure dict."""
    data = [_trace("scatter", rolling_sharpe(equity, window), line={"color": STRATEGY},
                   name="strategy")]
    if benchmark is not None and not benchmark.empty:
        data.append(_trace("scatter", rolling_sharpe(benchmark, window),
                           line={"color": BENCHMARK, "dash": "dot"}, name="benchmark"))
    return {"data": data, "layout": {**_layout(template), "title": {
        "text": f"Rolling Sharpe ({window} trading days)"}, "height": 300}}


def returns_histogram(equity: pd.Series, benchmark: pd.Series | None = None) -> go.Figure:
    """Return the distribution of daily returns (percent)."""
    return go.Figure(returns_histogram_spec(equity, benchmark, template="plotly_white"))


def returns_histogram_spec(equity: pd.Series, benchmark: pd.Series | None = None, *,
                           template: str | Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Return :func:`returns_histogram` as a plain figure dict."""
    data = [{"marker": {"color": STRATEGY}, "name": "strategy", "nbinsx": 60, "opacity": 0.75,
             "x": equity.pct_change().dropna().to_numpy() * 100, "type": "histogram"}]
    if benchmark is not None and not benchmark.empty:
        data.append({"marker": {"color": BENCHMARK}, "name": "benchmark", "nbinsx": 60,
                     "opacity": 0.5, "x": benchmark.pct_change().dropna().to_numpy() * 100,
                     "type": "histogram"})
    return {"data": data, "layout": {**_layout(template), "title": {"text": "Daily returns (%)"},
                                     "barmode": "overlay", "height": 300}}


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
    # one by one), remembered for the next chart on the same dates; anything else as it is
    if isinstance(index, pd.DatetimeIndex) and index.tz is None:
        values = index.to_numpy()
        key = values.tobytes()
        text = _DATE_TEXT.get(key)
        if text is None:
            if len(_DATE_TEXT) >= 8:
                _DATE_TEXT.clear()
            text = _DATE_TEXT[key] = np.datetime_as_string(values, unit="auto").tolist()
        return list(text)
    return index


_DATE_TEXT: dict[bytes, list[str]] = {}


_TEMPLATES: dict[str, dict[str, Any]] = {}


def _template_dict(name: str = "plotly_white") -> dict[str, Any]:
    # the expanded template, read once from the JSON file plotly builds its own from (the
    # same dict as pio.templates[name].to_plotly_json(), without validating it)
    if name not in _TEMPLATES:
        import importlib.util
        import json
        from pathlib import Path

        spec = importlib.util.find_spec("plotly")
        origin = Path(spec.origin) if spec is not None and spec.origin else None
        path = (origin.parent / "package_data" / "templates" / f"{name}.json"
                if origin is not None else None)
        if path is not None and path.is_file():
            _TEMPLATES[name] = json.loads(path.read_text(encoding="utf-8"))
        else:
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


def _plain(fig: Mapping[str, Any]) -> dict[str, Any]:
    """The figure dict with its traces' columns in the form a validated figure is written:
    float arrays as plotly.js typed arrays (base64), dates as ISO strings (a whole column at
    once)."""
    data = [{k: _column(v) if k in ("x", "y", "z") else v for k, v in trace.items()}
            for trace in fig.get("data", [])]
    return {**fig, "data": data}


def _column(v: Any) -> Any:
    if isinstance(v, pd.Index | pd.Series):
        v = v if isinstance(v, pd.DatetimeIndex) else v.to_numpy()
    if isinstance(v, pd.DatetimeIndex):
        return _dates(v) if v.tz is None else v
    if isinstance(v, np.ndarray) and v.dtype == np.float64 and v.size:
        import base64

        spec = {"dtype": "f8", "bdata": base64.b64encode(np.ascontiguousarray(v).tobytes()).decode("ascii")}
        if v.ndim > 1:
            spec["shape"] = str(v.shape)[1:-1]
        return spec
    return v


def figure_html(fig: go.Figure | Mapping[str, Any], *, first: bool,
                div_id: str | None = None) -> str:
    """Return the figure (a figure, or a plain figure dict with its template expanded, see
    :func:`price_figure_spec`) as an HTML fragment; the first of a page carries plotly.js
    inline (the page then works offline), the others reuse it.

    A plain dict is written here, as ``plotly.io.to_html(fig, full_html=False,
    validate=False)`` writes it (the same fragment, byte for byte, for a dict of plain
    values), without importing plotly's figure machinery; ``div_id`` fixes the element id
    (a random UUID by default)."""
    if isinstance(fig, Mapping):
        return _fragment(_plain(fig), first=first, div_id=div_id or str(uuid.uuid4()))
    import plotly.io as pio

    html: str = pio.to_html(fig, full_html=False,
                            include_plotlyjs="inline" if first else False,
                            config={"displaylogo": False}, validate=False, div_id=div_id)
    return html


_CONFIG = '{"displaylogo": false, "responsive": true}'
_JSON_SAFE = (("<", "\\u003c"), (">", "\\u003e"), ("/", "\\u002f"))


def _fragment(fig: Mapping[str, Any], *, first: bool, div_id: str) -> str:
    data = _json(fig.get("data", []))
    layout_dict = fig.get("layout", {})
    layout = _json(layout_dict)
    template = layout_dict.get("template", {})
    template_layout = template.get("layout", {}) if isinstance(template, Mapping) else {}
    width = _css_size(layout_dict.get("width", template_layout.get("width", "100%")))
    height = _css_size(layout_dict.get("height", template_layout.get("height", "100%")))
    script = (f'                if (document.getElementById("{div_id}")) {{'
              f"                    Plotly.newPlot("
              f'                        "{div_id}",'
              f"                        {data},"
              f"                        {layout},"
              f"                        {_CONFIG}"
              f"                    )"
              f"                }}")
    load = ("        <script>window.PlotlyConfig = {MathJaxConfig: 'local'};</script>\n"
            f"        <script>{_plotlyjs()}</script>    ") if first else ""
    return (f'<div style="height:{height}; width:{width};">        '
            f"        {load}"
            f'            <div id="{div_id}" class="plotly-graph-div" '
            f'style="height:100%; width:100%;"></div>'
            f"            <script>"
            f"                window.PLOTLYENV=window.PLOTLYENV || {{}};"
            f"                {script};"
            f"            </script>"
            f"        </div>")


def _json(value: Any) -> str:
    """JSON as plotly writes it: compact, NaN and infinities as null, dates in ISO form, safe
    inside a script element."""
    text = json.dumps(value, separators=(",", ":"), default=_jsonable)
    if "NaN" in text or "Infinity" in text:
        text = json.dumps(json.loads(text, parse_constant=lambda _: None), separators=(",", ":"))
    for char, safe in _JSON_SAFE:
        if char in text:
            text = text.replace(char, safe)
    return text


def _jsonable(obj: Any) -> Any:
    """What plotly's encoder makes of a value plain JSON does not know."""
    if obj is pd.NaT or obj is pd.NA:
        return None
    if isinstance(obj, np.ndarray) and obj.dtype.kind == "M":
        return np.datetime_as_string(obj).tolist()
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Decimal):
        return float(obj)
    raise TypeError(f"cannot write {type(obj).__name__} into a figure: {obj!r}")


def _css_size(v: Any) -> str:
    try:
        float(v)
    except (ValueError, TypeError):
        return str(v)
    return f"{v}px"


@cache
def _plotlyjs() -> str:
    import pkgutil

    data = pkgutil.get_data("plotly", "package_data/plotly.min.js")
    if data is None:
        raise FileNotFoundError("plotly.min.js is missing from the plotly package")
    return data.decode("utf-8")
