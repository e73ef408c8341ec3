"""Backfill: list whole historical partitions once, resumably, while scheduled discovery keeps running.

A job is planned once (its partitions persisted as ``todo``) and run any number of times: each run syncs the
partitions not yet ``done``. Reports are inserted page by page (the ``reports`` primary key makes every insert
idempotent, so a run racing scheduled discovery never duplicates a report) and a partition is marked ``done``
only when its walk converged. After a crash or SIGKILL a rerun resumes at the first unfinished partition; days
already checkpointed inside it cost one check each, and no stored report is ever fetched again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import product

from crawler.discovery.sync import DiscoveryStore, SyncOutcome, key_query, partition_label, sync_range
from crawler.discovery.walk import Piece, SearchClient, WalkPolicy
from crawler.storage.partitions import PartitionKey
from crawler.storage.types import utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BackfillProgress:
    """A snapshot for the progress display (tqdm on a TTY, log lines otherwise)."""

    partitions_done: int
    partitions_total: int
    found: int
    new: int
    requests: int
    elapsed: float
    current: str = ""
    done_before_run: int = 0  # partitions an earlier (interrupted) run finished: not part of this run's rate

    @property
    def rate(self) -> float:
        """Reports listed per second in this run."""
        return self.found / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds left, from this run's average time per partition; None before the first one finishes."""
        finished_here = self.partitions_done - self.done_before_run
        if finished_here <= 0:
            return None
        return self.elapsed / finished_here * (self.partitions_total - self.partitions_done)


@dataclass
class BackfillResult:
    job_id: int
    partitions_total: int
    partitions_done: int
    found: int
    new_ids: list[int] = field(default_factory=list)
    requests: int = 0
    incomplete: list[Piece] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.partitions_done == self.partitions_total


Progress = Callable[[BackfillProgress], None]


def plan_backfill(store: DiscoveryStore, report_types: Iterable[str], years: Iterable[str | int],
                  fund_types: Iterable[str] = ()) -> int:
    """Persist a backfill job over report types x years [x fund types]; returns its id."""
    types, year_list, funds = list(report_types), [str(y) for y in years], list(fund_types) or [""]
    keys = [PartitionKey(*combo) for combo in product(types, year_list, funds)]
    spec = {"report_types": types, "years": year_list, "fund_types": [f for f in funds if f]}
    job_id = store.jobs.create(spec, keys)
    log.info("backfill job %s planned: %d partitions", job_id, len(keys))
    return job_id


def run_backfill(client: SearchClient, store: DiscoveryStore, job_id: int, progress: Progress | None = None, *,
                 on_new: Callable[[list[int]], None] | None = None,
                 policy: WalkPolicy | None = None) -> BackfillResult:
    """Sync every partition of the job not yet done; ``on_new`` gets each partition's new ids to enqueue.

    Raises :class:`CircuitOpenError` when crawling is paused: the job stays resumable.
    """
    states = store.jobs.partition_states(job_id)
    todo = [key for key, state in sorted(states.items()) if state["state"] != "done"]
    result = BackfillResult(job_id, len(states), len(states) - len(todo), found=0)
    started, done_before = time.monotonic(), result.partitions_done
    for key in todo:
        _report(progress, result, started, done_before, partition_label(key))
        out = _backfill_partition(client, store, job_id, key, policy)
        result.found += out.listed
        result.new_ids.extend(out.new_ids)
        result.requests += out.requests
        result.incomplete.extend(out.incomplete)
        result.partitions_done += not out.incomplete
        if on_new is not None and out.new_ids:
            on_new(out.new_ids)
    _report(progress, result, started, done_before, "")
    store.jobs.finish(job_id, "done" if result.complete else "incomplete")
    return result


def _backfill_partition(client: SearchClient, store: DiscoveryStore, job_id: int, key: PartitionKey,
                        policy: WalkPolicy | None) -> SyncOutcome:
    out = SyncOutcome()
    known = {day: cp.site_total for day, cp in store.checkpoints.between(key, None, None).items() if cp.complete}
    total = sync_range(client, store, key_query(key), known, out, policy=policy)
    state = "done" if total is not None and not out.incomplete else "incomplete"
    store.jobs.update_partition(job_id, key, state=state, site_total=total, seen=out.listed, new=len(out.new_ids))
    store.partitions.record(key, site_total=total, complete=state == "done", last_walked_at=utcnow(),
                            last_error="; ".join(f"{p.query}: {p.error}" for p in out.incomplete)[:2000] or None)
    log.info("backfill job %s partition %s: %s, site total %s, %d listed, %d new, %d requests", job_id,
             partition_label(key), state, total, out.listed, len(out.new_ids), out.requests)
    return out


def _report(progress: Progress | None, result: BackfillResult, started: float, done_before: int,
            current: str) -> None:
    if progress is not None:
        progress(BackfillProgress(result.partitions_done, result.partitions_total, result.found,
                                  len(result.new_ids), result.requests, time.monotonic() - started, current,
                                  done_before))
