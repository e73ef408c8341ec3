"""A least-privilege PostgreSQL role for the daemon.

Migrations run as the owner; workers and beat connect as an application role that can read and write rows
but never change the schema. It gets no ``DELETE`` except on the normalized tables, whose rows are replaced
when a report is re-saved, and its sessions carry the same timeouts as the daemon's engine.
"""

from __future__ import annotations

import logging
import re

from sqlalchemy import Connection, text
from sqlalchemy.engine import URL

from crawler.storage import tables
from crawler.storage.engine import (
    PG_IDLE_IN_TRANSACTION_TIMEOUT_MS,
    PG_STATEMENT_TIMEOUT_MS,
    make_engine,
    run_unit,
)

log = logging.getLogger(__name__)

ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
READ_WRITE = "SELECT, INSERT, UPDATE"
REPLACEABLE = "SELECT, INSERT, UPDATE, DELETE"


def table_privileges() -> dict[str, str]:
    """What the application role may do, table by table."""
    normalized = {table.name for table in tables.NORMALIZED}
    grants = {
        table.name: REPLACEABLE if table.name in normalized else READ_WRITE
        for table in tables.metadata.sorted_tables
    }
    grants["alembic_version"] = "SELECT"  # ensure_current reads it; only `fundcrawl db upgrade` writes it
    return grants


def grant_statements(connection: Connection, role: str) -> list[str]:
    """The GRANT/REVOKE/ALTER statements for ``role`` on this database."""
    if not ROLE_NAME.fullmatch(role):
        raise ValueError("role names are lowercase letters, digits and underscores (at most 63)")
    quoted = connection.dialect.identifier_preparer.quote(role)
    database = connection.dialect.identifier_preparer.quote(
        connection.exec_driver_sql("SELECT current_database()").scalar_one()
    )
    statements = [
        # PostgreSQL 15 dropped PUBLIC's CREATE on `public` only for new databases: revoke it explicitly.
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
        f"GRANT CONNECT ON DATABASE {database} TO {quoted}",
        f"GRANT USAGE ON SCHEMA public TO {quoted}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {quoted}",
        f"ALTER ROLE {quoted} SET statement_timeout = {PG_STATEMENT_TIMEOUT_MS}",
        f"ALTER ROLE {quoted} SET idle_in_transaction_session_timeout = {PG_IDLE_IN_TRANSACTION_TIMEOUT_MS}",
    ]
    statements += [
        f"GRANT {rights} ON TABLE {name} TO {quoted}" for name, rights in table_privileges().items()
    ]
    return statements


def grant_app_role(url: str | URL, role: str) -> None:
    """Give the existing PostgreSQL ``role`` the daemon's privileges; run as the owner after ``db upgrade``."""
    engine = make_engine(url)
    if engine.dialect.name != "postgresql":
        raise ValueError("application roles exist only on PostgreSQL (SQLite has no users)")

    def work() -> None:
        with engine.begin() as connection:
            for statement in grant_statements(connection, role):
                connection.execute(text(statement))

    run_unit(work)
    log.info("granted the application privileges to role %s", role)
