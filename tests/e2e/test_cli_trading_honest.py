"""What ``catalyst backtest`` / ``run`` tell the user: the costs charged, a latched circuit
breaker, bad input, and a leftover kill file.

Costs are checked fill by fill against the bars; the breaker, bad input and the kill file must
show in the summary table, ``--json``, ``metrics.json`` and the HTML report, and failures exit
non-zero with the reason on stderr.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from trading_cli_support import catalyst, make_small_data

from application.ports import UnitOfWork

pytestmark = pytest.mark.slow
NY = ZoneInfo("America/New_York")


@pytest.fixture(scope="module")
def small_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_small_data(tmp_path_factory.mktemp("data"))


def sql_uow(db: Path) -> UnitOfWork:
    """A unit of work on the run the command wrote: "backtest" in backtest.db, else "default"."""
    from adapters.sqlalchemy import make_engine, sql_uow_factory

    run = "backtest" if db.name == "backtest.db" else "default"
    return cast(UnitOfWork, sql_uow_factory(make_engine(f"sqlite:///{db}"), run_id=run)())


def backtest(data: Path, cwd: Path, *args: str, env: dict[str, str] | None = None,
             alerts: Path | None = None, code: int = 0) -> tuple[dict[str, Any], str]:
    r = catalyst(["backtest", "--data", str(data / "prices.csv"), "--alerts",
                  str(alerts or data / "alerts.jsonl"), "--json", "--no-progress", *args],
                 cwd, env)
    assert r.exit_code == code, r.output[-3000:]
    assert "Traceback" not in r.stderr
    out: dict[str, Any] = json.loads(r.stdout)
    out["report"] = str(cwd / out["report"])  # the CLI prints it relative to its folder
    return out, r.stderr


def fills(db: Path) -> list[tuple[str, str, Decimal, Decimal, Decimal, datetime]]:
    """(ticker, side, quantity, price, commission, time) of every fill."""
    with sql_uow(db) as u:
        return [(o.ticker, o.side.value, f.quantity, f.price, f.commission, f.ts_event)
                for o in u.orders.list() for f in u.fills.for_order(o.client_order_id)]


def bar_of(prices: pd.DataFrame, ticker: str, ts: datetime) -> pd.Series:
    day = ts.astimezone(NY).date().isoformat()
    row = prices[(prices.ticker == ticker) & (prices.date == day)]
    assert len(row) == 1, (ticker, day)
    return row.iloc[0]


# --- costs -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("args", "env", "bps", "slip"), [
    ((), {}, 10.0, 5.0),  # the defaults, the RL env's
    (("--commission-bps", "2", "--slippage-bps", "20"), {}, 2.0, 20.0),
    (("--slippage-model", "spread", "--spread-bps", "10"),
     {"CATALYST_COSTS__SLIPPAGE_BPS": "0", "CATALYST_COSTS__COMMISSION_BPS": "0"}, 0.0, 5.0),
    (("--commission-bps", "0", "--slippage-bps", "0"), {}, 0.0, 0.0),
], ids=["defaults", "flags", "env-and-spread-model", "free"])
def test_backtest_when_costs_configured_then_every_fill_charged_them(
        args: tuple[str, ...], env: dict[str, str], bps: float, slip: float, small_data: Path,
        tmp_path: Path) -> None:
    out, _ = backtest(small_data, tmp_path, *args, env=env)
    assert out["costs"]["commission_bps"] == bps
    prices = pd.read_csv(small_data / "prices.csv")
    seen = fills(tmp_path / "var" / "backtest.db")
    assert len(seen) >= 2 * out["closed_trades"] > 20
    market = 0
    for ticker, side, q, px, comm, ts in seen:
        assert abs(comm - q * px * Decimal(repr(bps)) / 10_000) <= Decimal("0.000001")
        bar = bar_of(prices, ticker, ts)
        sign = 1 if side == "buy" else -1
        slipped = min(max(bar.open * (1 + sign * slip * 1e-4), bar.low), bar.high)
        if abs(float(px) - round(slipped, 4)) < 1e-9:
            market += 1  # a market fill at the open (stops and targets fill at their levels)
    assert market >= out["closed_trades"]  # every entry at least is a slipped market fill
    trades = pd.read_csv(Path(out["report"]).parent / "trades.csv")
    assert (trades["commission"] > 0).all() if bps else (trades["commission"] == 0).all()
    assert Decimal(out["commission_paid"]) == sum((f[4] for f in seen), Decimal(0))
    html = Path(out["report"]).read_text()
    assert f"costs: {out['costs_text']}" in html
    assert f"commission {bps:g} bps" in out["costs_text"] if bps else \
        "commission none" in out["costs_text"]


def test_backtest_when_costs_flag_invalid_then_exit_2_naming_the_flag(
        small_data: Path, tmp_path: Path) -> None:
    r = catalyst(["backtest", "--data", str(small_data / "prices.csv"), "--commission-bps",
                  "-3"], tmp_path)
    assert r.exit_code == 2 and "--commission-bps -3.0" in r.stderr and ">= 0" in r.stderr
    r = catalyst(["backtest", "--slippage-model", "random"], tmp_path)
    assert r.exit_code == 2 and "--slippage-model 'random'" in r.stderr


def test_run_when_costs_from_env_then_charged_per_order(small_data: Path, tmp_path: Path
                                                        ) -> None:
    r = catalyst(["run", "--broker", "sim", "--data", str(small_data / "prices.csv"),
                  "--alerts", str(small_data / "alerts.jsonl"), "--json", "--no-progress"],
                 tmp_path, {"CATALYST_COSTS__COMMISSION_BPS": "0",
                            "CATALYST_COSTS__COMMISSION_PER_ORDER": "1.5"})
    assert r.exit_code == 0, r.output[-3000:]
    out = json.loads(r.stdout)
    seen = fills(tmp_path / "var" / "catalyst.db")
    assert seen and all(f[4] == Decimal("1.5") for f in seen)
    assert out["costs_text"] == "commission $1.5/order; slippage 5 bps"


# --- the circuit breaker ---------------------------------------------------------------------
def test_backtest_when_breaker_latches_then_reported_everywhere_with_date_and_refusals(
        small_data: Path, tmp_path: Path) -> None:
    env = {"CATALYST_RISK__MAX_CONSECUTIVE_LOSSES": "1"}
    out, err = backtest(small_data, tmp_path, env=env)
    b = out["breaker"]
    assert b["latched"] and b["state"] == "reducing" and b["rules"] == ["consecutive_losses"]
    assert b["refused_signals"] > 0 and b["refused_signals"] == b["risk_rejections"][
        "trading_state"]
    since = b["since"][:10]
    assert b["trips"][0]["at"][:10] == since and not b["auto_resumes"]
    assert f"circuit breaker REDUCING since {since}" in " ".join(err.split())
    report = Path(out["report"])
    html = report.read_text()
    assert f"circuit breaker REDUCING since {since} (consecutive_losses); " \
           f"{b['refused_signals']} signals refused" in html
    stored = json.loads((report.parent / "metrics.json").read_text())
    assert stored["breaker"]["since"] == b["since"]
    # the table a user reads
    r = catalyst(["backtest", "--data", str(small_data / "prices.csv"), "--alerts",
                  str(small_data / "alerts.jsonl"), "--no-progress"], tmp_path, env)
    assert r.exit_code == 0
    text = " ".join(r.stdout.split())
    assert f"breaker REDUCING since {since}" in text
    assert f"refused_signals │ {b['refused_signals']}" in text


def test_backtest_when_auto_resume_then_resumed_after_each_trip_and_said_so(
        small_data: Path, tmp_path: Path) -> None:
    env = {"CATALYST_RISK__MAX_CONSECUTIVE_LOSSES": "1"}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    latched, _ = backtest(small_data, tmp_path / "a", env=env)
    out, err = backtest(small_data, tmp_path / "b", "--auto-resume", env=env)
    b = out["breaker"]
    assert b["auto_resume"] and b["auto_resumes"] >= 2 and len(b["trips"]) >= b["auto_resumes"]
    assert b["refused_signals"] < latched["breaker"]["refused_signals"]
    assert out["closed_trades"] > latched["closed_trades"]
    assert "--auto-resume" in err and "simulated operator resume" in err
    assert "--auto-resume" in Path(out["report"]).read_text()
    with sql_uow(tmp_path / "b" / "var" / "backtest.db") as u:
        resumes = [e for e in u.journal.risk_events() if e.kind == "resume"]
    assert len(resumes) == b["auto_resumes"]
    assert {e.actor for e in resumes} == {"backtest --auto-resume"}
    for trip, resume in zip(b["trips"], resumes, strict=False):
        # resumed after the close of the trip's session, never before the trip
        assert resume.ts_event >= datetime.fromisoformat(trip["at"])


# --- bad input -------------------------------------------------------------------------------
def _bad_lines(n: int) -> list[str]:
    return [json.dumps({"id": f"bad-{i}", "ticker": "AAPL", "known_at": "2013-05-01T13:30:00Z"})
            for i in range(n)]


@pytest.mark.parametrize(("good", "bad"), [(0, 8), (3, 9)], ids=["wholly-bad", "mostly-bad"])
def test_backtest_when_alerts_mostly_bad_then_exit_1_saying_why_even_with_json(
        good: int, bad: int, small_data: Path, tmp_path: Path) -> None:
    lines = (small_data / "alerts.jsonl").read_text().splitlines()[:good] + _bad_lines(bad)
    f = tmp_path / "alerts.jsonl"
    f.write_text("\n".join(lines) + "\n")
    out, err = backtest(small_data, tmp_path, alerts=f, code=1)
    assert out["input_ok"] is False and out["bad_alert_lines"] == bad
    flat = " ".join(err.split())
    assert f"error: {bad} of {good + bad} alert lines in {f} were bad" in flat
    assert "skipped alert" in err and "missing field" in err  # the lines, on stderr
    assert f"bad input: {bad} of {good + bad}" in Path(out["report"]).read_text()


def test_run_when_alerts_mostly_bad_then_exit_1_too(small_data: Path, tmp_path: Path) -> None:
    lines = (small_data / "alerts.jsonl").read_text().splitlines()[:2] + _bad_lines(5)
    f = tmp_path / "alerts.jsonl"
    f.write_text("\n".join(lines) + "\n")
    r = catalyst(["run", "--broker", "sim", "--data", str(small_data / "prices.csv"),
                  "--alerts", str(f), "--json", "--no-progress"], tmp_path)
    assert r.exit_code == 1, r.output[-2000:]
    assert json.loads(r.stdout)["input_ok"] is False
    assert f"5 of 7 alert lines in {f} were bad" in " ".join(r.stderr.split())


def test_backtest_when_no_alert_at_all_then_exit_1(small_data: Path, tmp_path: Path) -> None:
    f = tmp_path / "empty.jsonl"
    f.write_text("\n")
    out, err = backtest(small_data, tmp_path, alerts=f, code=1)
    assert "no valid alert" in err and out["signals"] == 0


@pytest.mark.parametrize("kind", ["csv", "parquet", "jsonl-named-csv"])
def test_backtest_when_price_file_given_as_alerts_then_refused_exit_2(
        kind: str, small_data: Path, tmp_path: Path) -> None:
    prices = pd.read_csv(small_data / "prices.csv")
    if kind == "parquet":
        f = tmp_path / "prices.parquet"
        prices.to_parquet(f)
    else:
        f = tmp_path / ("prices.csv" if kind == "csv" else "prices.jsonl")
        prices.to_csv(f, index=False)
    first, _ = backtest(small_data, tmp_path)  # a previous backtest stays in place
    db = tmp_path / "var" / "backtest.db"
    before = db.stat().st_mtime_ns
    for command in (["backtest"], ["run", "--broker", "sim"]):
        r = catalyst([*command, "--data", str(small_data / "prices.csv"), "--alerts", str(f),
                      "--json", "--no-progress"], tmp_path)
        assert r.exit_code == 2, r.output
        flat = " ".join(r.stderr.split())
        assert f"--alerts '{f}'" in flat and "pass prices as --data" in flat
        assert "price file" in flat and "skipped alert" not in flat
    assert db.stat().st_mtime_ns == before


def test_backtest_when_alerts_before_a_tickers_first_bar_then_reported(
        small_data: Path, tmp_path: Path) -> None:
    prices = pd.read_csv(small_data / "prices.csv")
    late = prices[~((prices.ticker == "JPM") & (prices.date < "2014-01-01"))]
    d = tmp_path / "d"
    d.mkdir()
    late.to_csv(d / "prices.csv", index=False)
    out, err = backtest(d, tmp_path, alerts=small_data / "alerts.jsonl")
    early = out["signals_before_first_bar"]
    assert list(early) == ["JPM"] and early["JPM"]["signals"] >= 1
    first = late[late.ticker == "JPM"].date.min()
    assert early["JPM"]["first_bar"] == first
    msg = f"{early['JPM']['signals']} signal(s) for JPM came before its first bar ({first})"
    assert msg in " ".join(err.split()) and msg in Path(out["report"]).read_text()


# --- the kill file -----------------------------------------------------------------------------
def test_backtest_when_live_kill_file_exists_then_ignored_with_a_warning(
        small_data: Path, tmp_path: Path) -> None:
    (tmp_path / "ref").mkdir()
    ref, _ = backtest(small_data, tmp_path / "ref")
    r = catalyst(["risk", "kill", "--reason", "test", "--by", "tester"], tmp_path)
    assert r.exit_code == 0, r.output
    assert (tmp_path / "KILL").exists()
    out, err = backtest(small_data, tmp_path)
    assert out["closed_trades"] == ref["closed_trades"] > 0 and not out["breaker"]["killed"]
    assert out["kill_file_ignored"] == str(tmp_path / "KILL")
    assert "kill file" in err and "ignored" in err
    # `run` is paper trading: it obeys the kill file
    r = catalyst(["run", "--broker", "sim", "--data", str(small_data / "prices.csv"),
                  "--alerts", str(small_data / "alerts.jsonl"), "--json", "--no-progress",
                  "--db", f"sqlite:///{tmp_path}/run.db"], tmp_path)
    assert r.exit_code == 0, r.output[-2000:]
    run = json.loads(r.stdout)
    assert run["breaker"]["killed"] and run["closed_trades"] == 0


# --- single-ticker files -----------------------------------------------------------------------
def test_backtest_when_single_ticker_file_then_ticker_option_named_and_working(
        small_data: Path, tmp_path: Path) -> None:
    prices = pd.read_csv(small_data / "prices.csv")
    one = prices[prices.ticker == "AAPL"].drop(columns=["ticker"])
    (tmp_path / "d").mkdir()
    one.to_csv(tmp_path / "d" / "prices.csv", index=False)
    aapl = [x for x in (small_data / "alerts.jsonl").read_text().splitlines() if '"AAPL"' in x]
    (tmp_path / "aapl.jsonl").write_text("\n".join(aapl) + "\n")
    r = catalyst(["backtest", "--data", str(tmp_path / "d" / "prices.csv"), "--alerts",
                  str(tmp_path / "aapl.jsonl"), "--json", "--no-progress"], tmp_path)
    assert r.exit_code == 2 and "pass --ticker" in r.stderr
    out, _ = backtest(tmp_path / "d", tmp_path, "--ticker", "AAPL", alerts=tmp_path / "aapl.jsonl")
    assert out["signals"] > 0 and out["bad_alert_lines"] == 0
