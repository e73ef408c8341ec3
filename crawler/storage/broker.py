"""Housekeeping of the embedded SQLite broker (kombu's SQLAlchemy transport).

That transport never deletes a delivered message: it only marks it invisible. Left alone, a daemon that runs for
months grows its broker file without bound, so the reconciler prunes delivered messages older than an hour.
Nothing depends on them: a report's state lives in the fundcrawl database, not in the broker.

A full disk makes every broker write fail; the worker's consumer then reconnects over and over. Two things keep
that from stopping the worker for good: each channel closes its session when it closes (kombu's does not, so
every reconnect left a connection behind in a failed transaction), and the broker's engine has no pool limit
to run out of.

Consumers that start together race to create a queue's row (kombu guards that only with a lock inside one process):
the loser's insert breaks the unique name, and it takes the row the winner made instead of dying at start.

Each process keeps its broker connections open in a pool (no size limit) and the broker file is in WAL mode with
``synchronous=NORMAL``, as the fundcrawl database is: kombu's default of a new connection for every transaction,
each commit synced to disk, made a publish cost about 1.9 ms and a delivery 2.5 ms; now 0.8 and 1.1 (measured
on this project's machine with 300 messages through kombu's ``SimpleQueue``). A message is then as durable as
the report rows it stands for: a power cut can lose the last commits of both, and the reconciler republishes
any pending report whose message was lost (a re-parse run resumes when it is run again).

A consumer polls each of its queues in turn, and kombu's poll of one queue takes the database's write lock
(``BEGIN IMMEDIATE``) even when the queue is empty: with three queues, most polls were write transactions that
found nothing, queued behind the other consumers' and the publisher's writes. A channel first looks, without a
lock, whether the queue holds a visible message at all; only then does it take one under kombu's lock.
"""

from __future__ import annotations

import atexit
import datetime as dt
import sqlite3
from collections.abc import Callable
from queue import Empty
from typing import Any

from kombu.connection import Connection
from kombu.transport import sqlalchemy as kombu_sqla
from sqlalchemy import Engine, column, delete, event, false, inspect, literal, select, table, true
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from crawler.storage.engine import SQLITE_JOURNAL_SIZE_LIMIT, make_engine, run_unit

_MESSAGES = table("kombu_message", column("visible"), column("timestamp"))


def prune_delivered_messages(broker_url: str, older_than: dt.timedelta = dt.timedelta(hours=1)) -> int:
    """Delete messages the embedded broker already delivered; returns how many. A no-op for other brokers."""
    if not broker_url.startswith("sqla+"):
        return 0
    engine = make_engine(broker_url.removeprefix("sqla+"))
    # kombu stamps messages with naive local time (datetime.now) when they are sent and when they are delivered.
    cutoff = dt.datetime.now() - older_than

    def work() -> int:
        with engine.begin() as connection:
            if not inspect(connection).has_table("kombu_message"):
                return 0
            statement = delete(_MESSAGES).where(_MESSAGES.c.visible == false(), _MESSAGES.c.timestamp < cutoff)
            return connection.execute(statement).rowcount or 0

    return run_unit(work)


#: Broker connections each process keeps open between transactions (more are opened when needed, never refused).
POOLED_CONNECTIONS = 2


def embedded_transport_options() -> dict[str, Any]:
    """Transport options of the embedded broker: kombu passes them on to SQLAlchemy's ``create_engine``."""
    return {"connect_args": {"timeout": 30}, "pool_size": POOLED_CONNECTIONS, "max_overflow": -1}


def prepare_embedded_broker(broker_url: str) -> None:
    """Make the embedded broker's file, in WAL mode, and kombu's tables in it, before several consumers open it at
    once: each would switch the mode (which needs the file to itself) and create the tables, and the loser of
    that race logged a lost connection at start."""
    if not broker_url.startswith("sqla+sqlite:"):
        return
    path = make_url(broker_url.removeprefix("sqla+")).database
    if not path:
        return
    connection = sqlite3.connect(path, timeout=30)
    try:
        _use_wal(connection.cursor())
    finally:
        connection.close()
    with Connection(broker_url, transport_options=embedded_transport_options()) as kombu_connection:
        channel = kombu_connection.default_channel
        channel.queue_cls, channel.message_cls  # noqa: B018 (kombu defines its tables on first use)
        channel.session.close()  # opening the session creates the tables
    close_connections()


def _use_wal(cursor: Any) -> None:
    # Reading the mode takes no lock; switching it takes the whole file, so it is done only when needed (once).
    if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
        cursor.execute("PRAGMA journal_mode=WAL")


def _broker_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL with ``synchronous=NORMAL``, and the WAL cut back after checkpoints (pysqlite keeps managing the
    transactions: kombu starts its own with ``BEGIN IMMEDIATE``)."""
    cursor = dbapi_connection.cursor()
    try:
        _use_wal(cursor)
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA journal_size_limit={SQLITE_JOURNAL_SIZE_LIMIT}")
    finally:
        cursor.close()


def tune_embedded_transport(polling_interval: float) -> None:
    """Make kombu's SQLAlchemy transport poll every ``polling_interval`` seconds instead of its 1 s default, and
    close each channel's session when the channel closes.

    The interval cannot go through the transport options: kombu hands those to ``create_engine``, which rejects
    unknown keys.
    """
    kombu_sqla.Transport.polling_interval = polling_interval
    kombu_sqla.Transport.Channel = ClosingChannel


def drain_in_slices(seconds: float) -> None:
    """In an embedded consumer process: each wait for messages lasts at most ``seconds``.

    Celery's solo loop waits up to 2 s for messages per cycle and, once asked to stop, waits one more cycle before
    it stops (``synloop`` in ``celery/worker/loops.py``): an idle consumer took 2 to 4 s to exit on SIGTERM, which
    every stop of the embedded worker (and every ``run --once``) paid. Shorter waits only mean more turns of the
    loop, each of them one poll of the broker as before. Only the consumer's loop may call this: a caller that
    waits for a reply with a timeout would see it end early.
    """
    drain: Callable[..., Any] = kombu_sqla.Transport.drain_events

    def drain_events(self: Any, connection: Any, timeout: float | None = None) -> Any:
        return drain(self, connection, timeout=timeout if timeout is None else min(timeout, seconds))

    setattr(kombu_sqla.Transport, "drain_events", drain_events)  # noqa: B010 (mypy refuses assigning a method)


def close_connections() -> None:
    """Close this process's pooled connections to the embedded broker (at the end of a process that leaves
    without running ``atexit``)."""
    for engine, _session in kombu_sqla.Channel._engines.values():
        engine.dispose()


def forget_inherited_connections() -> None:
    """Drop the embedded broker's database connections a forked child inherited, without closing them (they
    belong to the parent); the child opens its own on first use."""
    for engine, _session in kombu_sqla.Channel._engines.values():
        engine.dispose(close=False)
    kombu_sqla.Channel._engines.clear()


class ClosingChannel(kombu_sqla.Channel):
    """kombu's SQLAlchemy channel that also closes its session, and so its database connection, on close, that
    takes a queue another process created a moment before it instead of failing on the duplicate, and that polls
    an empty queue without taking the write lock."""

    _queue_ids: dict[str, int] | None = None

    def _engine_from_config(self) -> Engine:
        engine: Engine = super()._engine_from_config()  # type: ignore[no-untyped-call]  # kombu has no annotations
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _broker_pragmas)
            # The last connection to close folds the WAL into the file and removes it: pooled connections are
            # closed when the process exits (a killed process leaves the WAL to the next one, losing nothing).
            atexit.register(engine.dispose)
        return engine

    def _get(self, queue: str, timeout: float | None = None) -> Any:
        if not self._has_visible_message(queue):
            raise Empty()
        return super()._get(queue)  # type: ignore[no-untyped-call]  # kombu has no annotations

    def _has_visible_message(self, queue: str) -> bool:
        """Whether ``queue`` holds a message no consumer took yet: one indexed read, no lock (a message another
        consumer takes meanwhile makes kombu's locked read find nothing, as before)."""
        if self._queue_ids is None:
            self._queue_ids = {}
        queue_id = self._queue_ids.get(queue)
        if queue_id is None:  # queue rows are never deleted: one lookup per queue and channel
            queue_id = self._queue_ids[queue] = int(self._get_or_create(queue).id)
        messages = self.message_cls.__table__
        try:
            found = self.session.execute(select(literal(1)).select_from(messages).where(
                messages.c.queue_id == queue_id, messages.c.visible == true()).limit(1)).first()
        finally:
            self.session.rollback()
        return found is not None

    def _get_or_create(self, queue: str) -> Any:
        try:
            return super()._get_or_create(queue)  # type: ignore[no-untyped-call]  # kombu has no annotations
        except IntegrityError:
            self.session.rollback()
            return super()._get_or_create(queue)  # type: ignore[no-untyped-call]

    def close(self) -> None:
        session, self._session = self._session, None
        try:
            if session is not None:
                session.close()
        finally:
            super().close()  # type: ignore[no-untyped-call]  # kombu's Channel.close has no annotations
