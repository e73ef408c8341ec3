"""Per-send-date checkpoints: saved per (partition, day), read back within a window, rewritten in place."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from crawler.storage import DayCheckpoint, PartitionKey, Store
from crawler.storage.tables import partition_windows
from tests.storage.helpers import NOW, Q1

DAYS = [dt.date(2025, 4, day) for day in (18, 19, 20, 21)]


@pytest.fixture
def store(db_url: str) -> Store:
    return Store.from_url(db_url, clock=lambda: NOW)


def test_checkpoints_are_read_back_within_a_window(store: Store) -> None:
    store.checkpoints.save(Q1, {day: DayCheckpoint(10 + n, 10 + n, True) for n, day in enumerate(DAYS)})
    store.checkpoints.save(PartitionKey("FB030010", "2025", "6020-6010"), {DAYS[0]: DayCheckpoint(1, 1, True)})

    assert store.checkpoints.between(Q1, None, None) == {
        day: DayCheckpoint(10 + n, 10 + n, True) for n, day in enumerate(DAYS)}
    assert list(store.checkpoints.between(Q1, DAYS[1], DAYS[2])) == DAYS[1:3], "both ends are inclusive"
    assert list(store.checkpoints.between(Q1, DAYS[3], None)) == DAYS[3:]
    assert list(store.checkpoints.between(Q1, None, DAYS[0])) == DAYS[:1]
    assert store.checkpoints.between(PartitionKey("FB030010", "2024"), None, None) == {}


def test_saving_a_day_again_rewrites_its_checkpoint(store: Store) -> None:
    store.checkpoints.save(Q1, {DAYS[0]: DayCheckpoint(10, 8, False)})
    store.checkpoints.save(Q1, {DAYS[0]: DayCheckpoint(12, 12, True)})
    store.checkpoints.save(Q1, {})

    assert store.checkpoints.between(Q1, None, None) == {DAYS[0]: DayCheckpoint(12, 12, True)}
    with store.engine.connect() as connection:
        rows = connection.execute(select(func.count(), func.max(partition_windows.c.checked_at))).one()
    assert tuple(rows) == (1, NOW)
