"""SQL for backfill jobs: a job's spec and status, and the state of each of its partitions.

A job and all its partitions (``todo``) are inserted in one transaction; each partition's row is then updated
in place as it is walked, so a rerun after a crash resumes at the partitions not yet ``done``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, insert, select, update

from crawler.storage.discovery import PartitionKey, key_filter, read_rows
from crawler.storage.engine import run_unit
from crawler.storage.tables import backfill_jobs, backfill_partitions
from crawler.storage.types import utcnow


def create_backfill_job(engine: Engine, spec: dict[str, Any], keys: Sequence[PartitionKey]) -> int:
    """Persist a backfill job and its partitions (all ``todo``) in one transaction."""

    def work() -> int:
        with engine.begin() as conn:
            job_id = int(
                conn.execute(
                    insert(backfill_jobs).values(spec=spec, status="running", created_at=utcnow())
                ).inserted_primary_key[0]  # type: ignore[index]
            )
            conn.execute(
                insert(backfill_partitions),
                [
                    {
                        "job_id": job_id,
                        "report_type_code": k.report_type_code,
                        "report_year": k.report_year,
                        "fund_type": k.fund_type,
                        "state": "todo",
                        "updated_at": utcnow(),
                    }
                    for k in keys
                ],
            )
            return job_id

    return run_unit(work)


def backfill_partition_states(engine: Engine, job_id: int) -> dict[PartitionKey, dict[str, Any]]:
    """Every partition of a job with its state (todo, done, incomplete) and figures."""
    statement = select(backfill_partitions).where(backfill_partitions.c.job_id == job_id)
    return {
        PartitionKey(row.report_type_code, row.report_year, row.fund_type): dict(row._mapping)
        for row in read_rows(engine, statement)
    }


def update_backfill_partition(engine: Engine, job_id: int, key: PartitionKey, **values: Any) -> None:
    """Checkpoint one partition of a job (state, site_total, seen, new)."""
    statement = (
        update(backfill_partitions)
        .where(backfill_partitions.c.job_id == job_id, key_filter(backfill_partitions, key))
        .values(updated_at=utcnow(), **values)
    )

    def work() -> None:
        with engine.begin() as conn:
            conn.execute(statement)

    run_unit(work)


def finish_backfill_job(engine: Engine, job_id: int, status: str) -> None:
    statement = (
        update(backfill_jobs)
        .where(backfill_jobs.c.id == job_id)
        .values(status=status, finished_at=utcnow() if status == "done" else None)
    )

    def work() -> None:
        with engine.begin() as conn:
            conn.execute(statement)

    run_unit(work)
