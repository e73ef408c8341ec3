"""Celery wiring: the beat entries built from the schedule files, under the task and queue names messages carry."""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from celery.beat import PersistentScheduler
from celery.schedules import crontab, schedule
from kombu.utils.imports import symbol_by_name

from crawler.celery_app import SteppedClockScheduler, beat_schedule, celery_config
from crawler.schedules import load_schedules
from crawler.settings import Settings
from tests.test_schedules import GOOD, write


def test_beat_gets_one_entry_per_schedule_plus_the_reconciler(tmp_path: Path) -> None:
    beat = beat_schedule(load_schedules(write(tmp_path, GOOD)), reconcile_every=30)
    assert set(beat) == {"recent-periodic-reports", "profiles", "fundcrawl-reconcile"}
    cron = beat["recent-periodic-reports"]
    assert cron["task"] == "fundcrawl.discover" and cron["args"] == ("recent-periodic-reports",)
    assert isinstance(cron["schedule"], crontab) and cron["schedule"].minute == {15}
    assert beat["profiles"]["schedule"] == dt.timedelta(minutes=30)
    assert beat["fundcrawl-reconcile"]["task"] == "fundcrawl.reconcile"


class _BeatClock:
    """A settable UTC clock for beat's schedules. Beat pickles its schedule (the clock with it) into its state
    file and works on the copies, so the time lives on the class, where every copy reads it."""

    now = dt.datetime(2026, 12, 5, 12, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return _BeatClock.now

    @staticmethod
    def advance(seconds: float) -> None:
        _BeatClock.now += dt.timedelta(seconds=seconds)


class _Ticks:
    """A Celery app with one 60 s beat entry on the in-memory broker, its scheduler, and the clock both read."""

    PERIOD = 60.0

    def __init__(self, tmp_path: Path, scheduler: type[PersistentScheduler]) -> None:
        self.clock = _BeatClock()
        self.app = Celery("clock-test", broker="memory://", set_as_current=False)
        self.app.conf.result_expires = None  # no default cleanup entry beside the one under test
        # Beat reads the time from each entry's schedule.
        every = schedule(dt.timedelta(seconds=self.PERIOD), nowfun=self.clock, app=self.app)
        self.app.conf.beat_schedule = {"walk": {"task": "clock-test.walk", "schedule": every}}
        self.scheduler = scheduler(self.app, schedule_filename=str(tmp_path / "beat"), lazy=False,
                                   max_interval=300)

    def runs(self) -> int:
        return int(self.scheduler.schedule["walk"].total_run_count)

    def pass_time(self, seconds: float) -> float:
        """Move the clock on and run one beat tick; returns the delay beat asks for before its next tick."""
        self.clock.advance(seconds)
        return float(self.scheduler.tick())


@pytest.fixture
def ticks(tmp_path: Path) -> Iterator[_Ticks]:
    made = _Ticks(tmp_path, SteppedClockScheduler)
    yield made
    made.scheduler.close()


def test_beat_is_configured_with_the_scheduler_that_survives_a_backward_step(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, schedules=write(tmp_path, GOOD), broker_url=None, redis_url=None)
    assert symbol_by_name(celery_config(settings)["beat_scheduler"]) is SteppedClockScheduler


def test_beat_fires_one_period_after_the_clock_stepped_back_hours(ticks: _Ticks, caplog) -> None:
    assert ticks.pass_time(0) == pytest.approx(ticks.PERIOD, abs=0.1)
    assert ticks.pass_time(ticks.PERIOD) == 0 and ticks.runs() == 1
    with caplog.at_level(logging.WARNING, logger="crawler.celery_app"):
        delay = ticks.pass_time(-3 * 3600)
    assert delay == pytest.approx(ticks.PERIOD, abs=0.1), "beat waits one period, not the three hours"
    assert "clock stepped back by 10800s" in caplog.text
    assert ticks.pass_time(ticks.PERIOD) == 0 and ticks.runs() == 2
    assert ticks.pass_time(ticks.PERIOD) == 0 and ticks.runs() == 3


def test_beat_keeps_its_period_when_the_clock_jumps_forward(ticks: _Ticks) -> None:
    ticks.pass_time(0)
    assert ticks.pass_time(3 * 3600) == 0 and ticks.runs() == 1, "the missed runs are one run, not 180"
    assert ticks.pass_time(1) == pytest.approx(ticks.PERIOD - 1, abs=0.1)


def test_celery_own_persistent_scheduler_stalls_after_a_backward_step(tmp_path: Path) -> None:
    """What the subclass is for: Celery's scheduler keeps waiting for last runs that lie hours ahead."""
    plain = _Ticks(tmp_path, PersistentScheduler)
    try:
        plain.pass_time(0)
        plain.pass_time(plain.PERIOD)
        plain.pass_time(-3 * 3600)
        assert plain.pass_time(plain.PERIOD) == 300 and plain.runs() == 1
    finally:
        plain.scheduler.close()


@contextmanager
def _stops_recorded(events: list[str], number: signal.Signals) -> Iterator[Any]:
    """``number``'s handler, for the block, is beat's in miniature: record, then SystemExit; the block must end
    with that SystemExit. Yields the handler the block replaced."""

    def stop(_signum: int, _frame: Any) -> None:
        events.append("handled")
        raise SystemExit()

    previous = signal.signal(number, stop)
    try:
        with pytest.raises(SystemExit):
            yield previous
    finally:
        signal.signal(number, previous)


def _publishing(ticks: _Ticks, events: list[str], stops: int) -> None:
    """Make the scheduler's next publish receive ``stops`` SIGTERMs, each followed by a pause in which a handler
    that is not held back runs (at the next bytecode), before it publishes."""
    publish = ticks.scheduler.apply_async

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        for sent in range(stops):
            if sent:
                events.append("asked again")
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.2)
        events.append("published")
        return publish(*args, **kwargs)

    ticks.scheduler.apply_async = interrupted


@pytest.mark.parametrize(("stops", "expected"), [
    # Beat's SIGTERM handler (Celery's: save, close the connection, SystemExit) must not run in the middle of a
    # publish: the signal is held until the tick is done, then handled.
    (1, ["published", "handled"]),
    # A tick stuck on a broker that does not answer must not keep beat from stopping: asked twice, it stops.
    (2, ["asked again", "handled"]),
], ids=["held-until-the-tick-is-done", "a-second-one-stops-at-once"])
def test_a_stop_signal_during_a_tick(ticks: _Ticks, stops: int, expected: list[str]) -> None:
    events: list[str] = []
    ticks.pass_time(0)
    _publishing(ticks, events, stops)
    with _stops_recorded(events, signal.SIGTERM) as previous:
        ticks.pass_time(ticks.PERIOD)

    assert events == expected
    assert signal.getsignal(signal.SIGTERM) is previous


def test_a_stop_signal_during_a_save_of_the_schedule_is_handled_after_it(ticks: _Ticks) -> None:
    events: list[str] = []
    store_sync = ticks.scheduler._store.sync

    def sync_interrupted() -> None:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.2)
        store_sync()
        events.append("saved")

    ticks.scheduler._store.sync = sync_interrupted
    try:
        with _stops_recorded(events, signal.SIGINT):
            ticks.scheduler.sync()
    finally:
        ticks.scheduler._store.sync = store_sync

    assert events == ["saved", "handled"]
