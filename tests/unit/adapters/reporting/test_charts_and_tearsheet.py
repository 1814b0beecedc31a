"""The chart module's numbers and the tearsheet: benchmark metrics equal empyrical's, the
page works offline (plotly.js inline, once), and the reports index links the latest run."""

from __future__ import annotations

import os
import re
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import empyrical
import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.reporting import charts
from adapters.reporting.trading_report import write_report
from domain.analytics.metrics import max_drawdown, returns_from_equity
from domain.audit import PortfolioSnapshot
from entrypoints.dashboard.container import DashboardConfig, check_admin

curves = st.lists(st.floats(min_value=0.5, max_value=2.0), min_size=2, max_size=300)


def _equity(factors: list[float]) -> pd.Series:
    values = np.cumprod([100_000.0, *factors])
    idx = pd.bdate_range("2019-12-02", periods=len(values))
    return pd.Series(values, index=idx, dtype=float)


@given(curves)
def test_monthly_returns_when_compounded_then_equal_total_return(factors: list[float]) -> None:
    eq = _equity(factors)
    table = charts.monthly_returns(eq)
    total = float(np.prod(1 + table.stack().dropna().to_numpy()) - 1)
    assert total == pytest.approx(eq.iloc[-1] / eq.iloc[0] - 1, rel=1e-9, abs=1e-9)
    yearly = charts.yearly_returns(eq)
    assert float(np.prod(1 + yearly.to_numpy()) - 1) == pytest.approx(total, rel=1e-9,
                                                                      abs=1e-9)


@given(curves)
def test_drawdown_periods_when_worst_then_equal_max_drawdown(factors: list[float]) -> None:
    eq = _equity(factors)
    worst = charts.drawdown_periods(eq, top=1)
    mdd = max_drawdown(returns_from_equity(eq.to_numpy()))
    if mdd == 0:
        assert worst.empty
    else:
        assert worst["depth"].iloc[0] == pytest.approx(mdd, rel=1e-9, abs=1e-12)
        assert charts.drawdown(eq).min() == pytest.approx(mdd, rel=1e-9, abs=1e-12)


def test_rolling_sharpe_when_window_ends_then_equal_empyrical_over_it() -> None:
    rng = np.random.default_rng(7)
    eq = _equity(list(1 + rng.normal(0.0005, 0.01, 200)))
    rs = charts.rolling_sharpe(eq, window=63)
    rets = eq.pct_change().dropna()
    assert rs.iloc[-1] == pytest.approx(empyrical.sharpe_ratio(rets.iloc[-63:]), rel=1e-9)


def _write_prices(path: Path, days: int) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    dates = pd.bdate_range("2021-01-04", periods=days)
    rows = []
    for t, drift in (("AAA", 0.001), ("BBB", -0.0005), ("CCC", 0.0002)):
        px = 50 * np.cumprod(1 + rng.normal(drift, 0.015, days))
        rows += [{"date": d.date().isoformat(), "ticker": t, "open": p, "high": p * 1.01,
                  "low": p * 0.99, "close": p, "volume": 1e6} for d, p in zip(dates, px,
                                                                                 strict=True)]
    df = pd.DataFrame(rows)
    df.to_csv(path, index=False)
    return df


def _snapshots(days: int) -> list[PortfolioSnapshot]:
    rng = np.random.default_rng(5)
    eq = 100_000 * np.cumprod(1 + rng.normal(0.0003, 0.004, days))
    dates = pd.bdate_range("2021-01-04", periods=days)
    return [PortfolioSnapshot(
        ts=datetime(d.year, d.month, d.day, 21, tzinfo=UTC), cash=Decimal(str(round(e, 2))),
        equity=Decimal(str(round(e, 2))), long_market_value=Decimal(0),
        short_market_value=Decimal(0), open_positions=i % 2, daily_pnl=Decimal(0),
        cumulative_pnl=Decimal(0), run_id="r") for i, (d, e) in enumerate(zip(dates, eq,
                                                                               strict=True))]


def test_tearsheet_when_prices_given_then_benchmark_beside_strategy_equal_to_empyrical(
        tmp_path: Path) -> None:
    prices = _write_prices(tmp_path / "prices.csv", 300)
    snaps = _snapshots(300)
    files = write_report(tmp_path / "reports" / "r", run_id="r", snapshots=snaps, closed=[],
                         metrics={"total_return": 0.1234, "sharpe": 1.5, "trades": 0},
                         extra={"risk_limits": {"max_drawdown_pct": "0.10"},
                                "costs": {"commission_bps": 10.0}},
                         notices=["costs: commission 10 bps"], prices=tmp_path / "prices.csv",
                         params={"threshold": 0.7})
    page = files.html.read_text()
    closes = prices.pivot(index="date", columns="ticker", values="close")
    bench = (closes / closes.iloc[0]).mean(axis=1) * float(snaps[0].equity)
    rets = bench.pct_change().dropna()
    row = dict(re.findall(r"<tr><th>([^<]+)</th><td>[^<]*</td><td>([^<]*)</td></tr>", page))
    assert row["Total return"] == f"{bench.iloc[-1] / bench.iloc[0] - 1:+.2%}"
    assert row["Sharpe"] == f"{empyrical.sharpe_ratio(rets):,.2f}"
    assert row["Sortino"] == f"{empyrical.sortino_ratio(rets):,.2f}"
    assert row["CAGR"] == f"{empyrical.annual_return(rets):+.2%}"
    assert row["Max drawdown"] == f"{empyrical.max_drawdown(rets):.2%}"
    assert "<td>+12.34%</td>" in page  # the strategy's own metric, as a percentage
    assert "Exposure (time in market)</th><td>50.00%" in page
    for heading in ("Equity and benchmark", "Underwater", "Monthly returns", "Yearly returns",
                    "Worst drawdowns", "Rolling Sharpe", "Return distribution", "Per ticker",
                    "Parameters", "Risk limits", "Cost assumptions", "Notices"):
        assert f">{heading}<" in page, heading
    # offline: plotly.js inline exactly once, nothing fetched from the network
    assert page.count("plotly.js v") == 1 or page.count("* plotly.js") == 1
    assert not re.search(r"<script[^>]+src=\"https?:", page)
    assert "max_drawdown_pct" in page and "commission_bps" in page and "threshold" in page


def test_index_when_two_reports_then_latest_links_the_newest(tmp_path: Path) -> None:
    snaps = _snapshots(30)
    old = write_report(tmp_path / "old", run_id="old", snapshots=snaps, closed=[],
                       metrics={"total_return": 0.01})
    past = time.time() - 3600
    os.utime(old.html, (past, past))
    write_report(tmp_path / "new", run_id="new", snapshots=snaps, closed=[],
                 metrics={"total_return": 0.02})
    index = (tmp_path / "index.html").read_text()
    assert '<a id="latest" href="new/report.html">latest: new</a>' in index
    assert index.index('href="new/report.html">new<') < index.index('href="old/report.html">old<')
    assert "+2.00%" in index and "+1.00%" in index


def _cfg(token: str | None) -> DashboardConfig:
    return DashboardConfig(run=None, data=None, admin_token=token, refresh_s=5.0,
                           reports_dir=Path("."))


def test_admin_guard_when_no_token_configured_then_everything_refused() -> None:
    assert check_admin(_cfg(None), "", "KILL", "KILL", "ann") is not None
    assert "disabled" in str(check_admin(_cfg(None), "x", "KILL", "KILL", "ann"))


@given(st.text(max_size=20), st.text(max_size=10), st.text(max_size=10))
def test_admin_guard_when_any_input_then_allowed_only_with_token_confirmation_and_name(
        typed: str, confirm: str, operator: str) -> None:
    ok = check_admin(_cfg("tok"), typed, confirm, "KILL", operator) is None
    assert ok == (typed == "tok" and confirm.strip() == "KILL" and bool(operator.strip()))


def test_admin_guard_when_all_given_then_allowed() -> None:
    assert check_admin(_cfg("tok"), "tok", " KILL ", "KILL", "ann") is None


def test_tearsheet_when_data_has_spy_then_spy_drawn_beside_the_benchmark(
        tmp_path: Path) -> None:
    df = _write_prices(tmp_path / "prices.csv", 60)
    spy = df[df.ticker == "AAA"].assign(ticker="SPY")
    pd.concat([df, spy]).to_csv(tmp_path / "with_spy.csv", index=False)
    snaps = _snapshots(60)
    with_spy = write_report(tmp_path / "a", run_id="a", snapshots=snaps, closed=[],
                            metrics={}, prices=tmp_path / "with_spy.csv").html.read_text()
    without = write_report(tmp_path / "b", run_id="b", snapshots=snaps, closed=[],
                           metrics={}, prices=tmp_path / "prices.csv").html.read_text()
    assert '"name":"SPY buy-and-hold"' in with_spy
    assert "SPY buy-and-hold" not in without


def test_tearsheet_when_headlines_stored_then_trade_table_shows_them_before_the_alert_file(
        tmp_path: Path) -> None:
    import attrs

    from tests.unit.domain.analytics.test_metrics import closed

    trades = [attrs.evolve(closed("AAA", "300", 2, 0), signal_id="sig-a1",
                           metadata={"alert_id": "a1"}),
              attrs.evolve(closed("BBB", "-100", 3, 1), signal_id="sig-b1",
                           metadata={"alert_id": "b1"}),
              attrs.evolve(closed("CCC", "50", 1, 2), signal_id="agent:m@1:CCC:x")]
    alerts = tmp_path / "alerts.jsonl"
    alerts.write_text(
        '{"id": "a1", "ticker": "AAA", "known_at": "2024-01-01T12:00:00Z", '
        '"catalyst_type": "earnings", "headline": "from the file", "score": 0.5}\n'
        '{"id": "b1", "ticker": "BBB", "known_at": "2024-01-02T12:00:00Z", '
        '"catalyst_type": "earnings", "headline": "BBB misses", "score": 0.5}\n')
    files = write_report(tmp_path / "r", run_id="r", snapshots=_snapshots(10), closed=trades,
                         metrics={}, alerts=alerts, headlines={"sig-a1": "AAA beats"})
    page = files.html.read_text()
    table = page[page.index("<h2>Trades (3)</h2>"):]
    assert "<th>headline</th>" in table
    rows = re.findall(r"<tr><td>(AAA|BBB|CCC)</td>.*?</tr>", table)
    assert rows == ["AAA", "BBB", "CCC"]
    assert "AAA beats" in table and "from the file" not in table  # stored first
    assert "BBB misses" in table  # the file fills in what is not stored
    only_stored = write_report(tmp_path / "s", run_id="s", snapshots=_snapshots(10),
                               closed=trades, metrics={}, headlines={"sig-a1": "AAA beats"})
    assert "AAA beats" in only_stored.html.read_text()
    none = write_report(tmp_path / "n", run_id="n", snapshots=_snapshots(10), closed=trades,
                        metrics={})
    assert "<th>headline</th>" not in none.html.read_text()
