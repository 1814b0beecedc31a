"""A pytest fork server: import the heavy libraries once, then fork one child per mutant run.

Started by the runner in a work folder (``python -m bench.mutation.forkserver``). It pre-imports
third-party modules only (pytest, Hypothesis, numpy, ...), never the project's own packages, so
every child imports the mutated module fresh from disk. Protocol, one JSON object per line: the
runner writes ``{"args": [...], "timeout": seconds}``; the server answers ``{"rc": int, "out":
str}`` (``rc`` is ``-1`` when the run was killed at its timeout).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import signal
import sys
import tempfile
import time

_PRELOAD = ("pytest", "hypothesis", "hypothesis.strategies", "hypothesis.stateful", "numpy",
            "attrs", "pytest_postgresql.factories", "pytest_timeout", "pytest_benchmark.plugin")


def _run_child(args: list[str], out_path: str) -> None:
    fd = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.setpgid(0, 0)
    try:
        import pytest

        rc = int(pytest.main(args))
    except BaseException:  # the child must never return into the server loop
        rc = 3
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(rc)


def _serve_one(request: dict[str, object]) -> dict[str, object]:
    args = [str(a) for a in request["args"]]  # type: ignore[attr-defined]
    timeout = float(request.get("timeout", 600))  # type: ignore[arg-type]
    with tempfile.NamedTemporaryFile("r", suffix=".log", delete=False) as tmp:
        out_path = tmp.name
    pid = os.fork()
    if pid == 0:
        _run_child(args, out_path)
    deadline = time.monotonic() + timeout
    rc: int | None = None
    while rc is None:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            rc = os.waitstatus_to_exitcode(status)
            break
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            rc = -1
            break
        time.sleep(0.02)
    with open(out_path, encoding="utf-8", errors="replace") as fh:
        out = fh.read()[-6000:]
    os.unlink(out_path)
    return {"rc": rc, "out": out}


def main() -> None:
    for name in _PRELOAD:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        print(json.dumps(_serve_one(json.loads(line))), flush=True)


if __name__ == "__main__":
    main()
