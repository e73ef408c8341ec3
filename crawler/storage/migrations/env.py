"""Alembic environment: migrations run on a connection handed over by :mod:`crawler.storage.schema`.

No URL lives in ``alembic.ini`` and logging is left alone (``fileConfig`` would replace the daemon's logging).
SQLite gets batch mode, since it cannot ``ALTER`` most things in place.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from crawler.storage.tables import metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through `fundcrawl db upgrade`, which supplies the connection")
    _run(connection)


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) migrations are not supported")
run_migrations_online()
