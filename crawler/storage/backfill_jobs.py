"""SQL for backfill jobs: a job's spec and status, and the state of each of its partitions.

A job and all its partitions (``todo``) are inserted in one transaction; each partition's row is then updated
in place as it is walked, so a rerun after a crash resumes at the partitions not yet ``done``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, insert, select, update

from crawler.storage.partitions import PartitionKey, key_filter
from crawler.storage.tables import backfill_jobs, backfill_partitions

if TYPE_CHECKING:
    from crawler.storage.store import Store


def insert_job(connection: Connection, spec: dict[str, Any], keys: Sequence[PartitionKey], now: dt.datetime
               ) -> int:
    """Insert a job (``running``) and its partitions (all ``todo``); returns the job's id."""
    inserted = connection.execute(insert(backfill_jobs).values(spec=spec, status="running", created_at=now))
    job_id = int(inserted.inserted_primary_key[0])  # type: ignore[index]
    connection.execute(insert(backfill_partitions),
                       [{"job_id": job_id, **key.row(), "state": "todo", "updated_at": now} for key in keys])
    return job_id


def partition_states(connection: Connection, job_id: int) -> dict[PartitionKey, dict[str, Any]]:
    """Every partition of a job with its state (todo, done, incomplete) and figures."""
    statement = select(backfill_partitions).where(backfill_partitions.c.job_id == job_id)
    return {
        PartitionKey(row["report_type_code"], row["report_year"], row["fund_type"]): dict(row)
        for row in connection.execute(statement).mappings()
    }


def update_partition(connection: Connection, job_id: int, key: PartitionKey, values: dict[str, Any],
                     now: dt.datetime) -> None:
    """Checkpoint one partition of a job (state, site_total, seen, new)."""
    connection.execute(update(backfill_partitions)
                       .where(backfill_partitions.c.job_id == job_id, key_filter(backfill_partitions, key))
                       .values(updated_at=now, **values))


def finish_job(connection: Connection, job_id: int, status: str, now: dt.datetime) -> None:
    """Set a job's final status; only a ``done`` job gets a finish time (an incomplete one is resumed)."""
    connection.execute(update(backfill_jobs).where(backfill_jobs.c.id == job_id)
                       .values(status=status, finished_at=now if status == "done" else None))


def unfinished_job(connection: Connection, spec: dict[str, Any]) -> int | None:
    """The newest job with exactly this spec that has not finished."""
    statement = (select(backfill_jobs.c.id, backfill_jobs.c.spec)
                 .where(backfill_jobs.c.status != "done")
                 .order_by(backfill_jobs.c.id.desc()))
    for job_id, job_spec in connection.execute(statement):
        if job_spec == spec:
            return int(job_id)
    return None


class BackfillJobs:
    """Backfill jobs and the state of each of their partitions (``store.jobs``)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def create(self, spec: dict[str, Any], keys: Sequence[PartitionKey]) -> int:
        """Persist a backfill job and its partitions (all ``todo``) in one transaction."""
        return self._store.write(partial(insert_job, spec=spec, keys=keys, now=self._store.clock()))

    def unfinished(self, spec: dict[str, Any]) -> int | None:
        """The newest backfill job with exactly this spec that has not finished, so a rerun resumes it."""
        return self._store.read(partial(unfinished_job, spec=spec))

    def partition_states(self, job_id: int) -> dict[PartitionKey, dict[str, Any]]:
        """Every partition of a job with its state (todo, done, incomplete) and figures."""
        return self._store.read(partial(partition_states, job_id=job_id))

    def update_partition(self, job_id: int, key: PartitionKey, **values: Any) -> None:
        """Checkpoint one partition of a job (state, site_total, seen, new)."""
        self._store.write(partial(update_partition, job_id=job_id, key=key, values=values,
                                  now=self._store.clock()))

    def finish(self, job_id: int, status: str) -> None:
        """Close a job ``done``, or leave it ``incomplete`` for a rerun to resume."""
        self._store.write(partial(finish_job, job_id=job_id, status=status, now=self._store.clock()))
