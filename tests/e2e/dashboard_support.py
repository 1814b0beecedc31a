"""A database filled by a real (small) backtest, for the dashboard's tests."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from tests.agent_support import register_tiny_agent
from tests.e2e.trading_cli_support import catalyst, make_small_data

RUN = "dash"
#: a run in the same database traded by a deployed agent (run before ``RUN``: ``RUN`` stays the
#: latest, the dashboard's default)
AGENT_RUN = "dash-agent"
AGENT = "msft"


def agent_registry(d: Path) -> dict[str, str]:
    """Register a tiny PPO model ``msft`` (versions 1 and 2, 1 in production) in a registry
    of its own under ``d/agent-models`` (:func:`tests.agent_support.register_tiny_agent`);
    return the environment that points the CLI at it."""
    root = register_tiny_agent(d, AGENT, folder="agent-models")
    return {"CATALYST_MODELS": str(root), "CATALYST_MODELS_DB": "none"}


def backtest_database(d: Path, *, with_agent: bool = False) -> tuple[str, Path, dict[str, object]]:
    """Run ``catalyst backtest --run dash`` on two years of five sample tickers into a SQLite
    database under ``d``, the report in ``d/reports/dash``; return the URL, the price file and
    the command's JSON summary. ``with_agent``: first run ``catalyst backtest --agent msft``
    into the same database as run ``dash-agent`` (its agent status under ``d/agents/``)."""
    data = make_small_data(d)
    url = f"sqlite:///{d}/dash.db"
    if with_agent:
        res = catalyst(["backtest", "--data", str(data / "prices.csv"), "--alerts",
                        str(data / "alerts.jsonl"), "--agent", f"{AGENT}:MSFT,AAPL",
                        "--threshold", "0.1", "--db", url, "--run", AGENT_RUN, "--json",
                        "--no-progress", "--report", str(d / "reports" / AGENT_RUN)], d,
                       env={"CATALYST_HOME": str(d), **agent_registry(d)})
        assert res.exit_code == 0, res.output[-3000:]
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
