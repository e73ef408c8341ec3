"""Discovery runs: one run of a schedule entry per tick, its run row, and publishing the reports it found.

The run row is the lock: a second beat (or a redelivery) for the same tick finds it and does nothing, and a walk
still in progress is never started twice. New reports are committed as rows before their ids are published.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from crawler.discovery.incremental import (
    DiscoveryPlan,
    DiscoveryResult,
    beijing_today,
    discover,
    reconcile_partitions,
)
from crawler.discovery.reverify import reverify
from crawler.processing import Runtime, store_rechecked_page
from crawler.schedules import Entry, load_schedules
from crawler.telemetry import alerts, metrics

log = logging.getLogger(__name__)

Enqueue = Callable[[list[int]], None]
#: Seconds: a backward clock step shorter than this (or than an entry's period) leaves the slots it repeats taken.
#: Beats on machines whose clocks differ by less never walk one tick twice.
STEP_BACK_IGNORED = 300


def enqueue_new(rt: Runtime, ids: Iterable[int], enqueue: Enqueue) -> int:
    """Publish report ids (already committed as rows) and remember that they were published."""
    batch = list(ids)
    if batch:
        enqueue(batch)
        rt.store.mark_enqueued(batch)
    return len(batch)


def schedule_tick(period_seconds: int, now: dt.datetime) -> dt.datetime:
    """The slot a scheduled run belongs to. Two beats firing the same entry share it, so only one runs."""
    epoch = int(now.timestamp())
    return dt.datetime.fromtimestamp(epoch - epoch % period_seconds, dt.UTC)


def run_schedule_entry(rt: Runtime, name: str, enqueue: Enqueue, *, kind: str = "scheduled") -> dict[str, Any]:
    """Run one schedule entry (discover or reconcile) once per tick and publish every new report."""
    entry = load_schedules(rt.settings.schedules).get(name)
    now = dt.datetime.now(dt.UTC)
    tick = schedule_tick(entry.period_seconds, now) if kind == "scheduled" else now
    busy_since = now - dt.timedelta(seconds=rt.settings.discovery_limit)
    if rt.store.runs.close_abandoned(name):
        log.warning("schedule %s: a previous run's process ended mid-walk; its run is closed and this one walks "
                    "again", name)
    if rt.store.runs.in_progress(name, started_after=busy_since):
        # A long walk (a busy day, a partition that will not converge) is still running: never walk it twice.
        log.info("schedule %s: the previous run is still walking; this tick is skipped", name)
        return {"schedule": name, "skipped": True, "new": 0, "listed": 0, "incomplete": []}
    # After the clock stepped back, the slots it passes again were run before the step: they run again rather
    # than stay taken for as long as the step (a step under five minutes only costs those minutes' ticks).
    stepped_back_after = dt.timedelta(seconds=max(entry.period_seconds, STEP_BACK_IGNORED)) if kind == "scheduled" else None
    run_id = rt.store.runs.start(name, tick, kind, stepped_back_after=stepped_back_after)
    if run_id is None:
        log.info("schedule %s: tick %s already ran (another beat or a redelivery); nothing to do", name, tick)
        return {"schedule": name, "skipped": True, "new": 0, "listed": 0, "incomplete": []}
    try:
        result = _run_entry(rt, entry)
    except BaseException as error:
        # Any way out (a transient error, a time limit, Ctrl-C, a bug) closes the run, so the next tick or rerun
        # walks again. What the walk inserted so far is in the database; the reconciler publishes it. (A killed
        # process cannot get here: the next run closes its row, see ``Runs.close_abandoned``.)
        _close_failed_run(rt, run_id, error)
        raise
    enqueue_new(rt, result.new_ids, enqueue)
    metrics.count_discovered(len(result.new_ids))
    summary = result.summary()
    status = "ok" if result.complete else "incomplete"
    rt.store.runs.finish(run_id, status=status, partitions_walked=summary["partitions"], listed=result.listed,
                         new=len(result.new_ids), requests=result.requests,
                         error=result.interrupted or ("; ".join(summary["incomplete"]) or None))
    for piece in result.incomplete:
        alerts.partition_incomplete(str(piece.query), piece.error or "did not converge")
    log.info("schedule %s: %d listed, %d new, %d requests, %s", name, result.listed, len(result.new_ids),
             result.requests, status)
    return {"schedule": name, "skipped": False, **summary}


def _close_failed_run(rt: Runtime, run_id: int, error: BaseException) -> None:
    message = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    try:
        rt.store.runs.finish(run_id, status="failed", partitions_walked=0, listed=0, new=0, requests=0,
                             error=message)
    except Exception:  # the database may be what failed; the next run closes the row as abandoned instead
        log.warning("could not close discovery run %s after %s", run_id, message, exc_info=True)


def _run_entry(rt: Runtime, entry: Entry) -> DiscoveryResult:
    today = beijing_today()
    if entry.reverify is not None:
        result, _stats = reverify(rt.client, rt.store, entry.reverify, today, partial(store_rechecked_page, rt))
        return result
    if entry.discover is not None:
        return discover(rt.client, rt.store, entry.discover, today)
    plan = DiscoveryPlan.from_spec(entry.spec, today)
    return reconcile_partitions(rt.client, rt.store, plan.partitions)
