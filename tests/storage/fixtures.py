"""Database fixtures: every storage test runs on SQLite (a temp file) and on the local PostgreSQL.

PostgreSQL gets one uniquely named database per test session (dropped at the end); each test starts from an
empty ``public`` schema in it. Import these fixtures into a conftest to use them elsewhere.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from crawler.storage import dispose_engines, make_engine

#: Maintenance connection to the local server (trust auth, see .ci/run).
PG_ADMIN_URL = os.environ.get(
    "FUNDCRAWL_TEST_PG_ADMIN_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)


def _admin_execute(sql: str) -> None:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(sql))
    finally:
        admin.dispose()


@contextmanager
def temporary_database(prefix: str) -> Iterator[str]:
    """A uniquely named PostgreSQL database ``<prefix>_<pid>_<random>``, dropped afterwards (connections first).

    The storage fixtures and the benches (``bench/common.py``) both create their databases here.
    """
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
    _admin_execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        dispose_engines()
        _admin_execute(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
        _admin_execute(f'DROP DATABASE IF EXISTS "{name}"')


@pytest.fixture(scope="session")
def pg_database_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session."""
    with temporary_database("fundcrawl_test_storage") as url:
        yield url


def empty_postgres(url: str) -> None:
    """Drop everything in the test database (a new test starts from nothing)."""
    dispose_engines()
    engine = create_engine(
        url.replace("postgresql://", "postgresql+psycopg2://"), isolation_level="AUTOCOMMIT"
    )
    try:
        with engine.connect() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()


def fresh_database_url(engine: str, request: pytest.FixtureRequest, directory: Path) -> str:
    """An empty database of ``engine`` (``"sqlite"`` or ``"postgresql"``): a new SQLite file ``fundcrawl.sqlite`` in
    ``directory``, or the session's PostgreSQL database (``pg_database_url``) emptied."""
    if engine == "sqlite":
        return f"sqlite:///{directory / 'fundcrawl.sqlite'}"
    url: str = request.getfixturevalue("pg_database_url")
    empty_postgres(url)
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """Each storage test runs once per database engine."""
    return str(request.param)


@pytest.fixture
def engine_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database URL, once per engine."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'fundcrawl.sqlite'}"
    else:
        url = request.getfixturevalue("pg_database_url")
        empty_postgres(url)
    try:
        yield url
    finally:
        dispose_engines()


def _truncate_all(url: str) -> None:
    from crawler.storage.tables import metadata

    # DELETE, not TRUNCATE: on a handful of rows it avoids rewriting every table file.
    with make_engine(url).begin() as connection:
        for table in reversed(metadata.sorted_tables):
            connection.execute(table.delete())


@pytest.fixture
def db_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL with the schema at head and no rows.

    PostgreSQL keeps the migrated schema between tests and only truncates, which is much faster than
    migrating again; a test that changes the schema version gets a fresh migration next time.
    """
    from crawler.storage import current_revision, head_revision, upgrade

    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'fundcrawl.sqlite'}"
        upgrade(url)
    else:
        url = request.getfixturevalue("pg_database_url")
        if current_revision(url) == head_revision():
            _truncate_all(url)
        else:
            empty_postgres(url)
            upgrade(url)
    try:
        yield url
    finally:
        dispose_engines()
