"""Engines for SQLite (the embedded default) and PostgreSQL, one per process, plus the retry of a unit of work.

SQLite with a worker and a beat in separate processes says "database is locked" unless it runs in WAL mode
with a long busy timeout and takes its write lock at ``BEGIN IMMEDIATE`` rather than on the first write of a
deferred transaction (SQLAlchemy's pysqlite "Serializable isolation / Savepoints / Transactional DDL" recipe).
Pooled connections must never cross a fork (parent and child would talk over one socket), so :func:`make_engine`
keeps one engine per process and URL and rebuilds it in a child.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from crawler.exceptions import DatabaseLockedError, OutOfSpaceError, StorageUnavailableError

log = logging.getLogger(__name__)

T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_MS = 30_000
#: Size the write-ahead log is cut back to whenever a checkpoint lets SQLite start it over. Without a limit SQLite
#: keeps the file at its largest size for reuse, so one long read transaction that held checkpoints back leaves
#: a WAL several times the database's size on disk for good.
SQLITE_JOURNAL_SIZE_LIMIT = 16 * 1024 * 1024
#: A WAL this large (and larger than the database) is worth a warning: something holds checkpoints back.
SQLITE_WAL_WARNING_BYTES = 64 * 1024 * 1024
#: Free bytes below which an SQLite "disk I/O error" at connect time is taken for a full disk.
SQLITE_FULL_DISK_MARGIN = 1024 * 1024
PG_CONNECT_TIMEOUT_S = 10
PG_STATEMENT_TIMEOUT_MS = 60_000
PG_IDLE_IN_TRANSACTION_TIMEOUT_MS = 120_000
#: Execution option for read-only work on SQLite: a deferred BEGIN, so readers never queue for the write lock.
READ_ONLY = {"fundcrawl_read_only": True}

_engines: dict[str, tuple[int, Engine]] = {}
_engines_lock = threading.Lock()


def _fresh_lock_in_child() -> None:
    # A lock held by another thread at fork time would stay held forever in the child.
    global _engines_lock
    _engines_lock = threading.Lock()


os.register_at_fork(after_in_child=_fresh_lock_in_child)


def normalize_url(url: str | URL) -> URL:
    """Pin the PostgreSQL driver to psycopg2 (SQLAlchemy 2.1 would otherwise pick psycopg 3, not installed)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg2")
    return parsed


def make_engine(url: str | URL) -> Engine:
    """The engine for ``url`` in this process: built on first use, rebuilt after a fork.

    A child that inherited a parent's engine drops the inherited pool without closing the parent's sockets
    (``dispose(close=False)``) and gets its own engine.
    """
    key = normalize_url(url).render_as_string(hide_password=False)
    with _engines_lock:
        cached = _engines.get(key)
        if cached is not None:
            pid, engine = cached
            if pid == os.getpid():
                return engine
            engine.dispose(close=False)
        engine = build_engine(url)
        _engines[key] = (os.getpid(), engine)
        return engine


def dispose_engines() -> None:
    """Close every engine this process built (tests, shutdown)."""
    with _engines_lock:
        for pid, engine in list(_engines.values()):
            engine.dispose(close=pid == os.getpid())
        _engines.clear()


def to_json(value: object, *, sort_keys: bool = False) -> str:
    """JSON columns as UTF-8 text: Chinese documents stay readable and a third of the escaped size.

    ``allow_nan=False``: NaN is not JSON (PostgreSQL rejects it); documents are cleaned before they get here.
    ``sort_keys``: the form comparisons use (a JSON column keeps the value's own key order).
    """
    return json.dumps(value, ensure_ascii=False, sort_keys=sort_keys, allow_nan=False)


def build_engine(url: str | URL) -> Engine:
    """A new engine with the daemon's settings (timeouts, pool sizes, SQLite's WAL and write lock); prefer
    :func:`make_engine`."""
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    if parsed.get_backend_name() == "postgresql":
        return _postgresql_engine(parsed)
    raise ValueError(f"unsupported database backend {parsed.get_backend_name()!r} (use sqlite or postgresql)")


def _postgresql_engine(url: URL) -> Engine:
    options = (
        f"-c statement_timeout={PG_STATEMENT_TIMEOUT_MS} "
        f"-c idle_in_transaction_session_timeout={PG_IDLE_IN_TRANSACTION_TIMEOUT_MS}"
    )
    return create_engine(
        url,
        json_serializer=to_json,
        # An UPDATE run for many rows (a batch's reports marked stored, their versions refreshed, a re-parse's
        # outcomes) goes to the server a hundred at a time, not one round trip per row; psycopg2 then counts only
        # the rows of the last statement, and nothing here reads the count of such an UPDATE.
        executemany_mode="values_plus_batch",
        pool_pre_ping=True,
        hide_parameters=True,
        pool_size=2,
        max_overflow=4,
        pool_recycle=1800,
        connect_args={"connect_timeout": PG_CONNECT_TIMEOUT_S, "options": options},
    )


def _sqlite_engine(url: URL) -> Engine:
    folder = None
    if url.database and url.database != ":memory:":
        folder = os.path.dirname(os.path.abspath(url.database))
        os.makedirs(folder, exist_ok=True)
    engine = create_engine(
        url,
        json_serializer=to_json,
        hide_parameters=True,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
    )

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        try:
            _sqlite_on_connect(dbapi_connection)
        except sqlite3.OperationalError as error:
            # A new connection on a full disk must create the WAL and shared-memory files; SQLite reports that
            # failure as a generic "disk I/O error", not SQLITE_FULL. Name it for what it is, so it is waited out.
            if folder and "disk i/o error" in str(error).lower() and _free_bytes(folder) < SQLITE_FULL_DISK_MARGIN:
                raise sqlite3.OperationalError(f"database or disk is full ({error} on {folder})") from error
            raise

    event.listen(engine, "connect", on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _free_bytes(folder: str) -> int:
    try:
        usage = os.statvfs(folder)
    except OSError:
        return SQLITE_FULL_DISK_MARGIN
    return usage.f_bavail * usage.f_frsize


def _sqlite_on_connect(dbapi_connection: Any) -> None:
    # Let SQLAlchemy, not pysqlite, emit BEGIN (the pysqlite recipe), then set the pragmas every connection needs.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA journal_size_limit={SQLITE_JOURNAL_SIZE_LIMIT}")
    finally:
        cursor.close()


@dataclass(frozen=True)
class WalState:
    """What a checkpoint of an SQLite database achieved: the WAL's size after it and whether a reader or
    writer kept it from finishing."""

    wal_bytes: int
    database_bytes: int
    held_back: bool


def checkpoint(engine: Engine) -> WalState | None:
    """Copy the WAL into the database and truncate it to zero bytes when no other connection needs it.

    SQLite's automatic checkpoints are PASSIVE and never shrink the file; a reader whose snapshot is older
    than the WAL's end keeps any checkpoint from restarting the WAL, so it grows for as long as that reader
    lasts (SQLite "checkpoint starvation"). A TRUNCATE checkpoint would wait for such a reader through the busy
    handler; with the busy timeout at zero it instead copies what it can, returns at once and says it was held
    back. None for PostgreSQL, which manages its own log, and when the checkpoint could not run (the next one
    will try again).
    """
    if engine.dialect.name != "sqlite" or not engine.url.database or engine.url.database == ":memory:":
        return None
    try:
        return _checkpoint_sqlite(engine, os.path.abspath(engine.url.database))
    except (DBAPIError, OSError, sqlite3.Error) as error:
        log.debug("checkpoint skipped: %s", error)
        return None


def _checkpoint_sqlite(engine: Engine, path: str) -> WalState:
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        try:
            cursor.execute("PRAGMA busy_timeout=0")
            try:
                busy, _frames, _done = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            finally:
                cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        finally:
            cursor.close()
    finally:
        raw.close()
    wal = os.path.getsize(f"{path}-wal") if os.path.exists(f"{path}-wal") else 0
    state = WalState(wal, os.path.getsize(path), bool(busy))
    if state.held_back and wal > max(SQLITE_WAL_WARNING_BYTES, state.database_bytes):
        log.warning("waiting: the database's write-ahead log %s-wal is %d MB (the database is %d MB) and cannot "
                    "be recycled while another program keeps a read transaction open on it; it shrinks once "
                    "that transaction ends", path, wal >> 20, state.database_bytes >> 20)
    return state


def _sqlite_on_begin(connection: Any) -> None:
    if connection.get_execution_options().get("fundcrawl_read_only", False):
        connection.exec_driver_sql("BEGIN")
    else:
        _begin_immediate(connection)


#: Pauses between two tries for SQLite's write lock, growing to the last; for at most FAST_LOCK_WAIT_SECONDS.
WRITE_LOCK_PAUSES = (0.0005, 0.001, 0.002, 0.004, 0.008)
FAST_LOCK_WAIT_SECONDS = 1.0


def _begin_immediate(connection: Any) -> None:
    """Take SQLite's write lock (``BEGIN IMMEDIATE``), trying again every few ms while another writer holds it.

    SQLite's own busy handler sleeps 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, then 100 ms between its tries, so a
    writer that finds the lock taken wakes up to tens of ms after it was freed: in a one-shot crawl with two
    consumers, each spent 1.4-2.0 s of its 23 s waiting at ``BEGIN IMMEDIATE`` (1.0-1.1 s with these pauses). The
    daemon's own writers hold the lock for milliseconds; a lock held longer than FAST_LOCK_WAIT_SECONDS (an
    analyst's ``BEGIN EXCLUSIVE``) is waited for by SQLite itself for the rest of the busy timeout, so the wait, its
    "database is locked" at the end and the task's time limits behave as they always did.
    """
    raw = connection.connection.dbapi_connection
    started, fast = time.monotonic(), min(FAST_LOCK_WAIT_SECONDS, SQLITE_BUSY_TIMEOUT_MS / 1000)
    pauses, pause = iter(WRITE_LOCK_PAUSES), 0.0
    raw.execute("PRAGMA busy_timeout=0")
    try:
        while True:
            try:
                raw.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as error:
                pause = next(pauses, pause)
                if not _locked_message(str(error)) or time.monotonic() - started + pause > fast:
                    break
            time.sleep(pause)
        left_ms = max(0, SQLITE_BUSY_TIMEOUT_MS - int((time.monotonic() - started) * 1000))
        raw.execute(f"PRAGMA busy_timeout={left_ms}")
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    finally:
        raw.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")


#: PostgreSQL SQLSTATE disk_full (class 53, insufficient resources).
PG_DISK_FULL = "53100"


def is_out_of_space(error: DBAPIError) -> bool:
    """The database's disk is full: SQLite's SQLITE_FULL, PostgreSQL's disk_full."""
    if getattr(error.orig, "pgcode", None) == PG_DISK_FULL:
        return True
    message = str(error.orig).lower()
    return "database or disk is full" in message or "no space left on device" in message


def is_locked(error: DBAPIError) -> bool:
    """SQLite's SQLITE_BUSY/SQLITE_LOCKED: another connection kept its lock past the busy timeout."""
    return _locked_message(str(error.orig))


def _locked_message(message: str) -> bool:
    message = message.lower()
    return "database is locked" in message or "database is busy" in message or "database table is locked" in message


def is_transient(error: DBAPIError) -> bool:
    """True when retrying later can help: a lost connection, a server going away, a busy or full SQLite file."""
    if error.connection_invalidated:
        return True
    if is_locked(error) or is_out_of_space(error):
        return True
    if isinstance(error, OperationalError | InterfaceError):
        # psycopg2 reports refused connections, shutdowns, timeouts, cancelled statements and deadlocks as
        # OperationalError, and a connection closed under it as InterfaceError.
        return type(error.orig).__module__.startswith("psycopg2")
    return False


def describe(error: DBAPIError) -> str:
    """The driver's first message line, without SQL or bound parameters."""
    first = str(error.orig).strip().splitlines()[:1]
    return f"{type(error.orig).__name__}: {first[0][:200] if first else ''}"


def run_unit(work: Callable[[], T], *, attempts: int = 3, pause: float = 0.5) -> T:
    """Run one unit of work, retrying the whole of it on a transient database error.

    ``pool_pre_ping`` cannot save a connection dropped mid-transaction: the application must retry the whole
    transaction (SQLAlchemy "Disconnect Handling"). After the last attempt the error becomes
    :class:`StorageUnavailableError`, which callers treat as transient: a database outage never fails a report.
    """
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except (DBAPIError, PoolTimeoutError) as error:
            if isinstance(error, DBAPIError) and not is_transient(error):
                raise
            reason = describe(error) if isinstance(error, DBAPIError) else "connection pool exhausted"
            if attempt == attempts:
                if isinstance(error, DBAPIError) and is_out_of_space(error):
                    raise OutOfSpaceError(f"the database's disk is full ({reason}); waiting until space is "
                                          "freed") from error
                if isinstance(error, DBAPIError) and is_locked(error):
                    raise DatabaseLockedError(f"another process holds the database's lock ({reason}); waiting "
                                              "until it lets go") from error
                raise StorageUnavailableError(f"database unavailable: {reason}") from error
            log.warning("database unavailable (attempt %d/%d): %s", attempt, attempts, reason)
            time.sleep(pause * attempt)
    raise AssertionError("unreachable")


def sentry_integration() -> Any:
    """Sentry's integration for this database library: a breadcrumb for every statement before an event."""
    from sentry_sdk.integrations.sqlalchemy import SqlalchemyIntegration

    return SqlalchemyIntegration()


def database_error(error: BaseException) -> str | None:
    """``DriverError: first line`` when ``error`` is the database refusing what was asked of it (a path or URL
    that cannot work, a permission); None for any other error."""
    if not isinstance(error, DBAPIError):
        return None
    first = (str(error.orig).strip().splitlines() or [""])[0][:200]
    return f"{type(error.orig).__name__}: {first}"
