"""The embedded broker does not grow forever: delivered messages are pruned, waiting ones are kept."""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
from pathlib import Path

import pytest
from kombu import Connection
from sqlalchemy import create_engine, event, text

from crawler.storage.broker import (
    ClosingChannel,
    embedded_transport_options,
    prune_delivered_messages,
    tune_embedded_transport,
)


def test_delivered_messages_are_pruned_and_waiting_ones_kept(tmp_path: Path) -> None:
    url = f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}"
    with Connection(url) as connection:
        queue = connection.SimpleQueue("reports")
        for number in range(5):
            queue.put({"n": number})
        delivered = [queue.get(timeout=5) for _ in range(3)]
        for message in delivered:
            message.ack()
        queue.close()

    assert prune_delivered_messages(url, older_than=dt.timedelta(hours=1)) == 0  # too recent
    assert prune_delivered_messages(url, older_than=dt.timedelta(0)) == 3
    engine = create_engine(url.removeprefix("sqla+"))
    with engine.connect() as db:
        visible = db.execute(text("SELECT count(*) FROM kombu_message WHERE visible = 1")).scalar_one()
        total = db.execute(text("SELECT count(*) FROM kombu_message")).scalar_one()
    engine.dispose()
    assert visible == total == 2
    with Connection(url) as connection:
        queue = connection.SimpleQueue("reports")
        assert sorted(queue.get(timeout=5).payload["n"] for _ in range(2)) == [3, 4]
        queue.close()


def test_other_brokers_are_left_alone() -> None:
    assert prune_delivered_messages("redis://127.0.0.1:6379/0") == 0


def test_a_consumer_losing_the_race_to_create_a_queue_uses_the_winners_row(tmp_path: Path) -> None:
    """Two consumers start at once: both find no row for the queue, the other one inserts it first."""
    tune_embedded_transport(polling_interval=0.1)
    url = f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}"
    other_process = create_engine(url.removeprefix("sqla+"))

    def the_other_consumer_inserts_first(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.startswith("INSERT INTO kombu_queue"):
            with other_process.begin() as db:
                db.execute(text("INSERT INTO kombu_queue (name) VALUES ('reports')"))

    with Connection(url) as connection:
        channel = connection.default_channel
        assert isinstance(channel, ClosingChannel)
        channel.queue_declare("warm-up")  # the tables exist, as after any earlier start
        engine = channel.session.get_bind()
        event.listen(engine, "before_cursor_execute", the_other_consumer_inserts_first)
        try:
            channel.queue_declare("reports")
        finally:
            event.remove(engine, "before_cursor_execute", the_other_consumer_inserts_first)
        queue = connection.SimpleQueue("reports")
        queue.put({"n": 1})
        assert queue.get(timeout=5).payload == {"n": 1}
        queue.close()
    with other_process.connect() as db:
        names = db.execute(text("SELECT name FROM kombu_queue ORDER BY name")).scalars().all()
    other_process.dispose()
    assert names == ["reports", "warm-up"]


def test_an_empty_queue_is_polled_without_the_write_lock_and_the_broker_keeps_a_wal(tmp_path: Path) -> None:
    """A consumer looks at an empty queue while another process writes: it finds it empty at once instead of
    waiting for the write lock (up to the 30 s busy timeout), and a waiting message is still delivered."""
    tune_embedded_transport(polling_interval=0.05)
    path = tmp_path / "broker.sqlite"
    url = f"sqla+sqlite:///{path}"
    with Connection(url, transport_options=embedded_transport_options()) as connection:
        queue = connection.SimpleQueue("reports")
        queue.put({"n": 1})
        assert queue.get(timeout=5).payload == {"n": 1}  # tables and the queue's row exist
        writer = sqlite3.connect(path, timeout=0)
        try:
            writer.execute("BEGIN IMMEDIATE")  # another process holds the write lock
            started = time.monotonic()
            with pytest.raises(queue.Empty):
                queue.get(block=False)
            waited = time.monotonic() - started
        finally:
            writer.rollback()
            writer.close()
        queue.put({"n": 2})
        assert queue.get(timeout=5).payload == {"n": 2}
        queue.close()
        journal = connection.default_channel.session.execute(text("PRAGMA journal_mode")).scalar_one()
    assert waited < 5
    assert journal == "wal"
