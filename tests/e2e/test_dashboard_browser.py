"""``catalyst dashboard`` in a real browser: the command serves the app on a free loopback
port, headless Chromium (Debian's ``chromium``) loads every page and the rendered text is
checked; a screenshot of each page is kept under the test's tmp dir. A kill from the CLI then
shows on the open Risk page by the live refresh alone.

Without chromium the test is skipped locally and fails under ``CI=true`` (``.ci/run`` installs
it). ``CATALYST_UPDATE_DOC_IMAGES=1`` also copies the screenshots to ``docs/img/``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.chromium_cdp import chromium_binary, free_port, headless_chromium
from tests.e2e.dashboard_support import AGENT_RUN, RUN, backtest_database
from tests.e2e.trading_cli_support import catalyst, empty_config

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PAGES = {
    "Portfolio": ("Portfolio - run dash", "Benchmark return", "Open positions", "Orders",
                  "Trade log (", "Per-ticker results", "Price chart"),
    "Risk": ("Risk - run dash", "State: ACTIVE", "Limits: usage and headroom", "Risk event log",
             "Kill and resume are disabled"),
    # the run a deployed agent traded: its live monitoring, then the registry
    f"Agents&run={AGENT_RUN}": (
        "Agents", f"Live monitoring - run {AGENT_RUN}", "bars seen", "Action distribution",
        "msft@1", "Signals refused by risk, by rule", "Registry", "Production: dash-ppo@1",
        "Walk-forward validation", "Promote or roll back", "Promote and rollback are disabled"),
    "Runs": ("Runs", "Reports index"),
}


def _shot(page: str) -> str:
    return f"dashboard-{page.split('&', 1)[0].lower()}.png"


def _chromium() -> str:
    binary = chromium_binary()
    if binary is None:
        if os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}:
            pytest.fail("chromium is not installed (apt-get install chromium); CI needs it")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return binary


def _catalyst() -> list[str]:
    script = Path(sys.executable).with_name("catalyst")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "from entrypoints.cli.app import main; main()"]


def _wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"catalyst dashboard exited {proc.returncode}:\n"
                                 f"{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"dashboard never answered {url}:\n{log.read_text()[-3000:]}")


def _register_models(url: str, d: Path) -> None:
    from adapters.rl.registry import FileSystemModelRegistry, SqlMetadataStore

    reg = FileSystemModelRegistry(d / "models", SqlMetadataStore(url))
    art = d / "model.zip"
    art.write_bytes(b"placeholder artifact")
    for sharpe, ret in ((0.81, 0.042), (1.12, 0.065)):
        reg.register("dash-ppo", "ppo", str(art), hyperparams={"learning_rate": 3e-4},
                     data_hash="3f9a1c2b7d4e", env_config={}, seed=7, library_versions={},
                     metrics={"val_sharpe": sharpe, "val_total_return": ret})
    reg.promote("dash-ppo", 1)


def _check_grids(url: str, status: dict[str, Any], cells: dict[str, list[str]]) -> None:
    """The tables as the browser drew them: the trade log shows the alert headline and score
    behind the first trades; the agents' table shows what the status file and the books say."""
    from adapters.sqlalchemy import make_engine, sql_uow_factory
    from application import views

    trades = views.trade_log(sql_uow_factory(make_engine(url))().for_run(RUN))
    portfolio = cells["Portfolio"]
    assert {"headline", "catalyst score"} <= set(portfolio)
    assert trades[0].headline and trades[0].headline in portfolio
    numbers = set()
    for c in portfolio:
        try:
            numbers.add(round(float(c), 4))
        except ValueError:
            continue
    assert trades[0].catalyst_score is not None
    assert round(trades[0].catalyst_score, 4) in numbers
    mon = status["versions"]["msft@1"]
    agents = cells[f"Agents&run={AGENT_RUN}"]
    # the columns in view (the grid keeps only those for screen readers; latency is further
    # right, checked through AppTest)
    assert {"version", "actions", "orders", "refused by risk", "realized P&L", "open",
            "unrealized P&L", "drift"} <= set(agents)
    assert ", ".join(f"{k}={n}" for k, n in sorted(mon["actions"].items())) in agents
    assert f"{mon['drift']['score']:.2f} ({mon['drift']['feature']})" in agents


def test_dashboard_when_served_then_every_page_renders_in_chromium(tmp_path: Path) -> None:
    binary = _chromium()
    url, prices, _ = backtest_database(tmp_path, with_agent=True)
    written = json.loads((tmp_path / "agents" / f"{AGENT_RUN}.json").read_text())
    _register_models(url, tmp_path)
    port = free_port()
    log = tmp_path / "dashboard.log"
    env = {**os.environ, "CATALYST_HOME": str(tmp_path), "CATALYST_LOG_LEVEL": "WARNING",
           "CATALYST_CONFIG": empty_config(tmp_path),
           "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH"))
                                         if p)}
    env.pop("CATALYST_DASHBOARD_ADMIN_TOKEN", None)
    with log.open("wb") as fh:
        proc = subprocess.Popen([*_catalyst(), "dashboard", "--db", url, "--run", RUN,
                                 "--data", str(prices), "--alerts",
                                 str(tmp_path / "alerts.jsonl"), "--host", "127.0.0.1", "--port",
                                 str(port), "--refresh", "2"], cwd=tmp_path, env=env,
                                stdout=fh, stderr=subprocess.STDOUT)
    shots = tmp_path / "screenshots"
    cells: dict[str, list[str]] = {}
    try:
        _wait_http(f"http://127.0.0.1:{port}/_stcore/health", proc, log)
        with headless_chromium(binary) as browser:
            for page, needles in PAGES.items():
                browser.goto(f"http://127.0.0.1:{port}/?page={page}")
                text = browser.wait_for(*needles, timeout_s=90)
                assert "Traceback" not in text and "Error" not in text.split("Kill")[0]
                browser.screenshot(shots / _shot(page))
                cells[page] = browser.grid_cells()
                if page == "Portfolio":  # the trade log, with the alert behind each trade
                    browser.scroll_to("Trade log (")
                    browser.screenshot(shots / "dashboard-trades.png")
            # live: a kill from the CLI shows on the open Risk page without a reload
            browser.goto(f"http://127.0.0.1:{port}/?page=Risk")
            browser.wait_for("State: ACTIVE", timeout_s=90)
            killed = catalyst(["risk", "kill", "--run", RUN, "--by", "ops",
                               "--reason", "live refresh check"], tmp_path,
                              env={"CATALYST_DATABASE_URL": url,
                                   "CATALYST_HOME": str(tmp_path)})
            assert killed.exit_code == 0, killed.output
            text = browser.wait_for("State: HALTED", "live refresh check", timeout_s=60)
            assert "Kill switch latched" in text
            # live: the agents rewrite their status file as they trade; the open Agents page
            # shows the new status (here a drift past its threshold) by the refresh alone
            browser.goto(f"http://127.0.0.1:{port}/?page=Agents&run={AGENT_RUN}")
            browser.wait_for(f"Live monitoring - run {AGENT_RUN}", timeout_s=90)
            from adapters.rl.inference import StatusFile

            status_file = StatusFile(tmp_path / "agents" / f"{AGENT_RUN}.json")
            status = status_file.read()
            status["steps"] += 1
            status["versions"]["msft@1"]["drift"].update(score=7.5, warned=True)
            status_file.write(status)
            browser.wait_for(f"{status['steps']} bars seen", "Drift warning: msft@1",
                             "drifted 7.50 from the training data", timeout_s=60)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    out = log.read_text()
    assert "Traceback" not in out, out[-3000:]
    _check_grids(url, written, cells)
    for png in [shots / _shot(page) for page in PAGES] + [shots / "dashboard-trades.png"]:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    if os.environ.get("CATALYST_UPDATE_DOC_IMAGES") == "1":
        (ROOT / "docs" / "img").mkdir(parents=True, exist_ok=True)
        for png in shots.glob("*.png"):
            shutil.copy(png, ROOT / "docs" / "img" / png.name)
