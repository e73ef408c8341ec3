"""What the reconciler does on every pass: :func:`reconcile` republishes lost work, runs the hourly upkeep and prunes.

The outbox relay: a report row is committed before its id is published, so a message lost to a crash, a broker
wipe or an expired lease is found again from the rows and republished. The hourly upkeep (freshness alerts,
layout-change alerts, archive temp-file sweep) runs once per hour however often the reconciler fires: the run row
of ``UPKEEP_JOB`` for the hour's tick is the lock, so a second reconciler (or a redelivery) in the same hour does
nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from crawler.celery_app import RECONCILE_BEAT_ENTRY
from crawler.discovery.runs import Enqueue, enqueue_new, schedule_tick
from crawler.models import SITE_TIMEZONE
from crawler.processing import Runtime
from crawler.settings import Settings
from crawler.storage import Store
from crawler.storage.broker import prune_delivered_messages
from crawler.telemetry import alerts

log = logging.getLogger(__name__)

UPKEEP_JOB = "hourly-upkeep"


def reconcile(rt: Runtime, enqueue: Enqueue, *, queue_depth: int | None, now: dt.datetime | None = None) -> int:
    """One reconciler pass; returns how many reports it republished.

    In order: the hourly upkeep (at most once per hour), leases of owners that died are released, leases and
    retry times a backward step of the clock left too far ahead are pulled back, lost or expired reports are
    republished, the embedded database's journal is checkpointed, delivered broker messages
    are pruned, and the pass checks in with the monitor.
    """
    hourly_upkeep(rt, now or dt.datetime.now(dt.UTC))
    rt.store.release_dead_owners()
    rt.store.pull_back_future_times(longest_hold_seconds=longest_hold(rt.settings))
    requeued = requeue_stuck(rt, enqueue, queue_depth=queue_depth)
    keep_journal_small(rt)
    prune_delivered_messages(rt.settings.broker)
    # Its interval is under a minute, which Sentry's automatic beat monitors skip: check in by hand.
    alerts.monitor_checkin(RECONCILE_BEAT_ENTRY, "ok", dt.timedelta(seconds=rt.settings.reconcile_every))
    return requeued


def longest_hold(settings: Settings) -> float:
    """The furthest ahead the daemon sets a report's lease or retry time: a claim's lease, or the longest retry
    countdown plus the 30 s a retry message is given before the reconciler may republish (processing.py)."""
    return float(max(settings.lease_seconds, settings.retry_backoff_max + 30))


def requeue_grace(settings: Settings, queue_depth: int | None) -> float:
    """How long a published report may wait before it counts as lost: its lease, or longer while a backlog drains."""
    drain = (queue_depth or 0) / settings.rate_limit * 1.5
    return max(float(settings.lease_seconds), drain)


def keep_journal_small(rt: Runtime) -> None:
    """Checkpoint the embedded database's write-ahead log so it never stays large (a no-op on PostgreSQL).

    Runs with every reconciler pass; a failed checkpoint only means the next pass tries again.
    """
    rt.store.checkpoint_journal()


def requeue_stuck(rt: Runtime, enqueue: Enqueue, *, queue_depth: int | None, grace_seconds: float | None = None,
                  limit: int = 5000) -> int:
    """The outbox relay: republish pending rows whose message was lost (crash, broker wipe, expired lease)."""
    now = dt.datetime.now(dt.UTC)
    if grace_seconds is None:
        grace_seconds = requeue_grace(rt.settings, queue_depth)
    grace = dt.timedelta(seconds=grace_seconds)
    ids = rt.store.requeue_candidates(now=now, enqueued_before=now - grace, limit=limit)
    if ids:
        log.info("reconciler republishes %d report(s) whose lease expired or whose message was lost", len(ids))
    return enqueue_new(rt, ids, enqueue)




def freshness_deadline(send_date: dt.date, delay_hours: float) -> dt.datetime:
    """A report sent on a (Beijing) day must be stored by the end of that day plus the configured delay."""
    midnight = dt.datetime.combine(send_date + dt.timedelta(days=1), dt.time(), SITE_TIMEZONE)
    return midnight + dt.timedelta(hours=delay_hours)


def hourly_upkeep(rt: Runtime, now: dt.datetime) -> None:
    """Once an hour: a freshness alert per report that just passed its deadline unstored, a layout alert
    when many reports stored in the last hour had unknown sections or failing cross-checks, and removal of the
    temp files that file-archive writers killed mid-write left behind (installations not migrated yet)."""
    previous = rt.store.runs.last_started(UPKEEP_JOB)
    run_id = rt.store.runs.try_lock_upkeep(UPKEEP_JOB, schedule_tick(3600, now))
    if run_id is None:
        return
    since = previous or now - dt.timedelta(hours=1)
    late = _alert_late_reports(rt.store, since, now, rt.settings.freshness_delay_hours)
    signals = rt.store.health.layout_signals(since)
    _alert_layout(signals)
    if rt.archive.legacy is not None:
        rt.archive.legacy.sweep_temp_files()
    rt.store.runs.finish_upkeep(run_id, late_reports=late, layout_signals=len(signals))


def _alert_late_reports(store: Store, since: dt.datetime, now: dt.datetime, delay_hours: float) -> int:
    delay = dt.timedelta(hours=delay_hours)
    # deadline(day) is in (since, now]  <=>  day is in (since - delay - 1 day, now - delay - 1 day] in Beijing.
    first = (since - delay).astimezone(SITE_TIMEZONE).date() - dt.timedelta(days=1)
    last = (now - delay).astimezone(SITE_TIMEZONE).date() - dt.timedelta(days=1)
    late = store.health.late_reports(first, last) if last > first else []
    for row in late:
        hours = (now - freshness_deadline(row["send_date"], delay_hours)).total_seconds() / 3600
        log.warning("report %s (fund %s, sent %s) is still %s %.1fh after its freshness deadline",
                    row["upload_info_id"], row["fund_code"], row["send_date"], row["state"], hours)
        alerts.freshness_late(row["upload_info_id"], row["fund_code"], row["send_date"], hours)
    return len(late)


def _alert_layout(signals: list[dict[str, Any]]) -> None:
    unknown = [row["upload_info_id"] for row in signals if row["unknown_sections"]]
    failing = [row["upload_info_id"] for row in signals if row["check_failures"]]
    headings = sorted({h for row in signals for h in (row["unknown_sections"] or [])})
    alerts.layout_changed("unknown_sections", unknown, "unknown headings: " + "; ".join(headings[:20]))
    alerts.layout_changed("cross_checks", failing, f"{len(failing)} stored reports failed cross-checks")
