"""The embedding example in docs/examples runs as documented."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_embedding_example_when_run_then_bot_trades_through_the_core() -> None:
    r = subprocess.run([sys.executable, str(ROOT / "docs" / "examples" / "embed_bot.py")],
                       capture_output=True, text=True, timeout=180, check=False)
    assert r.returncode == 0, r.stdout + r.stderr[-3000:]
    assert "gap-bot: finished" in r.stdout and "closed trades" in r.stdout
