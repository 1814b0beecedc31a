"""The settings loader under arbitrary environment text: it loads or exits 2 naming what is
wrong — never a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from entrypoints.cli.container import load_settings, reset_container

VARS = ["CATALYST_RISK", "CATALYST_RISK__REQUIRE_STOP_LOSS",
        "CATALYST_RISK__CORRELATION_THRESHOLD", "CATALYST_RISK__MAX_OPEN_POSITIONS",
        "CATALYST_COSTS__COMMISSION_BPS", "CATALYST_LOG_LEVEL", "CATALYST_SMTP_PORT",
        "CATALYST_DATABASE_URL", "CATALYST_BROKER"]
text = st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"),
               max_size=30)


@pytest.fixture()
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    reset_container()


@settings(max_examples=80, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.sampled_from(VARS), text, max_size=3))
@example({"CATALYST_RISK": "garbage"})
@example({"CATALYST_RISK": "[1, 2]"})
@example({"CATALYST_RISK__CORRELATION_THRESHOLD": "1e400"})
@example({"CATALYST_SMTP_PORT": "9" * 50})
def test_settings_load_or_exit_2(cwd: Path, monkeypatch: pytest.MonkeyPatch,
                                 env: dict[str, str]) -> None:
    for var in VARS:
        monkeypatch.delenv(var, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    reset_container()
    try:
        load_settings()
    except typer.Exit as exc:
        assert exc.exit_code == 2
