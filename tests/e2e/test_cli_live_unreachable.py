"""``catalyst run --broker alpaca`` when the broker cannot be reached: it exits, and says why.

Each case runs the real console script in a subprocess with a hard timeout: a process that
keeps running (a retry loop, the trade-updates stream's thread) fails the test instead of
hanging it. The API keys are fake and must appear in no output.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from adapters.alpaca_server import AlpacaCompatServer

ROOT = Path(__file__).resolve().parents[2]
KEY, SECRET = "PKUNREACH000000000001", "unreachableSecret000000000000000000001"


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(tmp_path: Path, base_url: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "APCA_API_KEY_ID": KEY,
            "APCA_API_SECRET_KEY": SECRET, "CATALYST_ALPACA_BASE_URL": base_url,
            "CATALYST_HOME": str(tmp_path / "home"),
            "CATALYST_KILL_FILE": str(tmp_path / "KILL")}


def _alerts(tmp_path: Path) -> Path:
    path = tmp_path / "alerts.jsonl"
    path.write_text(json.dumps({"id": "u-1", "ticker": "AAPL",
                                "known_at": "2024-01-02T15:00:00+00:00", "score": 0.9}) + "\n")
    return path


def _catalyst() -> str:
    return str(Path(sys.executable).parent / "catalyst")


def test_run_alpaca_when_server_port_closed_then_exit_2_fast_with_reason(
        tmp_path: Path) -> None:
    db = tmp_path / "live.db"
    t0 = time.monotonic()
    r = subprocess.run(
        [_catalyst(), "run", "--broker", "alpaca", "--alerts", str(_alerts(tmp_path)),
         "--tickers", "AAPL", "--interval", "0", "--max-steps", "1", "--db",
         f"sqlite:///{db}"],
        cwd=tmp_path, env=_env(tmp_path, f"http://127.0.0.1:{_closed_port()}"),
        capture_output=True, text=True, timeout=60, check=False)
    took = time.monotonic() - t0
    text = " ".join((r.stdout + r.stderr).split())  # the console wraps long lines
    assert r.returncode == 2, text
    assert "cannot reach http://127.0.0.1:" in text and "connection failed" in text
    assert "Traceback" not in text
    assert KEY not in text and SECRET not in text
    assert not db.exists()  # refused before the run's database was touched
    assert took < 55, took


def test_run_alpaca_when_server_goes_away_mid_run_then_stops_after_max_outage_exit_1(
        tmp_path: Path) -> None:
    db = tmp_path / "live.db"
    server = AlpacaCompatServer(api_key=KEY, secret_key=SECRET)
    server.start()
    stopped = False
    proc = subprocess.Popen(
        [_catalyst(), "run", "--broker", "alpaca", "--alerts", str(_alerts(tmp_path)),
         "--tickers", "AAPL", "--interval", "0.2", "--max-outage", "2", "--db",
         f"sqlite:///{db}", "--json"],
        cwd=tmp_path, env=_env(tmp_path, server.base_url), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    try:
        # the database is opened once the broker answered; then the loop runs
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None and not db.exists():
            time.sleep(0.1)
        time.sleep(1.5)
        assert proc.poll() is None, proc.communicate()
        server.stop()
        stopped = True
        out, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        if not stopped:
            server.stop()
    text = out + err
    assert proc.returncode == 1, text
    said = " ".join(err.split())  # the console wraps long lines
    assert "out of reach" in said and "has not answered for" in said, said
    payload = json.loads(out)
    assert payload["status"] == "interrupted" and payload["broker_outage"]
    assert "Traceback" not in text
    assert KEY not in text and SECRET not in text
