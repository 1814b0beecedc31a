"""Alembic environment: runs on the connection the caller passes (see ``migrate.upgrade``).

Run standalone (``alembic -c <ini>``) it opens ``sqlalchemy.url`` with ``make_engine``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from adapters.sqlalchemy.tables import metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    """Emit SQL to stdout instead of running it (``alembic upgrade --sql``)."""
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations on the caller's connection or on a new engine."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from adapters.sqlalchemy.engine import make_engine

    url = config.get_main_option("sqlalchemy.url")
    assert url, "set sqlalchemy.url"
    engine = make_engine(url, migrate=False)
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
