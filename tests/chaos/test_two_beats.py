"""(e) Two beats running at once (the Procfile started twice, or a standby that did not stand by).

Both emit every discovery tick; ``discovery_runs`` is unique per (schedule, tick), so only one discovery runs
per tick, and only the discovery that inserted a report row gets its id back to publish: no duplicate rows
and exactly one download per report.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tests.chaos.battery import LONG, ChaosRun, assert_clean, drain_deadline
from tests.chaos.services import RedisServer
from tests.e2e.harness import page_fetches, schedule_yaml
from tests.replica import Replica

pytestmark = pytest.mark.chaos

REPORTS = 300 if LONG else 60
WAVE = 20
RUN_SECONDS = 300 if LONG else 12


def test_two_beats_one_run_per_tick_one_download_per_report(
        chaos_run: Callable[..., ChaosRun], replica_factory: Callable[..., Replica], pg_url: str,
        redis_server: RedisServer) -> None:
    replica = replica_factory(REPORTS, seed=505)
    run = chaos_run("e-two-beats", replica, pg_url, redis_server.url(), schedule=schedule_yaml(every="2s"))
    run.start(workers=1, concurrency=2, beats=2)
    run.wait("the first wave", lambda: run.counts().get("stored", 0) == REPORTS, timeout=120)
    replica.publish(WAVE, "FB030010", "2025")
    time.sleep(RUN_SECONDS)

    oracle = replica.oracle()
    drain = run.wait_terminal(oracle, drain_deadline())
    ticks = run.query("SELECT count(*), count(DISTINCT (schedule, tick)) FROM discovery_runs")[0]
    skipped = run.daemon.logs_text().count("already ran (another beat or a redelivery)")
    fetches = page_fetches(replica.log())
    figures = run.figures(oracle, drain, discovery_runs=int(ticks[0]), ticks_skipped_as_duplicates=skipped,
                          page_downloads=sum(fetches.values()))

    assert_clean(figures)
    assert ticks[0] == ticks[1], "two discovery runs for one tick"
    assert skipped > 0, "the second beat never fired a tick the first one had taken"
    assert len(fetches) == REPORTS + WAVE and set(fetches.values()) == {1}, "a report was downloaded twice"
