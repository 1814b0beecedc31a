"""Alembic, driven from code: the migrations ship inside the package (``migrations/``)."""

from __future__ import annotations

import functools
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import Connection

from adapters.sqlalchemy.errors import SchemaOutdated, SchemaTooNew, SchemaUnmanaged
from adapters.sqlalchemy.tables import metadata

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "alembic_version"
_PG_LOCK_KEY = 0x4341_5441_4C59  # "CATALY": serialises concurrent migrators on PostgreSQL


def alembic_config(url: str | None = None) -> Config:
    """Return an Alembic config pointing at the packaged migrations (no alembic.ini needed)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("version_locations", str(MIGRATIONS_DIR / "versions"))
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


@functools.cache
def script_directory() -> ScriptDirectory:
    """Return the packaged migration scripts (read once per process)."""
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """Return the latest revision this catalyst knows."""
    head = script_directory().get_current_head()
    assert head is not None, "no migrations shipped"
    return head


def _current(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def current_revision(engine: Engine) -> str | None:
    """Return the database's revision (None for a database Alembic never touched)."""
    with engine.connect() as conn:
        return _current(conn)


def is_known(revision: str) -> bool:
    """Return True when ``revision`` is one of the shipped migrations."""
    try:
        return script_directory().get_revision(revision) is not None
    except CommandError:
        return False
    except Exception:  # alembic raises ResolutionError subclasses for unknown ids
        return False


def _app_tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names()) & set(metadata.tables)


def check_schema(engine: Engine) -> str:
    """Return the current revision or raise the Schema* error explaining why it is unusable."""
    head = head_revision()
    with engine.connect() as conn:
        current = _current(conn)
        tables = _app_tables(conn) if current is None else set()
    if current is None:
        if tables:
            raise SchemaUnmanaged(
                f"the database holds catalyst tables ({', '.join(sorted(tables)[:3])}, ...) "
                "but no schema revision: it was not created by `catalyst db upgrade`"
            )
        raise SchemaOutdated("<empty>", head)
    if not is_known(current):
        raise SchemaTooNew(current, head)
    if current != head:
        raise SchemaOutdated(current, head)
    return current


def upgrade(engine: Engine, revision: str = "head") -> str:
    """Migrate the database to ``revision`` (default: the latest) and return the new revision.

    Safe to run concurrently: PostgreSQL migrators take an advisory lock, SQLite ones the
    write lock (``BEGIN IMMEDIATE``); the second finds the work done.
    """
    with engine.connect() as conn:
        current = _current(conn)
    if current is not None and not is_known(current):
        raise SchemaTooNew(current, head_revision())
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
        else:
            conn.exec_driver_sql("SELECT 1")  # opens the transaction: takes the write lock
        if _current(conn) is None and _app_tables(conn):
            raise SchemaUnmanaged(
                "the database holds catalyst tables but no schema revision; refusing to migrate"
            )
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
        new = _current(conn)
    assert new is not None
    return new


def ensure_schema(engine: Engine) -> str:
    """Migrate an empty database; check any other (see :func:`check_schema`)."""
    try:
        return check_schema(engine)
    except SchemaOutdated as exc:
        if exc.current != "<empty>":
            raise
    return upgrade(engine)
