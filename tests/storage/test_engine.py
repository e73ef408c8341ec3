"""Engines: SQLite concurrency settings, PostgreSQL timeouts, fork safety, and outages as transient errors."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import threading
from pathlib import Path

import pytest
from sqlalchemy import Connection, create_engine, select, text, update
from sqlalchemy.exc import IntegrityError

from crawler.exceptions import DatabaseLockedError, StorageUnavailableError
from crawler.storage import Store, make_engine, upgrade
from crawler.storage import engine as engine_module
from crawler.storage.engine import run_unit
from crawler.storage.tables import reports
from tests.storage.fixtures import empty_postgres
from tests.storage.helpers import ref

NOW = dt.datetime(2025, 5, 1, tzinfo=dt.UTC)


def test_sqlite_runs_in_wal_with_a_long_busy_timeout_and_foreign_keys(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.sqlite'}")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 20_000
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_concurrent_sqlite_read_modify_write_transactions_never_see_database_locked(tmp_path: Path) -> None:
    """BEGIN IMMEDIATE takes the write lock up front, so writers queue instead of failing."""
    url = f"sqlite:///{tmp_path / 'busy.sqlite'}"
    upgrade(url)
    store = Store.from_url(url)
    store.add_discovered([ref(1)])
    errors: list[BaseException] = []

    def bump(connection: object) -> None:
        current = connection.execute(
            select(reports.c.attempts).where(reports.c.upload_info_id == 1)
        ).scalar_one()  # type: ignore[attr-defined]
        connection.execute(update(reports).where(reports.c.upload_info_id == 1).values(attempts=current + 1))  # type: ignore[attr-defined]

    def writer() -> None:
        try:
            for _ in range(25):
                store.write(bump)
        except BaseException as error:  # noqa: BLE001 - collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert store.attempts(1) == 100  # no lost update either


def test_postgresql_sessions_carry_timeouts(pg_database_url: str) -> None:
    with make_engine(pg_database_url).connect() as connection:
        assert connection.exec_driver_sql("SHOW statement_timeout").scalar() == "1min"
        assert connection.exec_driver_sql("SHOW idle_in_transaction_session_timeout").scalar() == "2min"
    engine = make_engine(pg_database_url)
    assert engine.pool._pre_ping and engine.hide_parameters  # type: ignore[attr-defined]


def test_an_unreachable_postgresql_is_a_transient_error() -> None:
    store = Store.from_url("postgresql://fundcrawl:canary-pw@127.0.0.1:1/nothing")
    with pytest.raises(StorageUnavailableError) as raised:
        store.counts()
    assert "canary-pw" not in str(raised.value)


def test_a_locked_sqlite_database_is_a_transient_error(tmp_path: Path) -> None:
    path = tmp_path / "locked.sqlite"
    holder = create_engine(f"sqlite:///{path}", connect_args={"isolation_level": None})
    impatient = create_engine(f"sqlite:///{path}", connect_args={"timeout": 0})
    with holder.connect() as connection:
        connection.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        connection.exec_driver_sql("BEGIN EXCLUSIVE")

        def write() -> None:
            with impatient.begin() as other:
                other.execute(text("INSERT INTO t VALUES (1)"))

        with pytest.raises(DatabaseLockedError, match="database is locked.*waiting until it lets go"):
            run_unit(write, attempts=2, pause=0.01)
        connection.exec_driver_sql("ROLLBACK")
    holder.dispose()
    impatient.dispose()


def test_a_writer_waits_for_an_analysts_lock_until_the_busy_timeout_then_fails_as_locked(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """The daemon's own wait for the write lock (short pauses first, then SQLite's busy handler) keeps its limit
    and its error, and leaves the connection's busy timeout as it found it."""
    monkeypatch.setattr(engine_module, "SQLITE_BUSY_TIMEOUT_MS", 1500)
    monkeypatch.setattr(engine_module, "FAST_LOCK_WAIT_SECONDS", 0.2)
    url = f"sqlite:///{tmp_path / 'analyst.sqlite'}"
    upgrade(url)
    analyst = create_engine(url, connect_args={"isolation_level": None})
    store = Store.from_url(url)
    with analyst.connect() as holding:
        holding.exec_driver_sql("BEGIN EXCLUSIVE")
        with pytest.raises(DatabaseLockedError, match="database is locked"):
            store.add_discovered([ref(1)])
        holding.exec_driver_sql("ROLLBACK")

        # Freed within the short pauses, then later, within SQLite's own wait: the first try gets the lock.
        for upload_info_id, held_for in ((2, 0.1), (3, 0.6)):
            holding.exec_driver_sql("BEGIN EXCLUSIVE")
            timer = threading.Timer(held_for, holding.exec_driver_sql, ("COMMIT",))
            caplog.clear()
            timer.start()
            assert store.add_discovered([ref(upload_info_id)]) == [upload_info_id]
            timer.join()
            assert "database unavailable" not in caplog.text  # nothing was retried
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 1500
    analyst.dispose()


def test_a_constraint_violation_is_not_retried_or_disguised(db_url: str) -> None:
    store = Store.from_url(db_url)
    store.add_discovered([ref(1)])
    calls = []

    def bad(connection: object) -> None:
        calls.append(1)
        connection.execute(update(reports).values(state="nonsense"))  # type: ignore[attr-defined]

    with pytest.raises(IntegrityError):
        store.write(bad)
    assert calls == [1]


def _child_uses_its_own_engine(url: str, parent_engine: object, answers: multiprocessing.Queue) -> None:
    engine = make_engine(url)
    with engine.connect() as connection:
        answers.put((engine is not parent_engine, connection.execute(text("SELECT 1")).scalar()))


def test_a_forked_child_builds_its_own_engine_and_the_parent_keeps_working(db_url: str) -> None:
    parent = make_engine(db_url)
    with parent.connect() as connection:  # a pooled connection exists before the fork
        connection.execute(text("SELECT 1"))
    context = multiprocessing.get_context("fork")
    answers: multiprocessing.Queue = context.Queue()
    child = context.Process(target=_child_uses_its_own_engine, args=(db_url, parent, answers))
    child.start()
    child.join(60)

    assert answers.get(timeout=5) == (True, 1)
    assert make_engine(db_url) is parent
    with parent.connect() as connection:
        assert connection.execute(text("SELECT 2")).scalar() == 2


def test_a_postgresql_connection_killed_mid_transaction_is_retried_whole(pg_database_url: str) -> None:
    """pool_pre_ping cannot save a connection dropped inside a transaction: the unit of work is rerun."""
    empty_postgres(pg_database_url)
    upgrade(pg_database_url)
    store = Store.from_url(pg_database_url)
    store.add_discovered([ref(1)])
    calls: list[int] = []

    def work(connection: Connection) -> None:
        calls.append(1)
        connection.execute(update(reports).values(attempts=reports.c.attempts + 1))
        if len(calls) == 1:
            pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
            with make_engine(pg_database_url).connect() as admin:
                admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            connection.exec_driver_sql("SELECT 1")

    store.write(work)

    assert calls == [1, 1]
    assert store.attempts(1) == 1  # the first, killed attempt left nothing behind


def test_database_errors_never_carry_bound_values(db_url: str) -> None:
    """A canary in a bound parameter must not reach a log line or Sentry through an error."""
    store = Store.from_url(db_url)
    store.add_discovered([ref(1)])
    statement = reports.insert().values(
        upload_info_id=1, state="pending", fund_short_name="CANARY-6d1f", discovered_at=NOW, updated_at=NOW
    )

    with pytest.raises(IntegrityError) as raised:
        store.write(lambda connection: connection.execute(statement))

    assert "CANARY-6d1f" not in str(raised.value) and "CANARY-6d1f" not in repr(raised.value)
