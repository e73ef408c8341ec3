"""SQL for the run records of schedule entries (``discovery_runs``): one row per entry and tick.

The unique (schedule, tick) key makes a row a lock as well as a record: two beats firing the same entry, or a
redelivered task, insert the same key and only the first one runs. The hourly upkeep uses the same table and
key for the same reason, under its own job name.
"""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, or_, select, update

from crawler.storage import owners
from crawler.storage.tables import discovery_runs
from crawler.storage.upsert import insert

if TYPE_CHECKING:
    from crawler.storage.store import Store


def start_run(connection: Connection, schedule: str, tick: dt.datetime, kind: str, owner: str, now: dt.datetime,
              stepped_back_after: dt.timedelta | None = None) -> int | None:
    """Insert the ``running`` row of a tick; None when that tick already has one (a redelivery, another beat).

    With ``stepped_back_after``: when the tick already has a row and a run of the schedule recorded after that row
    has an earlier tick, or one later by more than ``stepped_back_after``, the clock stepped back to a slot it had
    passed (that row is from before the step, hours ago in real time). The old row is retired (:func:`_retire_tick`)
    and this tick runs; the first beat to get there takes it, and a second one finds the new row, recorded last,
    and does nothing. Beats whose clocks differ by less than ``stepped_back_after`` still run each tick once.
    """
    found = _insert_run(connection, schedule, tick, kind, owner, now)
    if found is not None or stepped_back_after is None:
        return found
    row = connection.execute(select(discovery_runs.c.id).where(
        discovery_runs.c.schedule == schedule, discovery_runs.c.tick == tick)).scalar_one_or_none()
    if row is None:
        return None
    passed = select(discovery_runs.c.id).where(
        discovery_runs.c.schedule == schedule, discovery_runs.c.kind == kind, discovery_runs.c.id > row,
        or_(discovery_runs.c.tick < tick, discovery_runs.c.tick > tick + stepped_back_after)).limit(1)
    if connection.execute(passed).first() is None or not _retire_tick(connection, int(row), tick):
        return None
    return _insert_run(connection, schedule, tick, kind, owner, now)


def _insert_run(connection: Connection, schedule: str, tick: dt.datetime, kind: str, owner: str,
                now: dt.datetime) -> int | None:
    statement = (
        insert(connection, discovery_runs)
        .values(schedule=schedule, tick=tick, kind=kind, started_at=now, status="running", owner=owner)
        .on_conflict_do_nothing(index_elements=["schedule", "tick"])
        .returning(discovery_runs.c.id)
    )
    found = connection.execute(statement).scalar_one_or_none()
    return None if found is None else int(found)


def _retire_tick(connection: Connection, row: int, tick: dt.datetime) -> bool:
    """Move run ``row`` off the slot grid (ticks are whole seconds; it keeps its record a few microseconds earlier,
    by its id), freeing its tick; False when another process moved it first."""
    retired = tick - dt.timedelta(microseconds=1 + row % 999_999)
    moved = connection.execute(update(discovery_runs).where(
        discovery_runs.c.id == row, discovery_runs.c.tick == tick).values(tick=retired))
    return bool(moved.rowcount)


def finish_run(connection: Connection, run_id: int, figures: dict[str, Any], now: dt.datetime) -> None:
    """Close a run with its status, figures and error."""
    connection.execute(update(discovery_runs).where(discovery_runs.c.id == run_id)
                       .values(finished_at=now, **figures))


def running_on_host(connection: Connection, schedule: str, host: str) -> list[tuple[int, str]]:
    """``(run id, owner)`` of the ``running`` runs of a schedule whose owner is a process of ``host``."""
    statement = select(discovery_runs.c.id, discovery_runs.c.owner).where(
        discovery_runs.c.schedule == schedule, discovery_runs.c.status == "running",
        discovery_runs.c.owner.like(f"{host}:%"))
    return [(int(run_id), str(owner)) for run_id, owner in connection.execute(statement)]


def close_abandoned(connection: Connection, runs: list[tuple[int, str]], now: dt.datetime) -> int:
    """Mark these runs failed, each only while still ``running`` under the same owner; returns how many."""
    closed = 0
    for run_id, owner in runs:
        closed += int(connection.execute(
            update(discovery_runs)
            .where(discovery_runs.c.id == run_id, discovery_runs.c.status == "running",
                   discovery_runs.c.owner == owner)
            .values(status="failed", finished_at=now,
                    error=f"its process ({owner}) ended without finishing the walk")).rowcount)
    return closed


def recent_runs(connection: Connection, limit: int) -> list[dict[str, Any]]:
    """The latest runs, newest first, with their figures."""
    statement = select(discovery_runs).order_by(discovery_runs.c.started_at.desc()).limit(limit)
    return [dict(row) for row in connection.execute(statement).mappings()]


def last_run_started(connection: Connection, schedule: str) -> dt.datetime | None:
    """When the latest run of a schedule (or of an internal job such as upkeep) started."""
    statement = (select(discovery_runs.c.started_at).where(discovery_runs.c.schedule == schedule)
                 .order_by(discovery_runs.c.started_at.desc()).limit(1))
    started: dt.datetime | None = connection.execute(statement).scalar_one_or_none()
    return started


def run_in_progress(connection: Connection, schedule: str, started_after: dt.datetime) -> bool:
    """Whether a run of this schedule started after a moment and has not finished (it may still be walking)."""
    statement = (select(discovery_runs.c.id)
                 .where(discovery_runs.c.schedule == schedule, discovery_runs.c.status == "running",
                        discovery_runs.c.started_at > started_after)
                 .limit(1))
    return connection.execute(statement).first() is not None


class Runs:
    """Run records of schedule entries and of the hourly upkeep (``store.runs``)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def start(self, schedule: str, tick: dt.datetime, kind: str = "scheduled",
              stepped_back_after: dt.timedelta | None = None) -> int | None:
        """Record that a schedule entry's tick started; None when that tick was already run (a redelivery).

        ``stepped_back_after``: a tick already run counts as run again, not as taken, when the schedule has run a
        tick later than it by more than this (the clock stepped back); see :func:`start_run`.
        """
        return self._store.write(partial(start_run, schedule=schedule, tick=tick, kind=kind,
                                         owner=owners.this_process(), now=self._store.clock(),
                                         stepped_back_after=stepped_back_after))

    def finish(self, run_id: int, *, status: str, partitions_walked: int, listed: int, new: int, requests: int,
               error: str | None = None) -> None:
        """Close a run with its figures; ``status`` is ok, incomplete or failed."""
        figures = {"status": status, "partitions": partitions_walked, "listed": listed, "new": new,
                   "requests": requests, "error": error}
        self._store.write(partial(finish_run, run_id=run_id, figures=figures, now=self._store.clock()))

    def close_abandoned(self, schedule: str) -> int:
        """Close the ``running`` runs of ``schedule`` whose process (on this machine) no longer exists: killed,
        crashed or interrupted without closing its row. The next run walks again at once instead of treating the
        walk as still in progress until the run's time limit."""
        held = self._store.read(partial(running_on_host, schedule=schedule, host=owners.host()))
        dead = [(run_id, owner) for run_id, owner in held if owners.is_gone(owner)]
        if not dead:
            return 0
        return self._store.write(partial(close_abandoned, runs=dead, now=self._store.clock()))

    def in_progress(self, schedule: str, started_after: dt.datetime) -> bool:
        """Whether a run of this schedule started after a moment and has not finished (it may still be walking)."""
        return self._store.read(partial(run_in_progress, schedule=schedule, started_after=started_after))

    def recent(self, limit: int = 10) -> list[dict[str, Any]]:
        """The latest runs, newest first, with their figures."""
        return self._store.read(partial(recent_runs, limit=limit))

    def last_started(self, schedule: str) -> dt.datetime | None:
        """When the latest run of a schedule (or of the upkeep job) started."""
        return self._store.read(partial(last_run_started, schedule=schedule))

    def try_lock_upkeep(self, job: str, tick: dt.datetime) -> int | None:
        """Take the upkeep of the hour ``tick``: a run row of kind ``upkeep``, whose unique (job, tick) key lets
        only one reconciler in. Returns the run id, or None when another process already took this hour."""
        return self.start(job, tick, kind="upkeep", stepped_back_after=dt.timedelta(hours=1))

    def finish_upkeep(self, run_id: int, *, late_reports: int, layout_signals: int) -> None:
        """Close an upkeep run. Its figures go in the run's ``listed`` (reports past their freshness deadline)
        and ``new`` (stored reports with layout signals) columns, which ``fundcrawl status`` shows."""
        self.finish(run_id, status="ok", partitions_walked=0, listed=late_reports, new=layout_signals,
                    requests=0)
