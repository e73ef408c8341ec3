"""The embedded broker does not grow forever: delivered messages are pruned, waiting ones are kept."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from kombu import Connection
from sqlalchemy import create_engine, text

from crawler.storage.broker import prune_delivered_messages


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
