"""(b) Redis trouble during a run: a kill -9 and restart with its AOF, a restart that lost everything (no
persistence: queues, unacked messages and bindings gone), and a 30 s freeze (SIGSTOP).

After each one the fleet must go back to work by itself within 60 s of Redis being back, and at the end every
report is stored once: the database rows are the outbox, the reconciler relays what the broker lost.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tests.chaos.battery import LONG, ChaosRun, assert_clean, drain_deadline
from tests.chaos.services import RedisServer
from tests.replica import Replica

pytestmark = pytest.mark.chaos

REPORTS = 300 if LONG else 60
WAVE = 100 if LONG else 30
FREEZE_SECONDS = 30
RESUME_WITHIN = 60


def _outage(run: ChaosRun, replica: Replica, redis_server: RedisServer, kind: str) -> float:
    """Publish a wave of new reports, break Redis the way ``kind`` says, bring it back; resume seconds."""
    replica.publish(WAVE, "FB030010", "2025")
    time.sleep(2)
    if kind == "kill_aof":
        redis_server.kill()
        time.sleep(3)
        redis_server.start()
    elif kind == "wiped":
        redis_server.shutdown(save=False)
        time.sleep(3)
        redis_server.start(wipe=True)
    else:
        redis_server.freeze()
        time.sleep(FREEZE_SECONDS)
        redis_server.thaw()
    back = time.time()
    run.wait("consumption to resume", lambda: run.stored_since(back) > 0, timeout=RESUME_WITHIN + 60, poll=0.5)
    return round(time.time() - back, 1)


def test_redis_restarts_and_freeze(chaos_run: Callable[..., ChaosRun], replica_factory: Callable[..., Replica],
                                   pg_url: str, redis_server: RedisServer) -> None:
    replica = replica_factory(REPORTS, seed=202)
    run = chaos_run("b-redis", replica, pg_url, redis_server.url(), env_extra={"FUNDCRAWL_RATE_LIMIT": "6"})
    run.start(workers=1, concurrency=2)
    run.wait("first stored reports", lambda: run.counts().get("stored", 0) >= 10, timeout=90)

    resume = {kind: _outage(run, replica, redis_server, kind) for kind in ("kill_aof", "wiped", "freeze")}
    last_fault = time.monotonic()

    oracle = replica.oracle()
    drain = run.wait_terminal(oracle, drain_deadline())
    figures = run.figures(oracle, drain, resume_seconds=resume,
                          seconds_since_last_fault=round(time.monotonic() - last_fault, 1))

    assert_clean(figures)
    assert figures["failed"] == {}
    assert figures["stored"] == REPORTS + 3 * WAVE
    assert all(seconds <= RESUME_WITHIN for seconds in resume.values()), resume
