"""Every configuration error exits 2 naming the file or the variable and its value."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from entrypoints.cli.app import app
from entrypoints.cli.container import reset_container

CLI = CliRunner()


@pytest.fixture()
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)
    for var in ("CATALYST_CONFIG", "CATALYST_RISK", "CATALYST_DATABASE_URL"):
        monkeypatch.delenv(var, raising=False)
    reset_container()
    yield tmp_path
    reset_container()


CASES: list[tuple[str, dict[str, str], dict[str, bytes], list[str]]] = [
    ("invalid TOML", {}, {"catalyst.toml": b"risk = [\n"}, ["catalyst.toml", "invalid TOML"]),
    ("non-UTF-8 TOML", {}, {"catalyst.toml": b"\xff\xfe x = 1\n"},
     ["catalyst.toml", "not UTF-8"]),
    ("non-UTF-8 .env", {}, {".env": b"CATALYST_LOG_LEVEL=\xff\n"}, [".env", "not UTF-8"]),
    ("risk not an object", {"CATALYST_RISK": "garbage"}, {}, ["CATALYST_RISK='garbage'"]),
    ("missing CATALYST_CONFIG", {"CATALYST_CONFIG": "nope.toml"}, {},
     ["CATALYST_CONFIG='nope.toml'", "no such file"]),
    ("bad boolean", {"CATALYST_RISK__REQUIRE_STOP_LOSS": "maybe"}, {},
     ["require_stop_loss", "'maybe'", "true or false"]),
    ("bad float", {"CATALYST_RISK__CORRELATION_THRESHOLD": "high"}, {},
     ["correlation_threshold", "'high'"]),
]


@pytest.mark.parametrize(("name", "env", "files", "needles"), CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("command", [["doctor"], ["risk", "status"], ["runs"]])
def test_configuration_error_exits_2_naming_it(
    cwd: Path, monkeypatch: pytest.MonkeyPatch, name: str, env: dict[str, str],
    files: dict[str, bytes], needles: list[str], command: list[str],
) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    for f, data in files.items():
        (cwd / f).write_bytes(data)
    r = CLI.invoke(app, command)
    text = " ".join(r.output.split())
    assert r.exit_code == 2, (name, r.output)
    assert "Traceback" not in r.output and not isinstance(r.exception, Exception) or \
        isinstance(r.exception, SystemExit), r.exception
    for n in needles:
        assert n in text, (name, n, r.output)


def test_valid_text_values_parse_like_the_rest(cwd: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CATALYST_RISK__REQUIRE_STOP_LOSS", "false")
    monkeypatch.setenv("CATALYST_RISK__CORRELATION_THRESHOLD", "0.5")
    r = CLI.invoke(app, ["doctor", "--json"])
    assert r.exit_code in (0, 1), r.output
    risk = json.loads(r.output)["settings"]["risk"]
    assert risk["require_stop_loss"] is False and float(risk["correlation_threshold"]) == 0.5


def test_doctor_calls_a_garbage_sqlite_file_unreachable(cwd: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    (cwd / "g.db").write_bytes(b"this is not a database " * 50)
    monkeypatch.setenv("CATALYST_DATABASE_URL", f"sqlite:///{cwd / 'g.db'}")
    r = CLI.invoke(app, ["doctor", "--json"])
    doc = json.loads(r.output)
    db = doc["checks"]["database"]
    assert db["ok"] is False and "not a database" in db["detail"], db
    assert r.exit_code == 1
