"""A database password never shows: every command's output, every file written, every log
line and every row stored is searched for it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import MetaData, select
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from adapters.sqlalchemy import make_engine
from entrypoints.cli.app import app
from entrypoints.cli.container import reset_container

SECRET = "Pw-9f3e1c77-never-print"  # noqa: S105 - the needle the test searches for
CLI = CliRunner()


@pytest.fixture()
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CATALYST_KILL_FILE", str(tmp_path / "KILL"))
    reset_container()
    yield tmp_path
    reset_container()


def _with_password(url: str) -> str:
    return make_url(url).set(password=SECRET).render_as_string(hide_password=False)


def _commands(url: str, tmp: Path) -> list[list[str]]:
    return [
        ["db", "upgrade", "--db", url],
        ["db", "upgrade", "--db", url, "--json"],
        ["db", "current", "--db", url, "--json"],
        ["db", "check", "--db", url],
        ["run", "--broker", "sim", "--db", url, "--report", str(tmp / "rep")],
        ["run", "--broker", "sim", "--db", url, "--json", "--run", "second",
         "--report", str(tmp / "rep2")],
        ["runs", "--db", url],
        ["doctor", "--json"],
        ["doctor"],
        ["risk", "status", "--json"],
    ]


def _search_everything(url: str, tmp: Path, outputs: list[str], caplog_text: str) -> None:
    for text in outputs:
        assert SECRET not in text, text[:2000]
    assert SECRET not in caplog_text
    for f in tmp.rglob("*"):
        if f.is_file() and f.suffix not in (".db", ".db-wal", ".db-shm"):
            assert SECRET.encode() not in f.read_bytes(), f
    eng = make_engine(url)
    md = MetaData()
    md.reflect(eng)
    rows = 0
    with eng.connect() as c:
        for t in md.sorted_tables:
            for row in c.execute(select(t)):
                rows += 1
                assert SECRET not in repr(tuple(row)), (t.name, row)
    eng.dispose()
    assert rows > 100  # the runs wrote their books: the dump had something to search


@pytest.mark.slow
def test_postgresql_password_is_masked_everywhere(
    cwd: Path, postgresql_url: str, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = _with_password(postgresql_url)  # the test server trusts loopback: any password works
    monkeypatch.setenv("CATALYST_DATABASE_URL", url)
    outputs = []
    for cmd in _commands(url, cwd):
        reset_container()
        r = CLI.invoke(app, cmd)
        outputs.append(r.output)
        assert r.exit_code in (0, 1), (cmd, r.output)
        assert "Traceback" not in r.output
    assert any("***" in o for o in outputs)  # the URL was shown, masked
    _search_everything(url, cwd, outputs, caplog.text)


def test_query_password_in_a_sqlite_url_is_masked(cwd: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{cwd / 'q.db'}?password={SECRET}"
    monkeypatch.setenv("CATALYST_DATABASE_URL", url)
    for cmd in (["doctor", "--json"], ["db", "upgrade", "--db", url, "--json"],
                ["db", "current", "--db", url]):
        reset_container()
        r = CLI.invoke(app, cmd)
        assert SECRET not in r.output, (cmd, r.output)
        assert "Traceback" not in r.output
    reset_container()
    doc = json.loads(CLI.invoke(app, ["doctor", "--json"]).output)
    assert SECRET not in json.dumps(doc) and "password=***" in doc["settings"]["database_url"]


def test_library_log_records_are_redacted_and_carry_no_traceback() -> None:
    import io
    import logging

    from entrypoints.logs import MASK, configure_logging

    stream = io.StringIO()
    key = "Sk-lib-4d2f-never-print"
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging("INFO", "json", secrets=[key], stream=stream)
    try:
        try:  # what alpaca-py's stream does when its websocket fails
            raise ConnectionRefusedError(f"connect failed for wss://x?key={key}")
        except ConnectionRefusedError:
            logging.getLogger("alpaca.trading.stream").exception("error with key %s", key)
        logging.getLogger("some.lib").warning("password=%s", key)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    text = stream.getvalue()
    assert key not in text and text.count(MASK) >= 3, text
    assert "Traceback" not in text and "ConnectionRefusedError: connect failed" in text


@pytest.mark.parametrize("command", [["runs"], ["db", "upgrade"], ["risk", "status"],
                                     ["positions"], ["run", "--broker", "sim"]])
def test_unreachable_database_error_names_the_url_masked(cwd: Path,
                                                        command: list[str]) -> None:
    url = f"postgresql+psycopg://bot:{SECRET}@127.0.0.1:1/x"
    r = CLI.invoke(app, [*command, "--db", url])
    assert r.exit_code == 2, r.output
    assert SECRET not in r.output and "Traceback" not in r.output
    assert "bot:***@127.0.0.1:1/x" in "".join(r.output.split()), r.output  # wrapped lines
