"""Engines: URL checks, SQLite pragmas (WAL, foreign keys, busy timeout) and schema checks.

``make_engine`` is the one way the project opens a database. It refuses what it cannot use
with a typed error from :mod:`adapters.sqlalchemy.errors` (malformed URL, read-only file,
schema from a newer catalyst) and migrates an empty database to the latest revision.
"""

from __future__ import annotations

import json
import os
import re
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from adapters.sqlalchemy.errors import (
    DatabaseReadOnly,
    DatabaseUnavailable,
    DatabaseUrlError,
    PersistenceError,
)

Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]
BUSY_TIMEOUT_MS = 15_000
_EXPECTED = "sqlite:///path/to/file.db or postgresql+psycopg://user:password@host:5432/dbname"


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, set | frozenset | tuple):
        return sorted(value) if isinstance(value, set | frozenset) else list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def json_dumps(value: Any) -> str:
    """Serialise a JSON document; Decimals become strings, datetimes ISO 8601."""
    return json.dumps(value, default=_json_default, separators=(",", ":"), sort_keys=True)


def mask(url: URL | str) -> str:
    """Return ``url`` with its password hidden."""
    try:
        u = url if isinstance(url, URL) else make_url(url)
    except ArgumentError:
        return "<malformed>"
    if u.query:  # a password passed as a query parameter is hidden too
        u = u.set(query={k: ("***" if _SECRET_QUERY.fullmatch(k) else v)
                         for k, v in u.query.items()})
    return u.render_as_string(hide_password=True)


def _mask_text(url: str) -> str:
    """Hide a password in a URL that does not parse (user info and secret query values)."""
    text = re.sub(r"(://[^/:@?#]*:)[^?#]*@", r"\1***@", url)
    return re.sub(r"([?&;](?:password|passwd|pwd|pass|secret|token|key)=)[^&;#]*", r"\1***",
                  text, flags=re.IGNORECASE)


_SECRET_QUERY = re.compile(r"password|passwd|pwd|pass|sslpassword|secret|token|api_key|apikey|"
                           r"access_token|key", re.IGNORECASE)


def parse_url(url: str | URL) -> URL:
    """Parse and normalise a database URL or raise :class:`DatabaseUrlError`.

    ``postgresql://`` and ``postgres://`` mean the psycopg 3 driver (the one installed).
    """
    if isinstance(url, URL):
        u = url
    else:
        if not isinstance(url, str) or not url.strip():
            raise DatabaseUrlError(f"invalid database URL {url!r}: expected {_EXPECTED}")
        try:
            u = make_url(url.strip())
        except (ArgumentError, ValueError) as exc:
            raise DatabaseUrlError(
                f"malformed database URL {_mask_text(url)!r}: expected {_EXPECTED}"
            ) from exc
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    backend = u.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise DatabaseUrlError(
            f"unsupported database {u.drivername!r} in {mask(u)!r}: expected {_EXPECTED}"
        )
    if backend == "postgresql":
        if u.get_driver_name() not in ("psycopg", "psycopg_async"):
            raise DatabaseUrlError(
                f"unsupported PostgreSQL driver {u.get_driver_name()!r}: use postgresql+psycopg://"
            )
        if not u.database:
            raise DatabaseUrlError(f"database URL {mask(u)!r} names no database: expected {_EXPECTED}")
    return u


def is_memory(u: URL) -> bool:
    """Return True for an in-memory SQLite URL."""
    db = u.database or ""
    return u.get_backend_name() == "sqlite" and (db in ("", ":memory:") or "mode=memory" in db)


def sqlite_path(u: URL) -> Path | None:
    """Return the file of a SQLite URL (None for memory and ``file:`` URIs)."""
    if u.get_backend_name() != "sqlite" or is_memory(u):
        return None
    db = u.database or ""
    if db.startswith("file:"):
        return None
    return Path(db)


def _prepare_sqlite_file(path: Path, writable: bool) -> None:
    if path.exists() and path.is_dir():
        raise DatabaseUnavailable(f"database path {str(path)!r} is a directory, expected a file")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatabaseUnavailable(
            f"cannot create the directory {str(path.parent)!r} for the database: {exc.strerror}"
        ) from exc
    if not writable:
        return
    if path.exists() and not os.access(path, os.W_OK):
        raise DatabaseReadOnly(
            f"database file {str(path)!r} is read-only: make it writable (chmod u+w) "
            "or point CATALYST_DATABASE_URL at a writable copy"
        )
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise DatabaseReadOnly(
            f"directory {str(path.parent)!r} is read-only: SQLite needs to create its "
            "write-ahead log next to the database"
        )


def _sqlite_engine(u: URL, synchronous: Synchronous, echo: bool, writable: bool) -> Engine:
    memory = is_memory(u)
    path = sqlite_path(u)
    if path is not None:
        _prepare_sqlite_file(path, writable)
    kwargs: dict[str, Any] = {"echo": echo, "json_serializer": json_dumps}
    if memory:
        kwargs["poolclass"] = StaticPool
        kwargs["connect_args"] = {"check_same_thread": False}
    else:
        kwargs["connect_args"] = {"timeout": BUSY_TIMEOUT_MS / 1000}
    engine = create_engine(u, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Transactions are ours (BEGIN IMMEDIATE below), not the sqlite3 module's.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        try:
            cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            cur.execute("PRAGMA foreign_keys = ON")
            if not memory:
                cur.execute("PRAGMA journal_mode = WAL")
            cur.execute(f"PRAGMA synchronous = {synchronous}")
        finally:
            cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # IMMEDIATE takes the write lock up front: a read-then-write transaction never
        # fails half way with "database is locked"; it waits (busy timeout) instead.
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def translate(exc: BaseException, url: URL | str | None = None) -> PersistenceError | None:
    """Return the typed error for a driver failure we can explain, else None."""
    where = f" ({mask(url)})" if url is not None else ""
    msg = str(getattr(exc, "orig", None) or exc)
    low = msg.lower()
    first = msg.strip().splitlines()[0][:300] if msg.strip() else type(exc).__name__
    if "readonly" in low or "read-only" in low or "read only" in low:
        return DatabaseReadOnly(f"the database is read-only{where}: {first}")
    if "file is not a database" in low or "malformed" in low:
        return DatabaseUnavailable(f"the file is not a usable SQLite database{where}: {first}")
    if "unable to open database" in low or "disk i/o error" in low or "database or disk is full" in low:
        return DatabaseUnavailable(f"cannot open or write the database{where}: {first}")
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return DatabaseUnavailable(f"lost the database connection{where}: {first}")
    if isinstance(exc, DBAPIError) and (
        "connection" in low or "could not" in low or "password authentication" in low
        or "does not exist" in low or "timeout" in low
    ):
        return DatabaseUnavailable(f"cannot reach the database{where}: {first}")
    return None


def probe_writable(engine: Engine) -> None:
    """Raise :class:`DatabaseReadOnly` unless the database accepts a write (rolled back)."""
    if engine.dialect.name != "sqlite":
        return
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("CREATE TABLE _catalyst_write_probe (x INTEGER)")
            conn.rollback()
    except SQLAlchemyError as exc:
        typed = translate(exc, engine.url)
        if typed is not None:
            raise typed from exc
        raise


def make_engine(
    url: str | URL,
    *,
    migrate: bool = True,
    writable: bool = True,
    synchronous: Synchronous = "FULL",
    echo: bool = False,
) -> Engine:
    """Open a database and return its engine.

    SQLite: the parent directory is created, WAL and ``foreign_keys`` are on, writers wait up to
    15 s for the lock, every transaction starts with ``BEGIN IMMEDIATE`` and ``synchronous``
    is FULL (a committed transaction survives a power cut; NORMAL survives a process crash).
    PostgreSQL: ``postgresql+psycopg://…`` with pre-ping.

    With ``migrate`` (the default) an empty database is migrated to the latest revision and
    any other is checked: :class:`~adapters.sqlalchemy.errors.SchemaTooNew` for a database
    from a newer catalyst, :class:`~adapters.sqlalchemy.errors.SchemaOutdated` for one that
    needs ``catalyst db upgrade``. With ``writable`` (the default) a database that cannot be
    written raises :class:`~adapters.sqlalchemy.errors.DatabaseReadOnly` here, not at the
    first commit; pass ``writable=False`` to inspect a read-only copy.
    Raises the typed errors of :mod:`adapters.sqlalchemy.errors`.
    """
    u = parse_url(url)
    try:
        if u.get_backend_name() == "sqlite":
            engine = _sqlite_engine(u, synchronous, echo, writable)
        else:
            engine = create_engine(u, echo=echo, pool_pre_ping=True, json_serializer=json_dumps)
            # an executemany INSERT goes out as multi-row INSERT … VALUES statements (1,000
            # rows a page) instead of one prepared INSERT a row in psycopg's pipeline: the
            # server plans and runs one statement a page (SQLAlchemy's "insertmanyvalues", on
            # for this dialect with RETURNING only by default)
            engine.dialect.use_insertmanyvalues_wo_returning = True
    except (NoSuchModuleError, ImportError) as exc:
        raise DatabaseUrlError(f"no driver for {u.drivername!r}: expected {_EXPECTED}") from exc
    except ArgumentError as exc:
        raise DatabaseUrlError(f"malformed database URL {mask(u)!r}: {exc}") from exc
    if migrate or writable:
        from adapters.sqlalchemy.migrate import ensure_schema

        try:
            if writable:
                probe_writable(engine)
            if migrate:
                ensure_schema(engine)
        except PersistenceError:
            engine.dispose()
            raise
        except SQLAlchemyError as exc:
            engine.dispose()
            typed = translate(exc, u)
            if typed is not None:
                raise typed from exc
            raise
    return engine
