"""Typed errors of the persistence adapter: each says what is wrong and what to do.

They derive from :class:`domain.errors.DomainError` so that entrypoints can report them as
expected failures (a message and exit code 2), never as a traceback.
"""

from __future__ import annotations

from domain.errors import DomainError


class PersistenceError(DomainError):
    """Base of the database errors this adapter raises on purpose."""


class DatabaseUrlError(PersistenceError):
    """The database URL is malformed or names an unsupported database or driver."""


class DatabaseReadOnly(PersistenceError):
    """The database (or the directory that holds it) cannot be written."""


class DatabaseUnavailable(PersistenceError):
    """The database cannot be opened or reached (server down, path is a directory, ...)."""


class SchemaError(PersistenceError):
    """The database's schema cannot be used by this version of catalyst."""


class SchemaTooNew(SchemaError):
    """The database was migrated by a newer catalyst; this version does not know its schema."""

    def __init__(self, current: str, head: str) -> None:
        self.current = current
        self.head = head
        super().__init__(
            f"database schema revision {current!r} is newer than this catalyst knows "
            f"(latest known: {head!r}); upgrade catalyst-trader, or point "
            "CATALYST_DATABASE_URL at another database"
        )


class SchemaOutdated(SchemaError):
    """The database's schema is older than this catalyst's; ``catalyst db upgrade`` migrates it."""

    def __init__(self, current: str, head: str) -> None:
        self.current = current
        self.head = head
        super().__init__(
            f"database schema revision {current!r} is older than this catalyst's {head!r}; "
            "back the database up, then run `catalyst db upgrade`"
        )


class SchemaUnmanaged(SchemaError):
    """The database holds tables but no Alembic revision: it was not created by catalyst."""


__all__ = [
    "DatabaseReadOnly",
    "DatabaseUnavailable",
    "DatabaseUrlError",
    "PersistenceError",
    "SchemaError",
    "SchemaOutdated",
    "SchemaTooNew",
    "SchemaUnmanaged",
]
