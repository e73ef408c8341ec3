"""Celery wiring: the beat entries built from the schedule files, under the task and queue names messages carry."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from celery.schedules import crontab

from crawler.celery_app import beat_schedule
from crawler.schedules import load_schedules
from tests.test_schedules import GOOD, write


def test_beat_gets_one_entry_per_schedule_plus_the_reconciler(tmp_path: Path) -> None:
    beat = beat_schedule(load_schedules(write(tmp_path, GOOD)), reconcile_every=30)
    assert set(beat) == {"recent-periodic-reports", "profiles", "fundcrawl-reconcile"}
    cron = beat["recent-periodic-reports"]
    assert cron["task"] == "fundcrawl.discover" and cron["args"] == ("recent-periodic-reports",)
    assert isinstance(cron["schedule"], crontab) and cron["schedule"].minute == {15}
    assert beat["profiles"]["schedule"] == dt.timedelta(minutes=30)
    assert beat["fundcrawl-reconcile"]["task"] == "fundcrawl.reconcile"
