"""``catalyst run --listen``: the intake next to the replay engine in one process, and
``catalyst alerts`` listing what the engine made of each alert."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from adapters.data.sample import sample_paths

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-c", "from entrypoints.cli.app import main; main()"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CATALYST_")}
    env.update(PYTHONPATH=str(ROOT), CATALYST_KILL_FILE=str(tmp / "KILL"),
               CATALYST_LOG_LEVEL="WARNING")
    return env


def test_run_listen_routes_posted_alerts_once_and_alerts_lists_them(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'run.db'}"
    port = _free_port()
    lines = sample_paths().alerts.read_text().splitlines()
    sample = [json.loads(x) for x in lines
              if '"known_at": "2016' in x or '"known_at": "2017' in x][:40]
    unknown = {**sample[0], "id": "zz-unknown", "ticker": "ZZZZ"}
    proc = subprocess.Popen(
        [*CLI, "run", "--listen", f"127.0.0.1:{port}", "--db", db, "--run", "hooked",
         "--speed", "2e7", "--json", "--no-progress", "--report", str(tmp_path / "rep")],
        env=_env(tmp_path), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.communicate()[1].decode()[-3000:]
            try:
                if httpx.get(f"{base}/v1/health", timeout=1).is_success:
                    break
            except httpx.HTTPError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        r = httpx.post(f"{base}/v1/alerts", json=[*sample, unknown], timeout=10)
        assert r.status_code == 202, r.text
        health = httpx.get(f"{base}/v1/health", timeout=5).json()
        assert health["engine"]["in_process"] is True and health["engine"]["run"] == "hooked"
        assert health["risk"]["state"] == "active"
        out, err = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0, err.decode()[-3000:]
    summary = json.loads(out)
    assert summary["status"] == "finished" and summary["signals"] > 0

    listed = subprocess.run([*CLI, "alerts", "--db", db, "--json"], env=_env(tmp_path),
                            cwd=tmp_path, capture_output=True, timeout=60, check=True)
    rows = {r["id"]: r for r in json.loads(listed.stdout)}
    assert set(rows) == {a["id"] for a in sample} | {"zz-unknown"}
    assert rows["zz-unknown"]["status"] == "rejected"
    assert "unknown ticker" in rows["zz-unknown"]["reason"]
    statuses = {r["status"] for k, r in rows.items() if k != "zz-unknown"}
    assert statuses <= {"routed", "suppressed"}
    routed = [r for r in rows.values() if r["status"] == "routed"]
    assert len(routed) == summary["signals"] and all(r["run"] == "hooked" for r in routed)

    only = subprocess.run([*CLI, "alerts", "--db", db, "--status", "rejected", "--json"],
                          env=_env(tmp_path), cwd=tmp_path, capture_output=True, timeout=60,
                          check=True)
    assert [r["id"] for r in json.loads(only.stdout)] == ["zz-unknown"]
    bad = subprocess.run([*CLI, "alerts", "--db", db, "--status", "lost"], env=_env(tmp_path),
                         cwd=tmp_path, capture_output=True, timeout=60, check=False)
    assert bad.returncode == 2 and b"expected one of received" in bad.stderr


def test_serve_without_token_refuses_a_public_address(tmp_path: Path) -> None:
    r = subprocess.run([*CLI, "serve", "--listen", "0.0.0.0:0", "--db",
                        f"sqlite:///{tmp_path / 'x.db'}"], env=_env(tmp_path), cwd=tmp_path,
                       capture_output=True, timeout=60, check=False)
    assert r.returncode == 2
    assert b"no webhook token is configured" in r.stderr
    r = subprocess.run([*CLI, "serve", "--listen", "localhost"], env=_env(tmp_path),
                       cwd=tmp_path, capture_output=True, timeout=60, check=False)
    assert r.returncode == 2 and b"expected HOST:PORT" in r.stderr
