"""Process edges: `--alerts -` exits cleanly while the pipe is still open; SIGINT while the CLI
starts and unwritable output paths end without a traceback."""

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


def test_sigint_in_the_first_second_exits_cleanly(tmp_path: Path) -> None:
    import random
    import signal
    import time

    env = {**os.environ, "CATALYST_KILL_FILE": str(tmp_path / "K"),
           "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    rng = random.Random(11)
    delays = [0.0, *(rng.uniform(0.25, 1.0) for _ in range(5))]
    ours = 0
    for i, delay in enumerate(delays):
        p = subprocess.Popen([*CLI, "run", "--broker", "sim", "--db",
                              f"sqlite:///{tmp_path / f'i{i}.db'}", "--json", "--report",
                              str(tmp_path / "rep")], cwd=tmp_path, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(delay)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=120)
        if p.returncode == -signal.SIGINT and (not err or "init_import_site" in err):
            continue  # the interpreter itself was still starting: no code of ours had run
        ours += 1
        assert "Traceback" not in err, (delay, err[-2000:])
        # 130: stopped while the CLI was loading; 0: the run had begun and stopped at a step
        assert p.returncode in (0, 130), (delay, p.returncode, err[-2000:])
        if p.returncode == 0:
            assert json.loads(out)["status"] in ("interrupted", "finished")
    assert ours >= 4


@pytest.mark.parametrize("command", [
    ["export", "trades", "--db", "sqlite:///{d}/x.db", "--out", "{d}/file/t.csv"],
    ["data", "import", "{prices}", "--out", "{d}/file/o.parquet"],
    ["data", "build", "--out", "{d}/file/f.parquet"],
    ["data", "import", "{prices}", "--out", "{d}"],
])
def test_unwritable_out_path_exits_2_naming_it(tmp_path: Path, command: list[str]) -> None:
    (tmp_path / "file").write_text("a file, not a folder")
    env = {**os.environ, "CATALYST_KILL_FILE": str(tmp_path / "K"),
           "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    args = [a.format(d=tmp_path, prices=sample_paths().prices) for a in command]
    r = subprocess.run([*CLI, *args], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=120, check=False)
    assert r.returncode == 2, r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    text = " ".join(r.stderr.split())
    assert f"--out '{args[-1]}'" in text, text


def test_sigint_while_the_cli_loads_its_modules_exits_130_without_a_traceback(
        tmp_path: Path) -> None:
    # Ctrl-C arrives exactly while the CLI imports Typer (an import hook sends it)
    hook = (
        "import os, signal, sys\n"
        "class Hook:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'typer':\n"
        "            sys.meta_path.remove(self)\n"
        "            os.kill(os.getpid(), signal.SIGINT)\n"
        "        return None\n"
        "sys.meta_path.insert(0, Hook())\n"
        "sys.argv = ['catalyst', 'runs']\n"
        "from entrypoints.cli.app import main\n"
        "main()\n"
    )
    env = {**os.environ, "CATALYST_KILL_FILE": str(tmp_path / "K"),
           "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    r = subprocess.run([sys.executable, "-c", hook], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 130, (r.returncode, r.stderr[-2000:])
    assert "Traceback" not in r.stderr and "KeyboardInterrupt" not in r.stderr
