"""The hourly upkeep the reconciler runs: freshness alerts, layout-change alerts, archive temp-file sweep.

One run per hour however often the reconciler fires: the run row of ``UPKEEP_JOB`` for the hour's tick is the
lock, so a second reconciler (or a redelivery) in the same hour does nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from crawler.flow import Runtime, schedule_tick
from crawler.storage import discovery as discovery_runs
from crawler.storage import operations
from crawler.telemetry import alerts

log = logging.getLogger(__name__)

UPKEEP_JOB = "hourly-upkeep"
SITE_TIMEZONE = dt.timezone(dt.timedelta(hours=8))


def freshness_deadline(send_date: dt.date, delay_hours: float) -> dt.datetime:
    """A report sent on a (Beijing) day must be stored by the end of that day plus the configured delay."""
    midnight = dt.datetime.combine(send_date + dt.timedelta(days=1), dt.time(), SITE_TIMEZONE)
    return midnight + dt.timedelta(hours=delay_hours)


def hourly_upkeep(rt: Runtime, now: dt.datetime) -> None:
    """Once an hour: a freshness alert per report that just passed its deadline unstored, a layout alert
    when many reports stored in the last hour had unknown sections or failing cross-checks, and removal of the
    temp files that file-archive writers killed mid-write left behind (installations not migrated yet)."""
    engine = rt.store.engine
    previous = operations.last_run_started(engine, UPKEEP_JOB)
    run_id = discovery_runs.start_run(engine, UPKEEP_JOB, schedule_tick(3600, now), kind="upkeep")
    if run_id is None:
        return
    since = previous or now - dt.timedelta(hours=1)
    late = _alert_late_reports(engine, since, now, rt.settings.freshness_delay_hours)
    signals = operations.layout_signals(engine, since)
    _alert_layout(signals)
    if rt.archive.legacy is not None:
        rt.archive.legacy.sweep_temp_files()
    discovery_runs.finish_run(engine, run_id, status="ok", partitions_walked=0, listed=late, new=len(signals),
                              requests=0, error=None)


def _alert_late_reports(engine: Any, since: dt.datetime, now: dt.datetime, delay_hours: float) -> int:
    delay = dt.timedelta(hours=delay_hours)
    # deadline(day) is in (since, now]  <=>  day is in (since - delay - 1 day, now - delay - 1 day] in Beijing.
    first = (since - delay).astimezone(SITE_TIMEZONE).date() - dt.timedelta(days=1)
    last = (now - delay).astimezone(SITE_TIMEZONE).date() - dt.timedelta(days=1)
    late = operations.late_reports(engine, first, last) if last > first else []
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
