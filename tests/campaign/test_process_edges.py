"""Process edges: `--alerts -` exits cleanly while the pipe is still open."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from adapters.data.sample import sample_paths

pytestmark = pytest.mark.slow
CLI = [sys.executable, "-c", "from entrypoints.cli.app import main; main()"]


def test_stdin_alerts_with_the_pipe_left_open_exit_0(tmp_path: Path) -> None:
    df = pd.read_csv(sample_paths().prices)
    df[(df.date < "2013-03-01") & (df.ticker == "AAPL")].to_csv(tmp_path / "p.csv", index=False)
    env = {**os.environ, "CATALYST_KILL_FILE": str(tmp_path / "K"),
           "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    p = subprocess.Popen(
        [*CLI, "run", "--broker", "sim", "--data", str(tmp_path / "p.csv"), "--alerts", "-",
         "--speed", "100000000", "--db", f"sqlite:///{tmp_path / 's.db'}", "--json",
         "--report", str(tmp_path / "rep")],
        cwd=tmp_path, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE)
    assert p.stdin is not None
    p.stdin.write(json.dumps({"id": "x", "ticker": "AAPL", "known_at": "2013-01-10T14:00:00Z",
                              "score": 0.9}).encode() + b"\n")
    p.stdin.flush()  # and the pipe stays open while the run ends
    try:
        out, err = p.stdout.read(), p.stderr.read()  # type: ignore[union-attr]
        rc = p.wait(timeout=120)
    finally:
        p.stdin.close()
        p.kill()
        p.wait()
    assert rc == 0, err.decode()[-2000:]
    assert b"Fatal Python error" not in err
    assert json.loads(out)["status"] == "finished"


@pytest.mark.parametrize("command", ["run", "backtest"])
def test_unwritable_report_folder_exits_2_before_the_run(tmp_path: Path, command: str) -> None:
    (tmp_path / "file").write_text("a file, not a folder")
    env = {**os.environ, "CATALYST_KILL_FILE": str(tmp_path / "K"),
           "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    r = subprocess.run([*CLI, command, "--report", str(tmp_path / "file" / "rep"), "--db",
                        f"sqlite:///{tmp_path / 'x.db'}"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 2, r.stderr[-2000:]
    text = " ".join(r.stderr.split())
    assert "--report" in text and "not a writable folder" in text
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "x.db").exists()  # nothing of the run was started
