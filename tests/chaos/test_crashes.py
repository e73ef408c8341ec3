"""(a) Worker crashes: kill -9 of pool children and of the worker main process (and once of beat),
repeatedly during a run, plus children killed between the database commit and the broker ack (the
FUNDCRAWL_TEST_FAULT hook).

What a user must see afterwards: every report stored exactly once, with the right content, and nothing
failed because of a crash.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tests.chaos.battery import LONG, ChaosRun, assert_clean, drain_deadline
from tests.chaos.services import RedisServer
from tests.replica import Replica

pytestmark = pytest.mark.chaos

REPORTS = 1000 if LONG else 150
#: child, child, main, ... : 2 child kills per main kill.
KILLS = 30 if LONG else 9
KILL_EVERY = 3.0


def test_kill_children_and_main_repeatedly(chaos_run: Callable[..., ChaosRun],
                                           replica_factory: Callable[..., Replica], pg_url: str,
                                           redis_server: RedisServer) -> None:
    replica = replica_factory(REPORTS, seed=101)
    run = chaos_run("a-worker-crashes", replica, pg_url, redis_server.url(),
                    env_extra={"FUNDCRAWL_TEST_FAULT": "after_commit_before_ack:p=0.05",
                               "FUNDCRAWL_RATE_LIMIT": "10"})
    run.start(workers=1, concurrency=2)
    run.wait("first stored report", lambda: run.counts().get("stored", 0) > 0, timeout=60)

    for number in range(KILLS):
        time.sleep(KILL_EVERY)
        if number % 3 == 2:
            old = run.pid("worker0")
            run.kill_main()
            run.wait_restarted("worker0", old)
        else:
            run.kill_child()
        if number == KILLS // 2:
            run.kill_main("beat0")
    last_fault = time.monotonic()

    oracle = replica.oracle()
    drain = run.wait_terminal(oracle, drain_deadline())
    hook_kills = run.daemon.logs_text().count("test fault after_commit_before_ack")
    figures = run.figures(oracle, drain, commit_ack_kills=hook_kills,
                          seconds_since_last_fault=round(time.monotonic() - last_fault, 1))

    assert_clean(figures)
    assert figures["failed"] == {}, "a crash must never fail a report"
    assert figures["stored"] == REPORTS
    assert figures["max_attempts"] <= 8
    assert figures["kills"] == {"child": KILLS - KILLS // 3, "main": KILLS // 3, "beat": 1}
    assert hook_kills > 0, "the commit/ack window was never hit"
