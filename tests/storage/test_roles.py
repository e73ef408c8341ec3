"""The least-privilege PostgreSQL application role: it runs the daemon's work and cannot touch the schema."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError

from crawler.storage import Store, dispose_engines, ensure_current, make_engine, upgrade
from crawler.storage.roles import grant_app_role
from tests.storage.fixtures import PG_ADMIN_URL, empty_postgres
from tests.storage.helpers import item, ref


@pytest.fixture
def app_url(pg_database_url: str) -> Iterator[str]:
    """A migrated database and the URL of a fresh application role on it."""
    empty_postgres(pg_database_url)
    upgrade(pg_database_url)
    role = f"fundcrawl_test_app_{secrets.token_hex(4)}"
    with make_engine(pg_database_url).begin() as connection:
        connection.execute(text(f"CREATE ROLE {role} LOGIN"))
    grant_app_role(pg_database_url, role)
    try:
        yield make_url(pg_database_url).set(username=role).render_as_string(hide_password=False)
    finally:
        dispose_engines()
        with make_engine(pg_database_url).begin() as connection:
            connection.execute(text(f"DROP OWNED BY {role}"))
        dispose_engines()
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f"DROP ROLE IF EXISTS {role}"))
        admin.dispose()


def test_the_app_role_does_the_daemons_work(app_url: str) -> None:
    store = Store.from_url(app_url)
    ensure_current(store.engine)
    assert store.add_discovered([ref(1), ref(2)]) == [1, 2]
    assert store.claim(1, lease_seconds=60, max_attempts=3) is not None
    assert store.save_report(item(1), "x") and store.save_report(item(1, version="2"), "x")
    assert store.mark_failed(2, reason="http_404", error="404")
    assert store.counts() == {"total": 2, "stored": 1, "failed": 1, "pending": 0}


@pytest.mark.parametrize(
    "statement",
    [
        "DROP TABLE reports",
        "DELETE FROM reports",
        "TRUNCATE holdings",
        "CREATE TABLE intruder (x int)",
        "ALTER TABLE reports ADD COLUMN x int",
        "UPDATE alembic_version SET version_num = 'x'",
    ],
)
def test_the_app_role_cannot_change_the_schema_or_erase_reports(app_url: str, statement: str) -> None:
    with (
        make_engine(app_url).connect() as connection,
        pytest.raises(ProgrammingError, match="permission denied|must be owner"),
    ):
        connection.execute(text(statement))


def test_the_app_role_sessions_carry_the_timeouts(app_url: str) -> None:
    with make_engine(app_url).connect() as connection:
        assert connection.exec_driver_sql("SHOW statement_timeout").scalar() == "1min"


def test_sqlite_has_no_roles(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="only on PostgreSQL"):
        grant_app_role(f"sqlite:///{tmp_path / 'x.sqlite'}", "fundcrawl_app")


def test_role_names_are_checked_before_any_sql(pg_database_url: str) -> None:
    with pytest.raises(ValueError, match="role names"):
        grant_app_role(pg_database_url, "x; DROP TABLE reports")
