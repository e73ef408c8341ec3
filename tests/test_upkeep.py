"""The reconciler's pass: lost reports are republished, the hourly upkeep runs once per hour (alerting late
reports and sweeping temp files)."""

from __future__ import annotations

import datetime as dt
import logging
import os
import subprocess

from crawler import upkeep
from crawler.models import ReportRef
from crawler.processing import Runtime
from crawler.storage import owners
from tests.fakes.clock import FakeUtcClock
from tests.replica import Replica


def test_hourly_upkeep_alerts_late_reports_once_and_sweeps_temp_files(
        replica_runtime: tuple[Runtime, Replica]) -> None:
    rt, _replica = replica_runtime
    sent = dt.date.today() - dt.timedelta(days=3)
    # The first upkeep looks back one hour: run it just after this report's deadline passed.
    now = upkeep.freshness_deadline(sent, rt.settings.freshness_delay_hours).astimezone(dt.UTC) + dt.timedelta(minutes=10)
    rt.store.add_discovered([ReportRef(upload_info_id=99, report_type_code="FB030010", fund_code="000001",
                                       fund_short_name="x", organ_name="y", report_year="2025",
                                       report_desp="第一季度报告", send_date=sent)])
    assert rt.archive.legacy is not None
    temp = rt.archive.legacy.root / "ab" / "cd" / ".tmp-left.html"
    temp.parent.mkdir(parents=True)
    temp.write_bytes(b"partial")
    stale = dt.datetime.now().timestamp() - 7200
    os.utime(temp, (stale, stale))
    upkeep.hourly_upkeep(rt, now)
    upkeep.hourly_upkeep(rt, now + dt.timedelta(minutes=5))  # the same hour: nothing more
    runs = [run for run in rt.store.runs.recent() if run["schedule"] == upkeep.UPKEEP_JOB]
    assert len(runs) == 1 and runs[0]["listed"] == 1  # one late report alerted, once
    assert not temp.exists()


def _listed(upload_info_id: int, sent: dt.date) -> ReportRef:
    return ReportRef(upload_info_id=upload_info_id, report_type_code="FB030010", fund_code="000001",
                     fund_short_name="x", organ_name="y", report_year="2025", report_desp="第一季度报告",
                     send_date=sent)


def test_a_reconciler_pass_republishes_what_a_dead_worker_held_once_and_runs_the_hourly_upkeep(
        replica_runtime: tuple[Runtime, Replica]) -> None:
    rt, _replica = replica_runtime
    rt.store.add_discovered([_listed(7, dt.date.today()), _listed(8, dt.date.today())])
    assert rt.store.claim(7, lease_seconds=600, max_attempts=8, owner=_gone_process()) is not None
    assert rt.store.claim(8, lease_seconds=600, max_attempts=8) is not None  # this live process holds it
    published: list[int] = []

    # The dead worker's lease is released and its report republished in the same pass; the live one is left.
    assert upkeep.reconcile(rt, published.extend, queue_depth=0) == 1
    assert published == [7]
    assert upkeep.reconcile(rt, published.extend, queue_depth=0) == 0  # published now: not lost again
    assert published == [7]
    runs = [run for run in rt.store.runs.recent() if run["schedule"] == upkeep.UPKEEP_JOB]
    assert len(runs) == 1  # the hourly upkeep ran on the first pass only


def _gone_process() -> str:
    """The lease owner identity of a process of this machine that has already exited."""
    child = subprocess.Popen(["true"])
    child.wait()
    return f"{owners.host()}:{child.pid}:1"


def test_a_backlog_lengthens_the_grace_before_a_published_report_counts_as_lost(
        replica_runtime: tuple[Runtime, Replica]) -> None:
    settings = replica_runtime[0].settings
    assert upkeep.requeue_grace(settings, None) == settings.lease_seconds
    backlog = int(settings.rate_limit * settings.lease_seconds)  # drains in lease_seconds at the rate limit
    assert upkeep.requeue_grace(settings, backlog) == 1.5 * settings.lease_seconds


def test_a_reconciler_pass_pulls_back_what_a_clock_stepped_back_left_hours_ahead(
        replica_runtime: tuple[Runtime, Replica], caplog) -> None:
    rt, _replica = replica_runtime
    rt.store.add_discovered([_listed(11, dt.date.today()), _listed(12, dt.date.today()), _listed(13, dt.date.today())])
    real_clock = rt.store.clock
    rt.store.clock = FakeUtcClock(real_clock() + dt.timedelta(hours=3))  # the clock before it stepped back 3 h
    assert rt.store.claim(11, lease_seconds=rt.settings.lease_seconds, max_attempts=8) is not None
    assert rt.store.claim(12, lease_seconds=rt.settings.lease_seconds, max_attempts=8) is not None
    assert rt.store.release(12, error="SourceError: 503", retry_at=rt.store.clock() + dt.timedelta(seconds=60))
    rt.store.mark_enqueued([13])
    rt.store.clock = real_clock
    published: list[int] = []

    with caplog.at_level(logging.WARNING, logger="crawler.storage.store"):
        upkeep.reconcile(rt, published.extend, queue_depth=0)
    assert published == [] and "the clock stepped back" in caplog.text
    hold = dt.timedelta(seconds=upkeep.longest_hold(rt.settings))
    for upload_info_id in (11, 12):
        lease_until = rt.store.state(upload_info_id)["lease_until"]
        assert real_clock() < lease_until <= real_clock() + hold, "ends one longest hold from now, not 3 h on"
    # One longest hold later (past the grace too), all three are lost work and are republished.
    later = real_clock() + hold + dt.timedelta(seconds=1)
    assert sorted(rt.store.requeue_candidates(now=later, enqueued_before=later - hold)) == [11, 12, 13]


def test_leases_and_retry_times_the_daemon_set_are_left_alone(replica_runtime: tuple[Runtime, Replica]) -> None:
    rt, _replica = replica_runtime
    rt.store.add_discovered([_listed(21, dt.date.today()), _listed(22, dt.date.today())])
    claim = rt.store.claim(21, lease_seconds=rt.settings.lease_seconds, max_attempts=8)
    assert claim is not None
    retry_at = rt.store.clock() + dt.timedelta(seconds=rt.settings.retry_backoff_max + 30)
    assert rt.store.claim(22, lease_seconds=rt.settings.lease_seconds, max_attempts=8) is not None
    assert rt.store.release(22, error="SourceError: 503", retry_at=retry_at)
    assert rt.store.pull_back_future_times(longest_hold_seconds=upkeep.longest_hold(rt.settings)) == 0
    assert rt.store.state(21)["lease_until"] == claim.lease_until
    assert rt.store.state(22)["lease_until"] == retry_at
