"""(g) Soak: reports published at a steady rate with a 5% transient fault mix, a pool child killed every so
often, children recycled after a few dozen tasks. Worker memory, open files, Redis memory and database
connections stay bounded, no Celery result key is left behind, and nothing is lost or doubled.

CI runs 10 minutes of publishing with a child killed every 2.5 minutes;
``FUNDCRAWL_CHAOS_PROFILE=long`` runs an hour (``FUNDCRAWL_CHAOS_SOAK_SECONDS`` overrides either).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import psutil
import pytest

from tests.chaos.battery import LONG, ChaosRun, assert_clean, drain_deadline
from tests.chaos.conftest import Deployment
from tests.chaos.services import PostgresCluster, RedisServer
from tests.replica import Replica

pytestmark = [pytest.mark.chaos, pytest.mark.soak]

SOAK_SECONDS = float(os.environ.get("FUNDCRAWL_CHAOS_SOAK_SECONDS") or (3600 if LONG else 600))
KILL_EVERY = 600.0 if LONG else 150.0
PUBLISH_EVERY, PER_PUBLISH = 2.0, 4  # 2 reports/s
SAMPLE_EVERY = 5.0
MiB = 2**20
#: engine pool_size + max_overflow (crawler/storage/engine.py) per process.
CONNECTIONS_PER_PROCESS = 6


def _sample(run: ChaosRun, redis_server: RedisServer, pg_cluster: PostgresCluster, database: str) -> dict[str, Any]:
    main = psutil.Process(run.pid("worker0"))
    children: dict[int, int] = {}
    for child in main.children():
        try:
            children[child.pid] = child.memory_info().rss
        except psutil.NoSuchProcess:
            pass  # killed by this test (or recycled) between the listing and the reading: the next sample sees its heir
    return {
        "main_rss": main.memory_info().rss, "main_fds": main.num_fds(),
        "child_rss": max(children.values(), default=0),
        "child_pids": list(children),
        "redis_memory": redis_server.used_memory(),
        "pg_connections": pg_cluster.connections(database),
    }


@pytest.mark.timeout(SOAK_SECONDS + 900)  # the soak itself, then up to the drain deadline and start-up
def test_steady_rate_stays_bounded(chaos_run: Callable[..., ChaosRun], replica_factory: Callable[..., Replica],
                                   pg_url: str, pg_cluster: PostgresCluster, redis_server: RedisServer) -> None:
    replica = replica_factory(0, seed=707)
    replica.set_config(stall_seconds=8)
    replica.set_faults(0.05, paths=["redirect", "page"], max_failures=1, seed=707)
    run = chaos_run("g-soak", replica, pg_url, redis_server.url(),
                    env_extra={"FUNDCRAWL_WORKER_MAX_TASKS_PER_CHILD": "40"})
    run.start(workers=1, concurrency=2)
    database = pg_url.rsplit("/", 1)[1]

    samples: list[dict[str, Any]] = []
    started = last_kill = last_sample = time.monotonic()
    while time.monotonic() - started < SOAK_SECONDS:
        replica.publish(PER_PUBLISH, "FB030010", "2025")
        now = time.monotonic()
        if now - last_kill >= KILL_EVERY:
            run.kill_child()
            last_kill = now
        if now - last_sample >= SAMPLE_EVERY:
            samples.append(_sample(run, redis_server, pg_cluster, database))
            last_sample = now
        time.sleep(PUBLISH_EVERY)

    oracle = replica.oracle()
    drain = run.wait_terminal(oracle, drain_deadline())
    early, late = samples[len(samples) // 3], samples[-1]
    child_pids = {pid for sample in samples for pid in sample["child_pids"]}
    meta_keys = len(redis_server.keys("celery-task-meta-*"))
    figures = run.figures(
        oracle, drain, soak_seconds=SOAK_SECONDS, samples=len(samples),
        main_rss_mib=[round(early["main_rss"] / MiB, 1), round(late["main_rss"] / MiB, 1)],
        peak_child_rss_mib=round(max(s["child_rss"] for s in samples) / MiB, 1),
        main_fds=[early["main_fds"], late["main_fds"]],
        redis_memory_mib=[round(early["redis_memory"] / MiB, 2), round(late["redis_memory"] / MiB, 2)],
        peak_pg_connections=max(s["pg_connections"] for s in samples), child_pids_seen=len(child_pids),
        celery_task_meta_keys=meta_keys)

    assert_clean(figures)
    assert figures["failed"] == {}
    assert late["main_rss"] <= early["main_rss"] * 1.10 + 16 * MiB, figures
    assert max(s["child_rss"] for s in samples) <= 286 * MiB, figures
    assert len(child_pids) > 2, "pool children were never recycled"
    assert late["main_fds"] - early["main_fds"] <= 20, figures
    assert late["redis_memory"] <= early["redis_memory"] * 1.2 + 2 * MiB, figures
    assert meta_keys == 0
    processes = 1 + 2 + 1  # worker main, 2 pool children, beat
    assert figures["peak_pg_connections"] <= processes * CONNECTIONS_PER_PROCESS, figures


EMBEDDED_SOAK_SECONDS = float(os.environ.get("FUNDCRAWL_CHAOS_SOAK_SECONDS") or (1800 if LONG else 120))
EMBEDDED_KILL_EVERY = 40.0


@pytest.mark.timeout(EMBEDDED_SOAK_SECONDS + 900)
def test_embedded_steady_rate_stays_bounded(chaos_run: Callable[..., ChaosRun],
                                            replica_factory: Callable[..., Replica]) -> None:
    """(g) in short on the embedded default: the same publishing and faults, a consumer killed every 40 s,
    consumers replaced after 40 tasks. Consumer memory and open files stay bounded, nothing is lost or doubled."""
    replica = replica_factory(0, seed=708)
    replica.set_config(stall_seconds=8)
    replica.set_faults(0.05, paths=["redirect", "page"], max_failures=1, seed=708)
    run = chaos_run("g-soak-short", replica, deployment=Deployment("embedded"),
                    env_extra={"FUNDCRAWL_WORKER_MAX_TASKS_PER_CHILD": "40"})
    run.start(concurrency=2)

    samples: list[dict[str, Any]] = []
    started = last_kill = last_sample = time.monotonic()
    while time.monotonic() - started < EMBEDDED_SOAK_SECONDS:
        replica.publish(PER_PUBLISH, "FB030010", "2025")
        now = time.monotonic()
        if now - last_kill >= EMBEDDED_KILL_EVERY:
            run.kill_child()
            last_kill = now
        if now - last_sample >= SAMPLE_EVERY:
            consumers = run.children()
            samples.append({"rss": max((c.memory_info().rss for c in consumers), default=0),
                            "fds": max((c.num_fds() for c in consumers), default=0),
                            "pids": [c.pid for c in consumers]})
            last_sample = now
        time.sleep(PUBLISH_EVERY)

    oracle = replica.oracle()
    drain = run.wait_terminal(oracle, drain_deadline())
    pids = {pid for sample in samples for pid in sample["pids"]}
    figures = run.figures(oracle, drain, soak_seconds=EMBEDDED_SOAK_SECONDS, samples=len(samples),
                          peak_consumer_rss_mib=round(max(s["rss"] for s in samples) / MiB, 1),
                          consumer_fds=[samples[len(samples) // 3]["fds"], samples[-1]["fds"]],
                          consumer_pids_seen=len(pids))

    assert_clean(figures)
    assert figures["failed"] == {}
    assert figures["stored"] == len(oracle) > 0
    assert max(s["rss"] for s in samples) <= 286 * MiB, figures
    assert len(pids) > 2, "consumers were never replaced"
    assert samples[-1]["fds"] - samples[len(samples) // 3]["fds"] <= 20, figures
