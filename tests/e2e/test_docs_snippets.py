"""Every snippet marked runnable in README.md and docs/ runs as written.

A fenced ```bash or ```python block directly after a ``<!-- runnable -->`` line is run from
the repository root with ``CATALYST_HOME`` and ``TMPDIR`` in a fresh temporary folder (so it
finds no earlier state and leaves none), ``catalyst`` on the PATH and this checkout
importable. Blocks without the marker are excerpts or need the network or hours of time.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from trading_cli_support import empty_config

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
_BLOCK = re.compile(r"^<!-- runnable -->[ \t]*\n```(bash|python)[ \t]*\n(.*?)^```", re.M | re.S)


def _snippets() -> list[tuple[str, str, str]]:
    out = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        text = page.read_text(encoding="utf-8")
        for i, m in enumerate(_BLOCK.finditer(text)):
            out.append((f"{page.relative_to(ROOT)}#{i + 1}", m.group(1), m.group(2)))
    return out


SNIPPETS = _snippets()


def test_snippets_when_collected_then_readme_and_docs_have_runnable_blocks() -> None:
    pages = {sid.split("#")[0] for sid, _, _ in SNIPPETS}
    assert "README.md" in pages
    assert "docs/simulator.md" in pages
    assert "docs/trading.md" in pages


@pytest.mark.parametrize(("sid", "lang", "code"), SNIPPETS, ids=[s[0] for s in SNIPPETS])
def test_snippet_when_run_as_written_then_exits_zero(sid: str, lang: str, code: str,
                                                      tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CATALYST_", "APCA_"))}
    env.update(CATALYST_HOME=str(tmp_path / "home"), TMPDIR=str(tmp_path),
               CATALYST_CONFIG=empty_config(tmp_path), CATALYST_LOG_LEVEL="WARNING",
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
               COLUMNS="80")
    cmd = (["bash", "-euo", "pipefail", "-c", code] if lang == "bash"
           else [sys.executable, "-c", code])
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
                       check=False)
    assert r.returncode == 0, f"{sid} exited {r.returncode}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
