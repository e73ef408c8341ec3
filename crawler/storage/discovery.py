"""SQL for discovery bookkeeping: partitions, per-send-date checkpoints and discovery runs.

Every write is an upsert on the table's natural key, so a rerun after a crash rewrites the same rows. Reads
touch only the partition or the days asked for (never the whole report history), which keeps an incremental
discovery's cost independent of how many reports are stored. :class:`PartitionKey`, :func:`read_rows` and
:func:`key_filter` are shared with :mod:`crawler.storage.backfill_jobs`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement

from crawler.storage import owners
from crawler.storage.engine import READ_ONLY, run_unit
from crawler.storage.tables import (
    discovery_runs,
    partition_windows,
    partitions,
    reports,
)
from crawler.storage.types import utcnow


@dataclass(frozen=True, order=True)
class PartitionKey:
    """A partition of the site's listing: report type code x report year x fund type ("" = every type)."""

    report_type_code: str
    report_year: str
    fund_type: str = ""


@dataclass(frozen=True)
class DayCheckpoint:
    """What one send date of a partition held when last walked."""

    site_total: int
    seen: int
    complete: bool


def _upsert(
    engine: Engine, table: Any, values: list[dict[str, Any]], keys: Sequence[str], updates: Iterable[str]
) -> None:
    if not values:
        return
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).values(values)
    columns = {name: statement.excluded[name] for name in updates}
    statement = statement.on_conflict_do_update(index_elements=list(keys), set_=columns)

    def work() -> None:
        with engine.begin() as conn:
            conn.execute(statement)

    run_unit(work)


def read_rows(engine: Engine, statement: Any) -> list[Any]:
    """Run a SELECT in a read-only transaction, retried on a transient database error; return its rows."""
    def work() -> list[Any]:
        with engine.connect().execution_options(**READ_ONLY) as conn, conn.begin():
            return list(conn.execute(statement))

    return run_unit(work)


def key_filter(table: Any, key: PartitionKey) -> ColumnElement[bool]:
    """Rows of ``table`` that belong to the partition ``key``."""
    return and_(
        table.c.report_type_code == key.report_type_code,
        table.c.report_year == key.report_year,
        table.c.fund_type == key.fund_type,
    )


# --- partitions -------------------------------------------------------------------------------------------


def record_partition(engine: Engine, key: PartitionKey, **values: Any) -> None:
    """Create or update a partition's row (site_total, discovered, complete, last_*_at, last_error)."""
    row = {
        "report_type_code": key.report_type_code,
        "report_year": key.report_year,
        "fund_type": key.fund_type,
        **values,
    }
    _upsert(engine, partitions, [row], ("report_type_code", "report_year", "fund_type"), values)


def known_partitions(engine: Engine) -> list[PartitionKey]:
    """Every partition discovery has ever looked at."""
    rows = read_rows(
        engine, select(partitions.c.report_type_code, partitions.c.report_year, partitions.c.fund_type)
    )
    return sorted(PartitionKey(*row) for row in rows)


def _stored_filter(key: PartitionKey) -> ColumnElement[bool]:
    """Reports listed under a partition; year "" is the site's "any year" (profiles are filed without one)."""
    if not key.report_year:
        return reports.c.report_type_code == key.report_type_code
    return and_(reports.c.report_type_code == key.report_type_code, reports.c.report_year == key.report_year)


def stored_count(engine: Engine, key: PartitionKey) -> int:
    """Reports listed under a partition (any state). Fund-type partitions are not distinguishable in reports."""
    rows = read_rows(
        engine,
        select(func.count())
        .select_from(reports)
        .where(_stored_filter(key)),
    )
    return int(rows[0][0])


def stored_by_day(engine: Engine, key: PartitionKey) -> dict[dt.date, int]:
    """Reports listed under a partition, by send date: what reconciliation compares the site's totals with."""
    rows = read_rows(
        engine,
        select(reports.c.send_date, func.count())
        .where(_stored_filter(key), reports.c.send_date.is_not(None))
        .group_by(reports.c.send_date),
    )
    return {day: int(count) for day, count in rows}


def partition_status(engine: Engine) -> list[dict[str, Any]]:
    """Per partition: site total, discovered, stored, failed, complete, last checked (for ``fundcrawl status``).

    Counts are per (type, year) through the reports index; a fund-type partition shows its whole type x year.
    """
    statement = select(
        partitions,
        _partition_count().label("listed"),
        _partition_count("stored").label("stored"),
        _partition_count("failed").label("failed"),
    ).order_by(partitions.c.report_type_code, partitions.c.report_year, partitions.c.fund_type)
    return [_status_row(row._mapping) for row in read_rows(engine, statement)]


def _partition_count(state: str | None = None) -> Any:
    conditions = [
        reports.c.report_type_code == partitions.c.report_type_code,
        or_(partitions.c.report_year == "", reports.c.report_year == partitions.c.report_year),
    ]
    if state is not None:
        conditions.append(reports.c.state == state)
    return select(func.count()).select_from(reports).where(*conditions).correlate(partitions).scalar_subquery()


def _status_row(row: Mapping[str, Any]) -> dict[str, Any]:
    last = row["last_checked_at"] or row["last_walked_at"]
    return {
        "report_type_code": row["report_type_code"],
        "report_year": row["report_year"],
        "fund_type": row["fund_type"],
        "site_total": row["site_total"],
        "discovered": int(row["listed"] or 0),
        "stored": int(row["stored"] or 0),
        "failed": int(row["failed"] or 0),
        "complete": bool(row["complete"]),
        "last_checked": last.isoformat() if last else None,
        "last_error": row["last_error"],
    }


# --- per-send-date checkpoints ----------------------------------------------------------------------------


def day_checkpoints(
    engine: Engine, key: PartitionKey, send_from: dt.date | None, send_to: dt.date | None
) -> dict[dt.date, DayCheckpoint]:
    """Checkpoints of a partition's send dates within an inclusive window (None = open end)."""
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
        for day, total, seen, complete in read_rows(engine, statement)
    }


def save_day_checkpoints(engine: Engine, key: PartitionKey, days: Mapping[dt.date, DayCheckpoint]) -> None:
    """Upsert the checkpoints of several send dates of one partition."""
    now = utcnow()
    values = [
        {
            "report_type_code": key.report_type_code,
            "report_year": key.report_year,
            "fund_type": key.fund_type,
            "send_date": day,
            "site_total": cp.site_total,
            "seen": cp.seen,
            "complete": cp.complete,
            "checked_at": now,
        }
        for day, cp in sorted(days.items())
    ]
    _upsert(
        engine,
        partition_windows,
        values,
        ("report_type_code", "report_year", "fund_type", "send_date"),
        ("site_total", "seen", "complete", "checked_at"),
    )


# --- discovery runs ---------------------------------------------------------------------------------------


def start_run(engine: Engine, schedule: str, tick: dt.datetime, kind: str = "scheduled") -> int | None:
    """Record that a schedule entry's tick started; None when that tick was already run (a redelivery)."""
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(discovery_runs)
        .values(schedule=schedule, tick=tick, kind=kind, started_at=utcnow(), status="running",
                owner=owners.this_process())
        .on_conflict_do_nothing(index_elements=["schedule", "tick"])
        .returning(discovery_runs.c.id)
    )

    def work() -> int | None:
        with engine.begin() as conn:
            return conn.execute(statement).scalar_one_or_none()

    return run_unit(work)


def finish_run(
    engine: Engine,
    run_id: int,
    *,
    status: str,
    partitions_walked: int,
    listed: int,
    new: int,
    requests: int,
    error: str | None = None,
) -> None:
    """Close a discovery run with its figures; ``status`` is ok, incomplete or failed."""
    statement = (
        update(discovery_runs)
        .where(discovery_runs.c.id == run_id)
        .values(
            finished_at=utcnow(),
            status=status,
            partitions=partitions_walked,
            listed=listed,
            new=new,
            requests=requests,
            error=error,
        )
    )

    def work() -> None:
        with engine.begin() as conn:
            conn.execute(statement)

    run_unit(work)


def close_abandoned_runs(engine: Engine, schedule: str) -> int:
    """Close the ``running`` runs of ``schedule`` whose process (on this machine) no longer exists: killed,
    crashed or interrupted without closing its row. The next run walks again at once instead of treating the
    walk as still in progress until the run's time limit."""
    statement = select(discovery_runs.c.id, discovery_runs.c.owner).where(
        discovery_runs.c.schedule == schedule, discovery_runs.c.status == "running",
        discovery_runs.c.owner.like(f"{owners.host()}:%"))
    dead = [(run_id, owner) for run_id, owner in read_rows(engine, statement) if owners.is_gone(owner)]

    def work() -> int:
        closed = 0
        with engine.begin() as conn:
            for run_id, owner in dead:
                closed += int(conn.execute(
                    update(discovery_runs)
                    .where(discovery_runs.c.id == run_id, discovery_runs.c.status == "running",
                           discovery_runs.c.owner == owner)
                    .values(status="failed", finished_at=utcnow(),
                            error=f"its process ({owner}) ended without finishing the walk")).rowcount)
        return closed

    return run_unit(work) if dead else 0
