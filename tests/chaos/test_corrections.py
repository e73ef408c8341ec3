"""Corrections racing crashes, redeliveries and (on the fleet) a second beat, on both deployments.

Before the crawl starts the site has already published new-id corrections of a few reports, so each original and
its correction are listed in the same walk and race each other through the workers. Mid-crawl it corrects more
stored reports, some in place (new bytes behind the same id, seen only by the ``reverify`` entry) and some as new
ids, while every worker process is SIGKILLed twice (their tasks are redelivered). What a user must see: every
report stored once with the page the site serves now, exactly one current version per slot, the newest
correction current and its original superseded by it, each in-place correction kept as two versions of one id.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

import pytest

from tests.chaos.battery import ChaosRun, assert_clean, drain_deadline
from tests.chaos.conftest import Deployment
from tests.e2e.harness import schedule_yaml
from tests.replica import Replica

pytestmark = pytest.mark.chaos

REPORTS = 60
CONCURRENCY = 2
#: Re-check every stored report at every run (``min_interval`` 1 s; the divisor makes age irrelevant).
SCHEDULE = schedule_yaml(every="3s", extra="""\
  recheck:
    every: 4s
    reverify:
      report_types: [q1]
      years: [2025]
      max_requests: 500
      min_interval: 1s
      age_divisor: 1000000000
""")
EARLY_NEW_ID, LATE_NEW_ID, IN_PLACE = 4, 5, 5


def _stored(run: ChaosRun) -> list[int]:
    return sorted(int(i) for (i,) in run.query("SELECT upload_info_id FROM reports WHERE state = 'stored'"))


def _converged(run: ChaosRun, replica: Replica) -> bool:
    """Every report stored with the page the site serves now."""
    rows = run.rows()
    return all(upload_info_id in rows and rows[upload_info_id]["state"] == "stored"
               and rows[upload_info_id]["page_sha256"] == entry["sha256"]
               for upload_info_id, entry in replica.oracle().items())


def test_corrections_racing_crashes_leave_one_current_version_per_slot(
        deployment: Deployment, chaos_run: Callable[..., ChaosRun],
        replica_factory: Callable[..., Replica]) -> None:
    replica = replica_factory(REPORTS, seed=1713)
    originals = sorted(replica.oracle())
    early = {replica.correct(old, "new_id", days_later=1): old for old in originals[:EARLY_NEW_ID]}

    run = chaos_run("corrections", replica, deployment=deployment, schedule=SCHEDULE)
    run.start(workers=1, concurrency=CONCURRENCY, beats=2)
    run.wait("half the reports stored", lambda: len(_stored(run)) >= REPORTS // 2, timeout=120, poll=0.5)

    stored = [i for i in _stored(run) if i in originals[EARLY_NEW_ID:]]
    in_place = stored[:IN_PLACE]
    for upload_info_id in in_place:
        replica.correct(upload_info_id, "in_place")
    late = {replica.correct(old, "new_id", days_later=2): old for old in stored[IN_PLACE:IN_PLACE + LATE_NEW_ID]}
    assert len(in_place) == IN_PLACE and len(late) == LATE_NEW_ID
    for _ in range(2):
        assert run.kill_children(at_least=CONCURRENCY), "no worker process to kill"
        time.sleep(4)

    drain = run.wait("every report stored with its current page", lambda: _converged(run, replica),
                     drain_deadline(60), poll=2.0)
    superseded = {**early, **late}
    currents = Counter(slot for (slot,) in run.query("SELECT slot FROM reports WHERE is_current"))
    version_currents = Counter(slot for (slot,) in run.query("SELECT slot FROM report_versions WHERE is_current"))
    slots = {slot for (slot,) in run.query("SELECT DISTINCT slot FROM reports WHERE state = 'stored'")}
    not_current = {int(old): int(new) for old, new in run.query(
        "SELECT upload_info_id, superseded_by FROM reports WHERE state = 'stored' AND NOT is_current")}
    versions = Counter(int(i) for (i,) in run.query("SELECT upload_info_id FROM report_versions"))
    figures = run.figures(replica.oracle(), drain, corrections={"early_new_id": len(early),
                                                                 "late_new_id": len(late), "in_place": len(in_place)},
                          slots=len(slots), slots_without_one_current=sum(
                              1 for slot in slots if currents[slot] != 1 or version_currents[slot] != 1))

    assert_clean(figures)
    assert figures["stored"] == REPORTS + len(superseded)
    assert figures["slots_without_one_current"] == 0
    assert len(slots) == REPORTS
    assert not_current == {old: new for new, old in superseded.items()}, "each original superseded by its correction"
    assert all(versions[upload_info_id] == 2 for upload_info_id in in_place), versions
