"""(f) Hostile input among normal reports: a 50 MB page and an endless body (refused at the 10 MiB cap),
gzip bombs (one and two layers), 100k-deep nesting, a gb2312-labelled page with gb18030-only characters,
listing JSON with wrong types (and an id that tries path traversal), SQL-looking, RTL and emoji fund names,
redirects to other hosts, to file:// and down a 6-hop chain.

Each ends in a clear terminal state within a minute, with no crash loop, bounded worker memory and nothing
written outside the data directory; the odd names are stored byte-exact. Run on both deployments.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.chaos.battery import LONG, ChaosRun, Sampler, assert_clean
from tests.chaos.conftest import Deployment
from tests.constants import REPO
from tests.e2e.harness import schedule_yaml
from tests.replica import Replica
from tests.replica.faults import PERMANENT

pytestmark = pytest.mark.chaos

NORMAL = 200 if LONG else 40
#: Every permanent fault except the hostile-site ones of (d) (a never-ending trickle costs a request deadline per
#: attempt and belongs there).
HOSTILE = {name: 1 for name in PERMANENT if name not in ("not_found", "malformed", "always_503", "always_trickle")}
TERMINAL_WITHIN = 60
#: A hostile page must not grow a worker child past this peak RSS.
MAX_CHILD_RSS = 300 * 1024 * 1024


def _written_outside(tmp: Path, marker: float, allowed: set[str], repo_before: set[str]) -> list[str]:
    """Files the run created outside the data dir (and the battery's own logs/services) or in the repo root."""
    outside = [str(path) for path in tmp.rglob("*")
               if path.is_file() and path.stat().st_mtime >= marker
               and path.relative_to(tmp).parts[0] not in allowed]
    return outside + sorted({p.name for p in REPO.iterdir()} - repo_before)


def test_hostile_input_ends_terminal_bounded_and_contained(
        chaos_run: Callable[..., ChaosRun], replica_factory: Callable[..., Replica], deployment: Deployment,
        tmp_path: Path) -> None:
    replica = replica_factory(0, seed=606)
    # 256 MiB decoded from ~250 KiB of gzip: 25x the cap, and quick enough for the replica to compress per request.
    replica.set_config(bomb_decoded_bytes=256 * 2**20)
    replica.publish(NORMAL + sum(HOSTILE.values()), "FB030010", "2025", faults=HOSTILE)
    # Discovery every 15 s: a partition with permanently malformed listing rows never converges, and each
    # tick re-walks it (hundreds of requests); every 3 s would keep both pool processes walking.
    run = chaos_run("f-hostile-input", replica, deployment=deployment, schedule=schedule_yaml(every="15s"),
                    env_extra={"FUNDCRAWL_READ_TIMEOUT": "15"})
    repo_before = {path.name for path in REPO.iterdir()}
    marker = time.time()
    run.start(workers=1, concurrency=2)

    oracle = replica.oracle()
    with Sampler(run) as sampler:
        drain = run.wait_terminal(oracle, timeout=180)
    hostile = {i: entry for i, entry in oracle.items() if entry["fault"]}
    rows = run.rows()
    slowest = _slowest_terminal(run, [i for i in hostile if i in rows])
    logs = run.daemon.logs_text()
    outside = _written_outside(tmp_path, marker, {"data", "logs", "redis", "schedules.yaml"}, repo_before)
    figures = run.figures(oracle, drain, hostile=len(hostile), slowest_hostile_seconds=round(slowest, 1),
                          peak_child_rss_mib=round(sampler.peak_child_rss / 2**20, 1),
                          worker_lost=logs.count("WorkerLostError"), written_outside=outside[:10])

    assert_clean(figures)
    assert slowest <= TERMINAL_WITHIN, f"a hostile report took {slowest:.0f}s to end"
    assert figures["restarts"] == {} and figures["worker_lost"] == 0, "crash loop"
    assert 0 < sampler.peak_child_rss < MAX_CHILD_RSS
    assert outside == []
    names = {r["upload_info_id"]: r["fund_short_name"] for r in replica.catalogue(
        [i for i, e in hostile.items() if e["fault"].startswith("name_")])}
    stored = {upload_id: name for upload_id, name in run.query("SELECT upload_info_id, fund_short_name FROM reports")
              if upload_id in names}
    assert stored == names and len(names) == 4, "odd fund names must be stored byte-exact"


def _slowest_terminal(run: ChaosRun, ids: list[int]) -> float:
    """Longest time from a hostile report's discovery to its terminal state."""
    if not ids:
        return 0.0
    result = run.query("SELECT upload_info_id, discovered_at, updated_at FROM reports")
    spans = [(_moment(updated) - _moment(discovered)) for i, discovered, updated in result if i in set(ids)]
    return max(span.total_seconds() for span in spans)


def _moment(value: dt.datetime | str) -> dt.datetime:
    """A timestamp as read back: PostgreSQL gives datetimes, SQLite's raw text() query its stored ISO text."""
    return dt.datetime.fromisoformat(value) if isinstance(value, str) else value
