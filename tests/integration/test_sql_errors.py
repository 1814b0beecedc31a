"""Bad input gets a clear, typed error (library) or a message and exit 2 (CLI), never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from adapters.sqlalchemy import (
    DatabaseReadOnly,
    DatabaseUnavailable,
    DatabaseUrlError,
    SchemaTooNew,
    SchemaUnmanaged,
    make_engine,
    sql_uow_factory,
)
from adapters.sqlalchemy import tables as t
from entrypoints.cli.db import app
from tests.integration.sql_support import make_order

runner = CliRunner()
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def _db(tmp_path: Path) -> tuple[str, Path]:
    path = tmp_path / "var" / "catalyst.db"
    return f"sqlite:///{path}", path


def _make_newer(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    engine.dispose()


@pytest.mark.parametrize(
    "url",
    [
        "not a url",
        "",
        "mysql://u:p@localhost/db",
        "postgresql+psycopg2://u:p@localhost/db",
        "postgresql+psycopg://u:p@localhost",
        "sqlite+nosuchdriver:///x.db",
    ],
)
def test_make_engine_when_url_malformed_or_unsupported_then_database_url_error(url: str) -> None:
    with pytest.raises(DatabaseUrlError, match=r"expected|driver|unsupported|malformed"):
        make_engine(url)


def test_make_engine_when_schema_revision_newer_then_schema_too_new(tmp_path: Path) -> None:
    url, _ = _db(tmp_path)
    _make_newer(url)
    with pytest.raises(SchemaTooNew, match=r"9999_from_the_future.*newer than this catalyst"):
        make_engine(url)


def test_make_engine_when_tables_without_revision_then_schema_unmanaged(tmp_path: Path) -> None:
    url, path = _db(tmp_path)
    path.parent.mkdir(parents=True)
    raw = create_engine(url)
    t.metadata.create_all(raw)
    raw.dispose()
    with pytest.raises(SchemaUnmanaged, match="no schema revision"):
        make_engine(url)


def test_make_engine_when_sqlite_opened_read_only_then_database_read_only(
    tmp_path: Path,
) -> None:
    url, path = _db(tmp_path)
    make_engine(url).dispose()
    with pytest.raises(DatabaseReadOnly, match="read-only"):
        make_engine(f"sqlite:///file:{path}?mode=ro&uri=true")


@pytest.mark.skipif(IS_ROOT, reason="root ignores file permissions; the ?mode=ro case covers it")
def test_make_engine_when_file_not_writable_then_database_read_only(tmp_path: Path) -> None:
    url, path = _db(tmp_path)
    make_engine(url).dispose()
    path.chmod(0o444)
    try:
        with pytest.raises(DatabaseReadOnly, match="read-only"):
            make_engine(url)
    finally:
        path.chmod(0o644)


def test_make_engine_when_path_is_a_directory_then_database_unavailable(tmp_path: Path) -> None:
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(DatabaseUnavailable, match="is a directory"):
        make_engine(f"sqlite:///{tmp_path / 'dir.db'}")


def test_make_engine_when_file_is_not_sqlite_then_database_unavailable(tmp_path: Path) -> None:
    bad = tmp_path / "junk.db"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(DatabaseUnavailable, match="not a usable SQLite database"):
        make_engine(f"sqlite:///{bad}")


def test_make_engine_when_postgresql_unreachable_then_database_unavailable() -> None:
    with pytest.raises(DatabaseUnavailable, match="cannot reach"):
        make_engine("postgresql+psycopg://nobody:secret@127.0.0.1:1/catalyst?connect_timeout=2")


def test_unavailable_error_never_shows_the_password() -> None:
    with pytest.raises(DatabaseUnavailable) as info:
        make_engine("postgresql+psycopg://nobody:s3cr3t@127.0.0.1:1/catalyst?connect_timeout=2")
    assert "s3cr3t" not in str(info.value)


def test_uow_when_naive_datetime_then_refused_and_nothing_written(tmp_path: Path) -> None:
    url, _ = _db(tmp_path)
    uows = sql_uow_factory(url)
    order = make_order("ct-1")
    order.created_at = order.created_at.replace(tzinfo=None)
    with uows() as uow, pytest.raises(Exception, match="naive datetime"):
        uow.orders.add(order)
    with uows() as uow:
        assert uow.orders.get("ct-1") is None


# --- CLI --------------------------------------------------------------------------------
def _cli(*args: str) -> tuple[int, str]:
    r = runner.invoke(app, list(args))
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    return r.exit_code, " ".join(r.output.split())  # undo Rich's line wrapping


@pytest.mark.parametrize("command", ["upgrade", "current", "check"])
def test_cli_when_url_malformed_then_exit_2_with_message(command: str) -> None:
    code, output = _cli(command, "--db", "mysql://u:pw@h/db")
    assert code == 2
    assert "database_url=" in output and "expected" in output
    assert "Traceback" not in output and "pw@" not in output


@pytest.mark.parametrize("command", ["upgrade", "check"])
def test_cli_when_schema_newer_then_exit_2_with_message(tmp_path: Path, command: str) -> None:
    url, _ = _db(tmp_path)
    _make_newer(url)
    code, output = _cli(command, "--db", url)
    assert code == 2, output
    assert "newer than this catalyst" in output and "Traceback" not in output


def test_cli_current_when_schema_newer_then_says_so(tmp_path: Path) -> None:
    url, _ = _db(tmp_path)
    _make_newer(url)
    code, output = _cli("current", "--db", url, "--json")
    assert code == 0 and "NEWER than this catalyst" in output


def test_cli_upgrade_when_database_read_only_then_exit_2_with_message(tmp_path: Path) -> None:
    url, path = _db(tmp_path)
    make_engine(url).dispose()
    code, output = _cli("upgrade", "--db", f"sqlite:///file:{path}?mode=ro&uri=true")
    assert code == 2, output
    assert "read-only" in output and "Traceback" not in output


@pytest.mark.parametrize("command", ["current", "check"])
def test_cli_inspecting_a_read_only_database_works(tmp_path: Path, command: str) -> None:
    url, path = _db(tmp_path)
    make_engine(url).dispose()
    code, output = _cli(command, "--db", f"sqlite:///file:{path}?mode=ro&uri=true")
    assert code == 0, output


def test_cli_upgrade_current_check_on_a_new_database(tmp_path: Path) -> None:
    url, path = _db(tmp_path)
    code, output = _cli("current", "--db", url, "--json")
    assert code == 0 and '"state": "empty"' in output
    code, output = _cli("upgrade", "--db", url)
    assert code == 0 and "migrated" in output and path.exists()
    code, output = _cli("upgrade", "--db", url)
    assert code == 0 and "already at revision" in output
    code, output = _cli("current", "--db", url, "--json")
    assert code == 0 and '"state": "up to date"' in output
    code, output = _cli("check", "--db", url)
    assert code == 0 and "integrity" in output and "ok" in output


def test_cli_check_when_data_inconsistent_then_exit_1_and_names_the_problem(
    tmp_path: Path,
) -> None:
    url, _ = _db(tmp_path)
    engine = make_engine(url)
    with sql_uow_factory(engine)() as uow:
        uow.orders.add(make_order("ct-1"))
        uow.commit()
    with engine.begin() as conn:
        conn.execute(t.orders.update().values(fill_ids=["f-ghost"]))
    engine.dispose()
    code, output = _cli("check", "--db", url, "--json")
    assert code == 1
    assert "f-ghost" in output


def test_console_script_when_bad_url_then_exit_2_and_no_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "CATALYST_DATABASE_URL": "sqlite+nosuchdriver:///x.db"}
    proc = subprocess.run(
        [sys.executable, "-c", "from entrypoints.cli.app import main; main()", "db", "current"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60, check=False,
    )
    both = proc.stdout + proc.stderr
    assert proc.returncode == 2, both
    assert "Traceback" not in both and "database_url=" in both
