"""A database filled by a real (small) backtest, for the dashboard's tests."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from tests.e2e.trading_cli_support import catalyst, make_small_data

RUN = "dash"


def backtest_database(d: Path) -> tuple[str, Path, dict[str, object]]:
    """Run ``catalyst backtest --run dash`` on two years of five sample tickers into a SQLite
    database under ``d``, the report in ``d/reports/dash``; return the URL, the price file and
    the command's JSON summary."""
    data = make_small_data(d)
    url = f"sqlite:///{d}/dash.db"
    res = catalyst(["backtest", "--data", str(data / "prices.csv"), "--alerts",
                    str(data / "alerts.jsonl"), "--db", url, "--run", RUN, "--json",
                    "--report", str(d / "reports" / RUN)], d,
                   env={"CATALYST_HOME": str(d)})
    assert res.exit_code == 0, res.output[-3000:]
    return url, data / "prices.csv", json.loads(res.stdout)


def buy_and_hold(prices: Path, tickers: set[str], start: str, end: str) -> float:
    """Equal-weight buy-and-hold return of ``tickers`` from ``start`` to ``end`` (dates),
    computed straight from the CSV: the mean of last close / first close, minus one."""
    df = pd.read_csv(prices)
    df = df[df.ticker.isin(tickers) & (df.date >= start) & (df.date <= end)].sort_values("date")
    g = df.groupby("ticker")["close"]
    return float((g.last() / g.first()).mean() - 1.0)
