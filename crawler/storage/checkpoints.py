"""SQL for per-send-date checkpoints: what each send date of a partition held when it was last walked.

Discovery compares the site's total for a range of send dates with the sum of the checkpoints inside it, and walks
only the days that moved. Every write is an upsert on (partition, send date), so a rerun rewrites the same rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from sqlalchemy import Connection, select

from crawler.storage.partitions import KEY_COLUMNS, PartitionKey, key_filter
from crawler.storage.tables import partition_windows
from crawler.storage.upsert import insert

if TYPE_CHECKING:
    from crawler.storage.store import Store


@dataclass(frozen=True)
class DayCheckpoint:
    """What one send date of a partition held when last walked."""

    site_total: int
    seen: int
    complete: bool


def read_day_checkpoints(connection: Connection, key: PartitionKey, send_from: dt.date | None,
                         send_to: dt.date | None) -> dict[dt.date, DayCheckpoint]:
    """The stored checkpoints of a partition's send dates within an inclusive window (None = open end)."""
    statement = select(
        partition_windows.c.send_date,
        partition_windows.c.site_total,
        partition_windows.c.seen,
        partition_windows.c.complete,
    ).where(key_filter(partition_windows, key))
    if send_from is not None:
        statement = statement.where(partition_windows.c.send_date >= send_from)
    if send_to is not None:
        statement = statement.where(partition_windows.c.send_date <= send_to)
    return {
        day: DayCheckpoint(int(total or 0), int(seen or 0), bool(complete))
        for day, total, seen, complete in connection.execute(statement)
    }


def write_day_checkpoints(connection: Connection, key: PartitionKey, days: Mapping[dt.date, DayCheckpoint],
                          now: dt.datetime) -> None:
    """Upsert the checkpoints of several send dates of one partition."""
    if not days:
        return
    values = [
        {**key.row(), "send_date": day, "site_total": cp.site_total, "seen": cp.seen, "complete": cp.complete,
         "checked_at": now}
        for day, cp in sorted(days.items())
    ]
    statement = insert(connection, partition_windows).values(values)
    statement = statement.on_conflict_do_update(
        index_elements=[*KEY_COLUMNS, "send_date"],
        set_={name: statement.excluded[name] for name in ("site_total", "seen", "complete", "checked_at")})
    connection.execute(statement)


class DayCheckpoints:
    """Per-send-date checkpoints of the partitions (``store.checkpoints``)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def between(self, key: PartitionKey, send_from: dt.date | None, send_to: dt.date | None
                ) -> dict[dt.date, DayCheckpoint]:
        """The checkpoints of a partition's send dates within an inclusive window (None = open end)."""
        return self._store.read(partial(read_day_checkpoints, key=key, send_from=send_from, send_to=send_to))

    def save(self, key: PartitionKey, days: Mapping[dt.date, DayCheckpoint]) -> None:
        """Record what several send dates of one partition held, all in one transaction."""
        if days:
            self._store.write(partial(write_day_checkpoints, key=key, days=days, now=self._store.clock()))
