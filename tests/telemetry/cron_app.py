"""A small real Celery app for the cron check-in test: beat and a prefork worker in their own processes.

Its entries use the schedule types fundcrawl's beat uses (crontab, whole-minute interval, sub-minute interval).
:class:`StartNowScheduler` makes the two long entries due at start-up instead of after a minute so the test does
not wait; everything else (the Sentry beat patch, the task headers, the worker's signals) is the real path. The
broker is the local Redis, every key under a prefix unique to the test run (``CRON_TEST_PREFIX``).
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

from celery import Celery, signals
from celery.beat import Scheduler
from celery.schedules import crontab

from crawler.settings import get_settings
from crawler.telemetry import alerts
from crawler.telemetry.logs import configure_logging

PREFIX = os.environ["CRON_TEST_PREFIX"]


class StartNowScheduler(Scheduler):
    """The in-memory beat scheduler, with the long entries last run a day ago (so they are due now)."""

    def setup_schedule(self) -> None:
        super().setup_schedule()
        for name in ("ok-job", "failing-job"):
            self.schedule[name].last_run_at = self.app.now() - dt.timedelta(days=1)


app = Celery("cron_app")
app.conf.update(
    broker_url="redis://127.0.0.1:6379/15",
    broker_transport_options={"global_keyprefix": PREFIX},
    task_default_queue=f"{PREFIX}tasks",
    worker_prefetch_multiplier=1,
    task_ignore_result=True,
    accept_content=["json"],
    timezone="UTC",
    beat_max_loop_interval=1,
    beat_schedule={
        "ok-job": {"task": "cron_app.ok_job", "schedule": dt.timedelta(minutes=1)},
        "failing-job": {"task": "cron_app.failing_job", "schedule": crontab(minute="*/5"),
                        "args": (get_settings().database,)},
        "quick-job": {"task": "cron_app.quick_job", "schedule": dt.timedelta(seconds=3)},
    },
)


@app.task(name="cron_app.ok_job")
def ok_job() -> int:
    return 1


@app.task(name="cron_app.failing_job")
def failing_job(broker_url: str) -> None:
    raise ValueError(f"cannot talk to {broker_url}")


@app.task(name="cron_app.quick_job")
def quick_job() -> None:
    alerts.monitor_checkin("quick-job", "ok", dt.timedelta(seconds=3))


@signals.setup_logging.connect
def _logging(**_: Any) -> None:
    configure_logging(get_settings())


@signals.celeryd_init.connect
def _sentry_worker(**_: Any) -> None:
    alerts.init_sentry(get_settings(), process="worker")


@signals.beat_init.connect
def _sentry_beat(**_: Any) -> None:
    alerts.init_sentry(get_settings(), process="beat")
