"""The reconciler's pass: the hourly upkeep runs once per hour, alerts late reports and sweeps temp files."""

from __future__ import annotations

import datetime as dt
import os

from crawler import upkeep
from crawler.models import ReportRef
from crawler.processing import Runtime
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
