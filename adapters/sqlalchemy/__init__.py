"""Persistence on SQLAlchemy 2 Core: SQLite (WAL) by default, PostgreSQL by URL.

Public API::

    engine = make_engine("sqlite:///var/catalyst.db")     # migrates an empty database
    uow_factory = sql_uow_factory(engine)                  # or sql_uow_factory(url)
    with uow_factory() as uow:                             # a SqlUnitOfWork (application.ports.UnitOfWork)
        uow.orders.add(order)
        uow.commit()
    check_integrity(engine)                                # [] when consistent

Errors are typed (:mod:`adapters.sqlalchemy.errors`): a malformed URL, a read-only file or a
schema from a newer catalyst each raise a :class:`PersistenceError` with a clear message.
"""

from __future__ import annotations

from adapters.sqlalchemy.engine import make_engine, mask, parse_url
from adapters.sqlalchemy.errors import (
    DatabaseReadOnly,
    DatabaseUnavailable,
    DatabaseUrlError,
    PersistenceError,
    SchemaError,
    SchemaOutdated,
    SchemaTooNew,
    SchemaUnmanaged,
)
from adapters.sqlalchemy.integrity import check_integrity
from adapters.sqlalchemy.migrate import check_schema, current_revision, head_revision, upgrade
from adapters.sqlalchemy.tables import metadata
from adapters.sqlalchemy.uow import SqlUnitOfWork, sql_uow_factory

__all__ = [
    "DatabaseReadOnly",
    "DatabaseUnavailable",
    "DatabaseUrlError",
    "PersistenceError",
    "SchemaError",
    "SchemaOutdated",
    "SchemaTooNew",
    "SchemaUnmanaged",
    "SqlUnitOfWork",
    "check_integrity",
    "check_schema",
    "current_revision",
    "head_revision",
    "make_engine",
    "mask",
    "metadata",
    "parse_url",
    "sql_uow_factory",
    "upgrade",
]
