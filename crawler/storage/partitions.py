"""SQL for the partitions of the site's listing: what each one held when last walked or reconciled, and how many
reports are stored under it.

Reads touch only the partition asked for (never the whole report history), which keeps an incremental
discovery's cost independent of how many reports are stored. Every write is an upsert on the partition's
natural key, so a rerun after a crash rewrites the same row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, and_, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from crawler.storage.tables import partitions, reports
from crawler.storage.upsert import insert

if TYPE_CHECKING:
    from crawler.storage.store import Store

KEY_COLUMNS = ("report_type_code", "report_year", "fund_type")


@dataclass(frozen=True, order=True)
class PartitionKey:
    """A partition of the site's listing: report type code x report year x fund type ("" = every type)."""

    report_type_code: str
    report_year: str
    fund_type: str = ""

    def row(self) -> dict[str, str]:
        """The key's columns, as every partition-keyed table names them."""
        return {"report_type_code": self.report_type_code, "report_year": self.report_year,
                "fund_type": self.fund_type}


def key_filter(table: Any, key: PartitionKey) -> ColumnElement[bool]:
    """Rows of ``table`` that belong to the partition ``key``."""
    return and_(
        table.c.report_type_code == key.report_type_code,
        table.c.report_year == key.report_year,
        table.c.fund_type == key.fund_type,
    )


def record_partition(connection: Connection, key: PartitionKey, values: Mapping[str, Any]) -> None:
    """Create or update a partition's row (site_total, discovered, complete, last_*_at, last_error)."""
    statement = insert(connection, partitions).values({**key.row(), **values})
    statement = statement.on_conflict_do_update(
        index_elements=list(KEY_COLUMNS), set_={name: statement.excluded[name] for name in values})
    connection.execute(statement)


def known_partitions(connection: Connection) -> list[PartitionKey]:
    """Every partition discovery has ever looked at."""
    rows = connection.execute(select(partitions.c.report_type_code, partitions.c.report_year,
                                     partitions.c.fund_type))
    return sorted(PartitionKey(*row) for row in rows)


def _stored_filter(key: PartitionKey) -> ColumnElement[bool]:
    """Reports listed under a partition; year "" is the site's "any year" (profiles are filed without one)."""
    if not key.report_year:
        return reports.c.report_type_code == key.report_type_code
    return and_(reports.c.report_type_code == key.report_type_code, reports.c.report_year == key.report_year)


def stored_count(connection: Connection, key: PartitionKey) -> int:
    """Reports listed under a partition (any state). Fund-type partitions are not distinguishable in reports."""
    return int(connection.execute(select(func.count()).select_from(reports).where(_stored_filter(key)))
               .scalar_one())


def stored_by_day(connection: Connection, key: PartitionKey) -> dict[dt.date, int]:
    """Reports listed under a partition, by send date: what reconciliation compares the site's totals with."""
    rows = connection.execute(
        select(reports.c.send_date, func.count())
        .where(_stored_filter(key), reports.c.send_date.is_not(None))
        .group_by(reports.c.send_date)
    )
    return {day: int(count) for day, count in rows}


def partition_status(connection: Connection) -> list[dict[str, Any]]:
    """Per partition: site total, discovered, stored, failed, complete, last checked (for ``fundcrawl status``).

    Counts are per (type, year) through the reports index; a fund-type partition shows its whole type x year.
    """
    statement = select(
        partitions,
        _partition_count().label("listed"),
        _partition_count("stored").label("stored"),
        _partition_count("failed").label("failed"),
    ).order_by(partitions.c.report_type_code, partitions.c.report_year, partitions.c.fund_type)
    return [_status_row(row._mapping) for row in connection.execute(statement)]


def _partition_count(state: str | None = None) -> Any:
    conditions = [
        reports.c.report_type_code == partitions.c.report_type_code,
        or_(partitions.c.report_year == "", reports.c.report_year == partitions.c.report_year),
    ]
    if state is not None:
        conditions.append(reports.c.state == state)
    return select(func.count()).select_from(reports).where(*conditions).correlate(partitions).scalar_subquery()


def _status_row(row: Mapping[Any, Any]) -> dict[str, Any]:
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


class Partitions:
    """The partitions discovery walks and reconciles (``store.partitions``)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def record(self, key: PartitionKey, **values: Any) -> None:
        """Create or update a partition's row (site_total, discovered, complete, last_*_at, last_error)."""
        self._store.write(partial(record_partition, key=key, values=values))

    def known(self) -> list[PartitionKey]:
        """Every partition discovery has ever looked at."""
        return self._store.read(known_partitions)

    def stored_count(self, key: PartitionKey) -> int:
        """Reports listed under a partition, in any state."""
        return self._store.read(partial(stored_count, key=key))

    def stored_by_day(self, key: PartitionKey) -> dict[dt.date, int]:
        """Reports listed under a partition, by send date."""
        return self._store.read(partial(stored_by_day, key=key))

    def status(self) -> list[dict[str, Any]]:
        """Per partition: site total, discovered, stored, failed, complete, last checked, last error."""
        return self._store.read(partition_status)
