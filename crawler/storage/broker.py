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
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from kombu.transport import sqlalchemy as kombu_sqla
from sqlalchemy import column, delete, false, inspect, table
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import NullPool

from crawler.storage.engine import make_engine, run_unit

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


def embedded_transport_options() -> dict[str, Any]:
    """Transport options of the embedded broker: kombu passes them on to SQLAlchemy's ``create_engine``."""
    return {"connect_args": {"timeout": 30}, "poolclass": NullPool}


def tune_embedded_transport(polling_interval: float) -> None:
    """Make kombu's SQLAlchemy transport poll every ``polling_interval`` seconds instead of its 1 s default, and
    close each channel's session when the channel closes.

    The interval cannot go through the transport options: kombu hands those to ``create_engine``, which rejects
    unknown keys.
    """
    kombu_sqla.Transport.polling_interval = polling_interval
    kombu_sqla.Transport.Channel = ClosingChannel


def forget_inherited_connections() -> None:
    """Drop the embedded broker's database connections a forked child inherited, without closing them (they
    belong to the parent); the child opens its own on first use."""
    for engine, _session in kombu_sqla.Channel._engines.values():
        engine.dispose(close=False)
    kombu_sqla.Channel._engines.clear()


class ClosingChannel(kombu_sqla.Channel):
    """kombu's SQLAlchemy channel that also closes its session, and so its database connection, on close, and
    that takes a queue another process created a moment before it instead of failing on the duplicate."""

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
