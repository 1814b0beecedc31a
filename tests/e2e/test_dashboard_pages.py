"""The dashboard's pages through Streamlit's ``AppTest``, on a database a real backtest filled.

Each page is rendered by the real script (``entrypoints/dashboard/app.py``) against the
backtest's SQLite database; what it shows is checked against the read models and, for the
benchmark, against buy-and-hold computed straight from the price file. The kill control is
disabled without an admin token, refuses a wrong token or confirmation, and latches the run's
breaker with the right ones; resume brings it back.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest
from trading_cli_support import empty_config

from adapters.sqlalchemy import make_engine, sql_uow_factory
from application import views
from tests.e2e.dashboard_support import AGENT_RUN, RUN, backtest_database, buy_and_hold

pytestmark = pytest.mark.slow

APP = str(Path(__file__).resolve().parents[2] / "entrypoints" / "dashboard" / "app.py")
TOKEN = "s3cret-admin"


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, Path]:
    d = tmp_path_factory.mktemp("dashboard")
    url, prices, _ = backtest_database(d, with_agent=True)
    return url, prices, d


@pytest.fixture
def env(db: tuple[str, Path, Path], tmp_path: Path) -> Iterator[dict[str, str]]:
    """The dashboard's environment; the app's cached container is dropped around each test."""
    url, prices, d = db
    saved = dict(os.environ)
    values = {"CATALYST_DATABASE_URL": url, "CATALYST_DASHBOARD_DATA": str(prices),
              "CATALYST_DASHBOARD_ALERTS": str(d / "alerts.jsonl"),
              "CATALYST_HOME": str(d), "CATALYST_KILL_FILE": str(tmp_path / "KILL"),
              "CATALYST_CONFIG": empty_config(tmp_path), "CATALYST_LOG_LEVEL": "WARNING"}
    os.environ.pop("CATALYST_DASHBOARD_ADMIN_TOKEN", None)
    os.environ.update(values)
    st.cache_resource.clear()
    st.cache_data.clear()
    main_module = sys.modules["__main__"]  # AppTest installs the app as __main__ for good
    try:
        yield values
    finally:
        sys.modules["__main__"] = main_module
        os.environ.clear()
        os.environ.update(saved)
        st.cache_resource.clear()


def _page(name: str, **extra_env: str) -> AppTest:
    os.environ.update(extra_env)
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["page"] = name
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _uow(url: str, run: str = RUN) -> Any:
    return sql_uow_factory(make_engine(url))().for_run(run)


def _texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [h.value for h in at.header] + \
        [h.value for h in at.subheader] + [c.value for c in at.caption] + \
        [i.value for i in at.info] + [e.value for e in at.error] + \
        [s.value for s in at.success] + [w.value for w in at.warning]
    return "\n".join(str(p) for p in parts)


def test_portfolio_when_backtest_stored_then_equity_benchmark_and_trades_shown(
        env: dict[str, str], db: tuple[str, Path, Path]) -> None:
    url, prices, _ = db
    at = _page("Portfolio")
    uow = _uow(url)
    acct = views.account(uow, RUN)
    trades = views.trade_log(uow)
    assert acct is not None and trades
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Equity"] == f"{float(acct.equity):,.2f}"
    curve = views.equity_curve(uow)
    ret = float(curve[-1].equity) / float(curve[0].equity) - 1
    assert metrics["Return"] == f"{ret:+.2%}"
    tickers = {t.ticker for t in trades}
    universe = set(pd.read_csv(prices).ticker)
    bench = buy_and_hold(prices, universe, curve[0].ts.date().isoformat(),
                         curve[-1].ts.date().isoformat())
    assert metrics["Benchmark return"] == f"{bench:+.2%}"
    assert "equal-weight buy-and-hold of " + ", ".join(sorted(universe)) in _texts(at)
    frames = {sh.value: df for sh, df in zip(
        [s for s in at.subheader if s.value != "Price chart"], at.dataframe, strict=False)}
    log = frames[f"Trade log ({len(trades)})"].value
    assert len(log) == len(trades)
    assert list(log["alert"]) == [t.alert_id for t in trades]
    assert log["alert"].str.startswith("earnings-").all()  # the alert behind each trade
    alerts = {a["id"]: a["headline"] for a in map(
        json.loads, (db[2] / "alerts.jsonl").read_text().splitlines())}
    assert list(log["headline"]) == [alerts[t.alert_id] for t in trades]
    assert log["headline"].str.contains("EPS surprise").all()
    per_ticker = frames["Per-ticker results"].value
    assert set(per_ticker["ticker"]) == tickers
    assert per_ticker["P&L"].sum() == pytest.approx(
        sum(float(t.realized_pnl) for t in trades), abs=0.05)
    assert len(frames["Orders"].value) == len(views.orders(uow))
    assert at.selectbox(key="price_ticker").options == sorted(tickers)


def test_risk_when_no_admin_token_then_kill_disabled(env: dict[str, str],
                                                     db: tuple[str, Path, Path]) -> None:
    at = _page("Risk")
    text = _texts(at)
    assert "State: :green[ACTIVE]" in text
    assert "Kill and resume are disabled: no admin token is configured" in text
    assert at.button(key="kill_submit").disabled
    assert at.text_input(key="kill_token").disabled
    limits = at.dataframe[0].value
    assert "drawdown" in set(limits["limit"]) and len(limits) >= 8
    clusters = at.dataframe[1].value  # the sample's five stocks, clustered on their returns
    assert sorted(t for c in clusters["cluster"] for t in c.split(", ")) == sorted(
        set(pd.read_csv(db[1]).ticker))
    assert "linked above 0.7" in _texts(at)
    assert views.risk_state(_uow(db[0])).state.value == "active"


def test_risk_when_token_configured_then_kill_refuses_wrong_input_and_latches_with_right(
        env: dict[str, str], db: tuple[str, Path, Path]) -> None:
    url = db[0]
    at = _page("Risk", CATALYST_DASHBOARD_ADMIN_TOKEN=TOKEN)
    assert not at.button(key="kill_submit").disabled

    def kill(token: str, confirm: str, operator: str) -> AppTest:
        at.text_input(key="kill_token").input(token)
        at.text_input(key="kill_operator").input(operator)
        at.text_input(key="kill_reason").input("dashboard test")
        at.text_input(key="kill_confirm").input(confirm)
        return at.button(key="kill_submit").click().run()

    kill("wrong", "KILL", "ann")
    assert "Kill refused: wrong admin token" in _texts(at)
    kill(TOKEN, "kill please", "ann")
    assert "Kill refused: type 'KILL' to confirm" in _texts(at)
    kill(TOKEN, "KILL", "  ")
    assert "Kill refused: the operator's name is required" in _texts(at)
    assert views.risk_state(_uow(url)).state.value == "active"  # nothing happened yet

    kill(TOKEN, "KILL", "ann")
    assert "Killed by ann: state HALTED" in _texts(at)
    latched = views.risk_state(_uow(url))
    assert latched.state.value == "halted" and latched.killed
    assert any(e.actor == "dashboard:ann" for e in views.risk_events(_uow(url)))

    again = _page("Risk", CATALYST_DASHBOARD_ADMIN_TOKEN=TOKEN)  # a fresh session sees it
    assert "State: :red[HALTED]" in _texts(again)
    again.text_input(key="resume_token").input(TOKEN)
    again.text_input(key="resume_operator").input("bob")
    again.text_input(key="resume_reason").input("checked")
    again.text_input(key="resume_confirm").input("RESUME")
    again.button(key="resume_submit").click().run()
    assert "Resumed by bob: state ACTIVE" in _texts(again)
    assert views.risk_state(_uow(url)).state.value == "active"


def test_agents_when_versions_registered_then_listed_and_promote_needs_confirmation(
        env: dict[str, str], db: tuple[str, Path, Path], tmp_path: Path) -> None:
    from adapters.rl.registry import FileSystemModelRegistry, SqlMetadataStore

    url, _, d = db
    empty = _page("Agents")
    assert "No model registered yet" in _texts(empty)
    reg = FileSystemModelRegistry(d / "models", SqlMetadataStore(url))
    art = tmp_path / "model.zip"
    art.write_bytes(b"not a real model")
    assert "No agent walk-forward stored" in _texts(empty)
    for sharpe in (0.5, 1.25):
        reg.register("dash-ppo", "ppo", str(art), hyperparams={}, data_hash="abc123",
                     env_config={}, seed=1, library_versions={}, metrics={
                         "sharpe": sharpe, "validation": {"sharpe": sharpe, "total_return": 0.05},
                         "buy_and_hold_validation": {"total_return": 0.07},
                         "quality": {"beats_buy_and_hold": sharpe > 1, "beats_random": True,
                                     "warnings": []}})
    reg.promote("dash-ppo", 1)
    from adapters.sqlalchemy.walk_forward import SqlWalkForwardRepo

    SqlWalkForwardRepo(make_engine(url)).save("wf-rl-0123456789", "rl", {"algo": "ppo"}, {
        "aggregate": {"windows": 4, "oos_total_return": 0.031, "oos_sharpe": 0.62,
                      "oos_max_drawdown": -0.08, "bh_total_return": 0.12,
                      "share_beating_buy_and_hold": 0.25, "share_beating_random": 0.75},
        "deflated_sharpe": {"dsr": 0.41}, "pbo": {"pbo": 0.5}, "windows": [], "n_trials": 4})
    st.cache_resource.clear()
    at = _page("Agents", CATALYST_DASHBOARD_ADMIN_TOKEN=TOKEN)
    assert "Production: dash-ppo@1" in _texts(at)
    table = at.dataframe[0].value
    assert list(table["model"]) == ["dash-ppo@1", "dash-ppo@2"]
    assert list(table["sharpe"]) == [0.5, 1.25]
    assert list(table["val Sharpe"]) == [0.5, 1.25]
    assert list(table["val return"]) == ["+5.00%"] * 2
    assert list(table["B&H return"]) == ["+7.00%"] * 2
    assert list(table["beats B&H"]) == ["no", "yes"]
    (wf,) = at.dataframe[1].value.to_dict("records")
    assert (wf["algo"], wf["windows"], wf["OOS return"], wf["OOS Sharpe"], wf["PBO"]) == (
        "ppo", 4, "+3.10%", 0.62, 0.5)
    assert (wf["B&H return"], wf["deflated Sharpe"]) == ("+12.00%", 0.41)
    at.selectbox(key="promote_ref").set_value("dash-ppo@2")
    at.text_input(key="promote_token").input(TOKEN)
    at.text_input(key="promote_operator").input("ann")
    at.text_input(key="promote_confirm").input("dash-ppo@1")
    at.button(key="promote_submit").click().run()
    assert "Promote refused: type 'dash-ppo@2' to confirm" in _texts(at)
    assert reg.get("dash-ppo", 2).status.value == "candidate"
    at.text_input(key="promote_confirm").input("dash-ppo@2")
    at.button(key="promote_submit").click().run()
    assert "Promote done by ann: dash-ppo@2 is production" in _texts(at)
    assert reg.get("dash-ppo", 2).status.value == "production"
    at.radio(key="promote_action").set_value("rollback")
    at.text_input(key="promote_token").input(TOKEN)
    at.text_input(key="promote_operator").input("bob")
    at.text_input(key="promote_confirm").input("dash-ppo@2")
    at.button(key="promote_submit").click().run()
    assert "Rollback done by bob: dash-ppo@1 is production" in _texts(at)
    assert reg.get("dash-ppo", 1).status.value == "production"


def test_portfolio_when_alerts_file_differs_then_headlines_stored_with_the_trades_shown(
        env: dict[str, str], db: tuple[str, Path, Path], tmp_path: Path) -> None:
    # an alerts file whose headlines are all different: the trade log keeps the stored ones
    d = db[2]
    other = tmp_path / "other.jsonl"
    other.write_text("".join(json.dumps({**a, "headline": "NOT THIS ONE"}) + "\n" for a in map(
        json.loads, (d / "alerts.jsonl").read_text().splitlines())))
    at = _page("Portfolio", CATALYST_DASHBOARD_ALERTS=str(other))
    trades = views.trade_log(_uow(db[0]))
    frames = {sh.value: df for sh, df in zip(
        [s for s in at.subheader if s.value != "Price chart"], at.dataframe, strict=False)}
    log = frames[f"Trade log ({len(trades)})"].value
    alerts = {a["id"]: a["headline"] for a in map(
        json.loads, (d / "alerts.jsonl").read_text().splitlines())}
    assert list(log["headline"]) == [alerts[t.alert_id] for t in trades]
    assert list(log["catalyst score"]) == [t.catalyst_score for t in trades]
    assert set(log["source"]) == {"catalyst-rules"}


def _agents_page(run: str, **extra_env: str) -> AppTest:
    at = _page("Agents", **extra_env)
    at.selectbox(key="run").set_value(run).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_agents_when_run_traded_by_an_agent_then_live_monitoring_per_version(
        env: dict[str, str], db: tuple[str, Path, Path]) -> None:
    url, _, d = db
    at = _agents_page(AGENT_RUN)
    status = json.loads((d / "agents" / f"{AGENT_RUN}.json").read_text())
    mon = status["versions"]["msft@1"]
    with _uow(url, AGENT_RUN) as u:
        orders = [o for o in u.orders.list() if o.request.strategy == "agent:msft@1"]
        closed = [c for c in u.positions.list_closed() if c.strategy == "agent:msft@1"]
        held = [p for p in u.positions.list_open() if p.strategy == "agent:msft@1"]
        refused = [e for e in u.journal.executions() if e.stage == "risk" and not e.success]
    text = _texts(at)
    assert f"Live monitoring - run {AGENT_RUN}" in text
    assert f"{status['steps']} bars seen" in text
    deployed = at.dataframe[0].value
    assert list(deployed["agent"]) == ["msft"] and list(deployed["running"]) == ["msft@1"]
    assert list(deployed["tickers"]) == ["AAPL, MSFT"]
    (row,) = at.dataframe[1].value.to_dict("records")
    assert row["version"] == "msft@1" and row["signals"] == mon["signals"]
    assert row["actions"] == ", ".join(f"{k}={n}" for k, n in sorted(mon["actions"].items()))
    assert row["orders"] == len(orders) > 0
    assert row["closed trades"] == len(closed) > 0
    assert row["realized P&L"] == pytest.approx(float(sum(c.realized_pnl for c in closed)),
                                                abs=0.01)
    assert row["open"] == len(held)
    assert row["unrealized P&L"] == pytest.approx(
        float(sum(p.unrealized_pnl() for p in held)), abs=0.01)
    assert row["latency p50 ms"] == pytest.approx(mon["latency"]["p50_ms"], abs=1e-4)
    assert row["latency p99 ms"] == pytest.approx(mon["latency"]["p99_ms"], abs=1e-4)
    assert row["drift"] == f"{mon['drift']['score']:.2f} ({mon['drift']['feature']})"
    by_rule = at.dataframe[2].value  # the signals the risk policy refused, by rule
    assert by_rule["refused"].sum() == len(refused) > 0
    assert set(by_rule["rule"]) == {str(e.metadata.get("rule") or e.error_message)
                                    for e in refused}
    (chart,) = at.get("plotly_chart")  # the action distribution, as shares of the bars
    (bars,) = json.loads(chart.proto.spec)["data"]
    assert bars["name"] == "msft@1" and bars["x"] == sorted(mon["actions"])
    assert bars["y"] == pytest.approx([mon["action_share"][a] for a in bars["x"]])
    assert "Drift warning" not in text


def test_agents_when_status_reports_drift_then_warning_shown_and_bad_status_named(
        env: dict[str, str], db: tuple[str, Path, Path], tmp_path: Path) -> None:
    d = db[2]
    status = json.loads((d / "agents" / f"{AGENT_RUN}.json").read_text())
    status["versions"]["msft@1"]["drift"].update(score=4.25, warned=True)
    home = tmp_path / "home"
    (home / "agents").mkdir(parents=True)
    (home / "agents" / f"{AGENT_RUN}.json").write_text(json.dumps(status))
    at = _agents_page(AGENT_RUN, CATALYST_HOME=str(home))
    feature = status["versions"]["msft@1"]["drift"]["feature"]
    assert (f"Drift warning: msft@1: {feature} drifted 4.25 from the training data "
            "(threshold 3)") in _texts(at)
    (home / "agents" / f"{AGENT_RUN}.json").write_text('{"agents": [{"name": "msft"}]}')
    at = _agents_page(AGENT_RUN, CATALYST_HOME=str(home))
    assert f"agent status of run '{AGENT_RUN}': field 'agents' is malformed" in _texts(at)


def test_agents_when_drift_unavailable_then_reason_shown(
        env: dict[str, str], db: tuple[str, Path, Path], tmp_path: Path) -> None:
    status = json.loads((db[2] / "agents" / f"{AGENT_RUN}.json").read_text())
    status["versions"]["msft@1"]["drift"] = None
    status["versions"]["msft@1"]["drift_unavailable"] = "msft@1 was registered without stats"
    home = tmp_path / "home"
    (home / "agents").mkdir(parents=True)
    (home / "agents" / f"{AGENT_RUN}.json").write_text(json.dumps(status))
    at = _agents_page(AGENT_RUN, CATALYST_HOME=str(home))
    table = at.dataframe[1].value
    assert table[table["version"] == "msft@1"].iloc[0]["drift"] == "unavailable"
    assert ("No drift monitoring for msft@1: msft@1 was registered without stats"
            in _texts(at))


def test_agents_when_run_has_no_agent_then_says_so(env: dict[str, str]) -> None:
    at = _page("Agents")
    assert f"No agent deployed in run {RUN}" in _texts(at)


def test_runs_when_backtest_reported_then_listed_with_its_report(
        env: dict[str, str], db: tuple[str, Path, Path]) -> None:
    _, _, d = db
    at = _page("Runs")
    assert f"Reports index: {d / 'reports' / 'index.html'}" in _texts(at)
    table = at.dataframe[0].value
    row = table[table["run"] == RUN].iloc[0]
    assert row["kind"] == "backtest" and row["status"] == "finished"
    assert row["report"] == str(d / "reports" / RUN / "report.html")
    assert at.selectbox(key="report_run").value == RUN
    download = at.get("download_button")
    assert len(download) == 1 and "Download the report" in download[0].proto.label
    page = Path(row["report"]).read_text()  # the tearsheet the backtest wrote
    assert "equal-weight buy-and-hold of AAPL, AMZN, JPM, MSFT, XOM" in page
    assert "<th>headline</th>" in page and "EPS surprise" in page
    assert '<a id="latest" href="dash/report.html">' in (d / "reports" / "index.html").read_text()


def test_trades_command_when_json_then_headline_stored_or_null(
        db: tuple[str, Path, Path], tmp_path: Path) -> None:
    from tests.e2e.trading_cli_support import catalyst

    url, _, d = db
    alerts = {a["id"]: a["headline"] for a in map(
        json.loads, (d / "alerts.jsonl").read_text().splitlines())}
    env = {"CATALYST_HOME": str(tmp_path), "CATALYST_CONFIG": empty_config(tmp_path)}
    res = catalyst(["trades", "--db", url, "--run", RUN, "--json", "--limit", "0"], tmp_path,
                   env=env)
    assert res.exit_code == 0, res.output[-2000:]
    rows = json.loads(res.stdout)
    assert rows and [r["headline"] for r in rows] == [
        alerts[r["signal_id"].removeprefix("sig-")] for r in rows]
    assert all(isinstance(r["catalyst_score"], float) for r in rows)
    res = catalyst(["trades", "--db", url, "--run", AGENT_RUN, "--json", "--limit", "0"],
                   tmp_path, env=env)
    assert res.exit_code == 0, res.output[-2000:]
    rows = json.loads(res.stdout)
    assert rows and {r["strategy"] for r in rows} == {"agent:msft@1"}
    assert all(r["headline"] is None for r in rows)  # an agent's signal has no alert


def test_dashboard_command_when_files_missing_then_exit_2_naming_the_flag(
        tmp_path: Path) -> None:
    from tests.e2e.trading_cli_support import catalyst

    res = catalyst(["dashboard", "--data", str(tmp_path / "nope.csv")], tmp_path)
    assert res.exit_code == 2
    assert f"--data '{tmp_path / 'nope.csv'}': no such file" in " ".join(res.output.split())
    res = catalyst(["dashboard", "--alerts", str(tmp_path / "nope.jsonl")], tmp_path)
    assert res.exit_code == 2
    assert f"--alerts '{tmp_path / 'nope.jsonl'}': no such file" in " ".join(res.output.split())
    res = catalyst(["dashboard", "--port", "0"], tmp_path)
    assert res.exit_code == 2 and "--port" in res.output
