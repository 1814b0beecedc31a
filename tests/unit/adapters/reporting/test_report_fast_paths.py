"""The report's quick ways equal the slow ones: closes read by columns equal the loader's,
the charts written as plain dicts carry the series and are written as plotly writes them,
and equity.png is a real picture of the curve."""

from __future__ import annotations

import io
import json
import os
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.io as pio
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image
from plotly.subplots import make_subplots

from adapters.data.ohlcv import DataError, load_ohlcv
from adapters.reporting import charts
from adapters.reporting.equity_png import HEIGHT, WIDTH, equity_png, nice_ticks
from adapters.reporting.prices import close_series, load_close_series

# ---------------------------------------------------------------- closes read by columns

_DATES = ["2021-01-04", "2021-01-05", "2021-01-06", "2021-01-05T15:30:00",
          "2021/01/07", "not a date", None, "2021-01-08"]
_TICKERS = ["AAA", " aaa", "BBB", "bbb ", None, "SPY"]
_CLOSES: list[Any] = [10.0, 11.5, 0.0, -1.0, float("nan"), 12.25, "13.5", "x", None]


@st.composite
def _raw_frames(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(0, 30))
    clean = draw(st.booleans())  # parseable dates only (else the loader refuses the file)
    dates = _DATES[:3] + _DATES[4:5] + _DATES[7:] if clean else _DATES
    rows = [{"Date": draw(st.sampled_from(dates)), "Symbol": draw(st.sampled_from(_TICKERS)),
             "Open": 1.0, "High": 2.0, "Low": 0.5,
             "Close": draw(st.sampled_from(_CLOSES)), "Volume": 100.0} for _ in range(n)]
    return pd.DataFrame(rows, columns=["Date", "Symbol", "Open", "High", "Low", "Close",
                                       "Volume"])


def _same(path: Path, ticker: str | None = None) -> None:
    try:
        want = close_series(load_ohlcv(path, ticker=ticker))
    except DataError as exc:
        with pytest.raises(DataError) as got:
            load_close_series(path, ticker=ticker)
        assert str(got.value) == str(exc)  # the loader's own message
        return
    got = load_close_series(path, ticker=ticker)
    assert list(got) == list(want)
    for t in want:
        pd.testing.assert_series_equal(got[t], want[t], check_freq=True)


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_raw_frames(), st.sampled_from(["parquet", "csv"]))
@example(pd.DataFrame({"Date": ["2021-01-05", "2021-01-04", "2021-01-05", None],
                       "Symbol": ["b", "A", "b", None], "Open": 1.0, "High": 1.0,
                       "Low": 1.0, "Close": [2.0, 1.0, 3.0, 4.0], "Volume": 1.0}), "parquet")
def test_closes_by_columns_when_any_rows_then_equal_to_the_loader(
        tmp_path: Path, raw: pd.DataFrame, kind: str) -> None:
    path = tmp_path / f"prices.{kind}"
    if kind == "parquet":
        raw.astype({"Close": str}).to_parquet(path, index=False)
    else:
        raw.to_csv(path, index=False)
    _same(path)


def test_closes_by_columns_when_aware_dates_aliases_and_no_ticker_column_then_equal(
        tmp_path: Path) -> None:
    days = pd.date_range("2021-03-12", periods=6, freq="D", tz="UTC") + pd.Timedelta(hours=3)
    one = pd.DataFrame({"timestamp": days[::-1], "o": 1.0, "h": 1.0, "l": 1.0,
                        "c": np.arange(6.0), "close": 9.0, "vol": 1.0})
    one.to_parquet(tmp_path / "one.parquet", index=False)
    _same(tmp_path / "one.parquet", ticker="xyz")  # no ticker column: the ticker given
    _same(tmp_path / "one.parquet")  # no ticker column, none given: the loader's error
    one.drop(columns=["vol"]).to_parquet(tmp_path / "short.parquet", index=False)
    _same(tmp_path / "short.parquet", ticker="xyz")  # a missing column: the loader's error
    indexed = pd.DataFrame({"ticker": "A", "open": 1.0, "high": 1.0, "low": 1.0,
                            "close": [1.0, 2.0], "volume": 1.0},
                           index=pd.Index(["2021-01-04", "2021-01-05"], name="date"))
    indexed.to_parquet(tmp_path / "indexed.parquet")  # the dates as a stored index
    _same(tmp_path / "indexed.parquet")
    _same(tmp_path / "missing.parquet")


# ---------------------------------------------------------------- charts as plain dicts

def _series(n: int, start: float, seed: int) -> pd.Series:
    rng = np.random.default_rng(seed)
    idx = pd.bdate_range("2020-01-02", periods=n)
    return pd.Series(start * np.cumprod(1 + rng.normal(0.0005, 0.01, n)), index=idx)


def _decode(col: Any) -> np.ndarray:
    if isinstance(col, dict):  # a plotly.js typed array
        import base64

        a = np.frombuffer(base64.b64decode(col["bdata"]), dtype=np.dtype(col["dtype"]))
        return a.reshape([int(x) for x in col["shape"].split(",")]) if "shape" in col else a
    return np.asarray(col)


def _written(spec: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The data and layout of a figure as the page carries them."""
    page = charts.figure_html(spec, first=False, div_id="f")
    body = page[page.index('"f",', page.index("Plotly.newPlot(")) + 4:].lstrip()
    dec = json.JSONDecoder()
    data, end = dec.raw_decode(body)
    rest = body[end:]
    layout, _ = dec.raw_decode(rest[rest.index("{"):])
    return data, layout


def test_chart_dicts_when_written_then_carry_the_series_values_and_dates() -> None:
    eq, bench, spy = _series(300, 100_000.0, 1), _series(300, 100_000.0, 2), _series(250, 1, 3)
    data, layout = _written(charts.equity_figure_spec(eq, bench, log=True,
                                                      with_drawdown=False, others={"SPY": spy}))
    assert [t["name"] for t in data] == ["strategy", "benchmark (equal-weight buy-and-hold)",
                                         "SPY"]
    for trace, s in zip(data, (eq, bench, spy), strict=True):
        assert pd.DatetimeIndex(trace["x"]).equals(pd.DatetimeIndex(s.index))
        assert np.array_equal(_decode(trace["y"]), s.to_numpy())
    assert layout["yaxis"]["type"] == "log" and layout["updatemenus"]
    assert layout["template"] == pio.templates["plotly_white"].to_plotly_json()

    data, _ = _written(charts.underwater_figure_spec(eq, bench))
    assert np.array_equal(_decode(data[0]["y"]), charts.drawdown(eq).to_numpy() * 100)
    assert np.array_equal(_decode(data[1]["y"]), charts.drawdown(bench).to_numpy() * 100)

    data, _ = _written(charts.monthly_heatmap_spec(eq))
    table = charts.monthly_returns(eq)
    assert np.array_equal(_decode(data[0]["z"]), table.to_numpy() * 100, equal_nan=True)
    assert data[0]["y"] == [str(y) for y in table.index]

    data, _ = _written(charts.rolling_sharpe_figure_spec(eq, bench))
    rs = charts.rolling_sharpe(eq)
    assert pd.DatetimeIndex(data[0]["x"]).equals(pd.DatetimeIndex(rs.index))
    assert np.array_equal(_decode(data[0]["y"]), rs.to_numpy())

    data, _ = _written(charts.returns_histogram_spec(eq, bench))
    assert np.array_equal(_decode(data[1]["x"]), bench.pct_change().dropna().to_numpy() * 100)


class _Trade:
    def __init__(self, opened: pd.Timestamp, closed: pd.Timestamp | None) -> None:
        self.opened_at, self.closed_at = opened, closed
        self.entry_price, self.exit_price = Decimal("10.5"), Decimal("11") if closed else None
        self.stop_loss, self.take_profit = Decimal("9.5"), None


def test_chart_dicts_when_written_then_byte_for_byte_what_plotly_writes() -> None:
    eq = _series(120, 100_000.0, 4)
    eq.iloc[5] = np.nan  # written as null, as plotly writes it
    idx = eq.index
    specs = [charts.equity_figure_spec(eq, eq * 1.01, log=True, with_drawdown=False),
             charts.equity_figure_spec(eq, eq * 1.01), charts.underwater_figure_spec(eq),
             charts.monthly_heatmap_spec(eq), charts.rolling_sharpe_figure_spec(eq),
             charts.returns_histogram_spec(eq),
             charts.price_figure_spec("A</script>", eq, [_Trade(idx[3], idx[9]),
                                                         _Trade(idx[50], None)])]
    for spec in specs:
        for first in (True, False):
            mine = charts.figure_html(spec, first=first, div_id="d")
            theirs = pio.to_html(charts._plain(spec), full_html=False, validate=False,
                                 include_plotlyjs="inline" if first else False,
                                 config={"displaylogo": False}, div_id="d")
            assert mine == theirs
    assert "A</script>" not in charts.figure_html(specs[-1], first=False)


@pytest.mark.parametrize("drawdown", [True, False])
def test_equity_dict_when_panels_then_axes_laid_out_as_make_subplots(drawdown: bool) -> None:
    eq = _series(30, 100.0, 5)
    spec = charts.equity_figure_spec(eq, eq * 2, with_drawdown=drawdown)
    ref = make_subplots(rows=2 if drawdown else 1, cols=1, shared_xaxes=True,
                        vertical_spacing=0.05, row_heights=[0.7, 0.3] if drawdown else [1.0])
    want = {k: v for k, v in ref.to_plotly_json()["layout"].items() if "axis" in k}
    got = {k: {a: b for a, b in v.items() if a in ("anchor", "domain", "matches",
                                                      "showticklabels")}
           for k, v in spec["layout"].items() if "axis" in k}
    assert got == want
    assert {(t["xaxis"], t["yaxis"]) for t in spec["data"]} == (
        {("x", "y"), ("x2", "y2")} if drawdown else {("x", "y")})


def test_dashboard_figures_when_built_from_dicts_then_validated_figures_of_the_series(
) -> None:
    eq, bench = _series(80, 100.0, 6), _series(80, 100.0, 7)
    fig = charts.equity_figure(eq, bench, others={"SPY": bench})
    assert [t.name for t in fig.data] == [
        "strategy", "benchmark (equal-weight buy-and-hold)", "SPY", "strategy drawdown %",
        "benchmark drawdown %"]
    assert np.array_equal(fig.data[0].y, eq.to_numpy())
    assert np.array_equal(fig.data[3].y, charts.drawdown(eq).to_numpy() * 100)
    assert pd.DatetimeIndex(fig.data[1].x).equals(pd.DatetimeIndex(bench.index))
    assert fig.layout.template.layout.paper_bgcolor == "white"  # plotly_white, expanded
    heat = charts.monthly_heatmap(eq)
    assert np.array_equal(heat.data[0].z, charts.monthly_returns(eq).to_numpy() * 100,
                          equal_nan=True)
    rs = charts.rolling_sharpe_figure(eq, bench, window=20)
    assert np.array_equal(rs.data[1].y, charts.rolling_sharpe(bench, 20).to_numpy())
    assert len(charts.underwater_figure(eq, bench).data) == 2
    assert charts.returns_histogram(eq).data[0].nbinsx == 60


# ---------------------------------------------------------------- equity.png

def _curve(n: int) -> tuple[list[datetime], list[float]]:
    t0 = datetime(2021, 1, 4, 21, tzinfo=UTC)
    rng = np.random.default_rng(7)
    values = 100_000 * np.cumprod(1 + rng.normal(0.0, 0.01, n))
    return [t0 + timedelta(days=i) for i in range(n)], values.tolist()


def _colours(png: bytes) -> set[tuple[int, int, int]]:
    img = Image.open(io.BytesIO(png))
    assert img.format == "PNG" and img.size == (WIDTH, HEIGHT)
    return {c for _, c in img.convert("RGB").getcolors(WIDTH * HEIGHT)}


def _near(colours: set[tuple[int, int, int]], rgb: tuple[int, int, int]) -> bool:
    return any(sum(abs(a - b) for a, b in zip(c, rgb, strict=True)) <= 12 for c in colours)


@pytest.mark.parametrize("n", [500, 40])
def test_equity_png_when_curve_then_picture_with_line_and_drawdown(n: int) -> None:
    ts, values = _curve(n)
    png = equity_png(ts, values, "Catalyst Trader - run r")
    colours = _colours(png)
    assert _near(colours, (31, 119, 180))  # the equity line
    assert _near(colours, (234, 147, 147))  # the drawdown fill
    grey = np.asarray(Image.open(io.BytesIO(png)).convert("L"))
    assert int((grey < 128).sum()) > 2_000  # text, frames, the line


@pytest.mark.parametrize("n", [0, 1])
def test_equity_png_when_no_or_one_value_then_still_a_picture(n: int) -> None:
    ts, values = _curve(n)
    assert len(_colours(equity_png(ts, values, "empty"))) > 2


@given(st.floats(-1e7, 1e7, allow_nan=False), st.floats(1e-6, 1e7, allow_nan=False))
@example(8388608.505859375, 0.0078125)  # ranges too narrow for their magnitude: the
@example(1244237.0, 1e-06)  # steps are at the float spacing there, only inside the range
def test_nice_ticks_when_any_range_then_round_steps_inside_it(lo: float, span: float) -> None:
    hi = lo + span
    ticks = nice_ticks(lo, hi)
    if hi <= lo:  # the span vanished in the float sum
        return
    assert ticks and len(ticks) <= 8
    assert all(lo - span * 1e-6 <= t <= hi + span * 1e-6 for t in ticks)
    steps = np.diff(ticks)
    if len(steps) and span > abs(lo) * 1e-6:
        step = steps[0]
        mantissa = step / 10 ** np.floor(np.log10(step))
        assert any(abs(mantissa - m) < 1e-3 for m in (1, 2, 2.5, 5, 10))
        assert np.allclose(steps, step, rtol=1e-3)


def test_report_when_written_then_png_drawn_without_matplotlib(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = (
        "import sys; from datetime import datetime, UTC, timedelta; from decimal import Decimal\n"
        "from domain.audit import PortfolioSnapshot\n"
        "from adapters.reporting.trading_report import write_report\n"
        "s = [PortfolioSnapshot(ts=datetime(2021,1,4,tzinfo=UTC)+timedelta(days=i), "
        "cash=Decimal(100+i), equity=Decimal(100+i%7), long_market_value=Decimal(0), "
        "short_market_value=Decimal(0), open_positions=0, daily_pnl=Decimal(0), "
        "cumulative_pnl=Decimal(0), run_id='r') for i in range(30)]\n"
        f"write_report({str(tmp_path / 'r')!r}, run_id='r', snapshots=s, closed=[], "
        "metrics={})\n"
        "print(sorted(m for m in ('matplotlib', 'plotly.graph_objs._figure') "
        "if m in sys.modules))\n")
    root = Path(__file__).resolve().parents[4]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=root, env={**os.environ, "PYTHONPATH": str(root)})
    assert out.stdout.strip() == "[]"
    assert re.match(rb"\x89PNG", (tmp_path / "r" / "equity.png").read_bytes())
