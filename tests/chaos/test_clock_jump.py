"""The wall clock jumps mid-crawl: back by hours (a hand-set date, a bad NTP server, a VM restored from a
snapshot), forward by hours, and back again, while the daemon stores reports and retries the site's transient
failures. Only the daemon's processes see the jumps (a small preloaded library, wallclock_shift.c, compiled here
with cc and steered through a file); the site, PostgreSQL and Redis keep the real time. Nothing may fail for good, be lost or be
stored twice, and the daemon must say that the clock stepped back.

Monotonic time, sleeps and timers are left alone, as a real step of the wall clock leaves them (libfaketime
cannot: with monotonic time unfaked its ``clock_nanosleep`` fails every ``time.sleep`` with EINVAL).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest

from tests.chaos.battery import ChaosRun, assert_clean, drain_deadline, lease_recovery
from tests.chaos.conftest import Deployment
from tests.replica import Replica

pytestmark = [pytest.mark.chaos, pytest.mark.waits]

REPORTS = 80
SHIM_SOURCE = Path(__file__).with_name("wallclock_shift.c")
#: The daemon's clock relative to the real one, in turn: back 3 h, forward 5 h, back 3 h (seconds).
STEPS = (-3 * 3600, 2 * 3600, -1 * 3600)
#: Reports stored before the first jump and after each one, so that every jump lands mid-crawl.
STORED_BETWEEN = 10


class WallClock:
    """The daemon processes' wall clock offset: the shim library and the file it reads on every call."""

    def __init__(self, where: Path) -> None:
        self.library = where / "wallclock_shift.so"
        self.offset_file = where / "wallclock-offset"
        subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-o", str(self.library), str(SHIM_SOURCE), "-ldl"],
                       check=True, capture_output=True)
        self.step_to(0)

    def env(self) -> dict[str, str]:
        return {"LD_PRELOAD": str(self.library), "WALLCLOCK_SHIFT_FILE": str(self.offset_file)}

    def step_to(self, offset_seconds: int) -> None:
        """Set the offset at once for every process (written aside, then renamed over: never read half-written)."""
        aside = self.offset_file.with_suffix(".new")
        aside.write_text(f"{offset_seconds}\n")
        os.replace(aside, self.offset_file)


def _stored(run: ChaosRun) -> int:
    return run.counts().get("stored", 0)


def _stored_at_least(run: ChaosRun, target: int) -> bool:
    return _stored(run) >= target


def test_a_clock_jumping_back_and_forth_by_hours_loses_nothing(
        chaos_run: Callable[..., ChaosRun], replica_factory: Callable[..., Replica], deployment: Deployment,
        tmp_path: Path) -> None:
    clock = WallClock(tmp_path)
    replica = replica_factory(REPORTS, seed=4242)
    # Transient failures make retries, and so leases, retry times and rate-limit pauses that span the jumps.
    replica.set_faults(0.2, {"http_503": 2.0, "http_500": 1.0, "http_429": 1.0}, paths=["redirect", "page"],
                       max_failures=1, seed=2718)
    run = chaos_run("clock-jump", replica, deployment=deployment,
                    env_extra={"FUNDCRAWL_RATE_LIMIT": "3", **clock.env()})
    run.start(workers=1, concurrency=2)
    run.wait("a few stored reports", lambda: _stored(run) >= 5, timeout=120)

    stored_after: dict[str, int] = {}
    for offset in STEPS:
        target = min(_stored(run) + STORED_BETWEEN, REPORTS)
        clock.step_to(offset)
        run.wait(f"{STORED_BETWEEN} more reports stored with the clock {offset:+d}s off",
                 partial(_stored_at_least, run, target), timeout=lease_recovery() + 60)
        stored_after[f"{offset:+d}s"] = _stored(run)
    last_jump = time.monotonic()

    oracle = replica.oracle()
    drain = run.wait_terminal(oracle, drain_deadline())
    logs = run.daemon.logs_text()
    figures = run.figures(oracle, drain, steps=list(STEPS), stored_after_each_step=stored_after,
                          beat_noticed=logs.count("beat: the clock stepped back"),
                          pulled_back=logs.count("lease(s) or retry time(s) further ahead"),
                          drained_after_last_jump_seconds=round(time.monotonic() - last_jump, 1))

    assert_clean(figures)
    assert figures["failed"] == {}, "a jumping clock must never fail a report"
    assert figures["stored"] == REPORTS
    assert figures["restarts"] == {}
    assert figures["beat_noticed"] >= 2, "beat says the clock stepped back, once per backward jump"
