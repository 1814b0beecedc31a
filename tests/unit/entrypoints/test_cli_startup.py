"""What ``catalyst --help`` imports: the CLI's own front module, Typer and Rich, nothing else.

The help must start fast, so it lists the lazy commands without importing their modules. These
tests look at the modules a fresh interpreter holds after printing the help (the time itself is
measured in ``bench/bench_cli_start.py``, not asserted here).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

# Libraries that cost tens to hundreds of milliseconds to import, or that pull in settings,
# logging, the container or a vendor SDK.
HEAVY = ("pandas", "numpy", "pyarrow", "sqlalchemy", "alembic", "psycopg", "torch",
         "stable_baselines3", "gymnasium", "optuna", "alpaca", "matplotlib", "plotly",
         "streamlit", "exchange_calendars", "pydantic", "pydantic_settings", "structlog",
         "dependency_injector", "starlette", "uvicorn", "httpx", "websockets", "jinja2",
         "msgpack", "ray", "importlib.metadata")


def _modules_after(argv: list[str]) -> list[str]:
    code = ("import json, sys\n"
            f"sys.argv = {['catalyst', *argv]!r}\n"
            "from entrypoints.cli.app import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print('MODULES=' + json.dumps(sorted(sys.modules)))\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "100"}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                       timeout=120, check=True)
    assert "backtest" in r.stdout, r.stdout  # the help was printed
    line = r.stdout.strip().splitlines()[-1]
    return list(json.loads(line.removeprefix("MODULES=")))


@pytest.fixture(scope="module")
def help_modules() -> list[str]:
    return _modules_after(["--help"])


def test_help_when_printed_then_no_heavy_library_is_imported(help_modules: list[str]) -> None:
    loaded = [h for h in HEAVY if any(m == h or m.startswith(h + ".") for m in help_modules)]
    assert loaded == []


def test_help_when_printed_then_only_the_cli_front_module_of_ours_is_imported(
        help_modules: list[str]) -> None:
    ours = sorted(m for m in help_modules
                  if m.split(".")[0] in ("domain", "application", "adapters", "entrypoints"))
    assert ours == ["entrypoints", "entrypoints.cli", "entrypoints.cli.app"]
