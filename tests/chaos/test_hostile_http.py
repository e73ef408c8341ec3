"""(d) A hostile site: the replica's transient fault mix (5xx, 429 with Retry-After, stalls past the read
timeout, truncated bodies, wrong content type, 200 with an error page, TCP resets, headers trickled one line
at a time so that only the request deadline ends them) on a third of the URLs,
plus reports that fail for good (404, a page that is not a report, a 503 that never ends).

Every transiently failing report ends stored with exactly the bytes the site meant (the oracle's sha256),
every permanent one ends failed with a reason from the closed set, and nothing is stored from an error
page or a truncated body (no stored row and no archived file with another hash). Run on both deployments.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest

from crawler.exceptions import FAILURE_REASONS
from tests.chaos.battery import LONG, ChaosRun, assert_clean, drain_deadline
from tests.chaos.conftest import Deployment
from tests.replica import Replica
from tests.replica.faults import TRANSIENT

pytestmark = pytest.mark.chaos

REPORTS = 600 if LONG else 70
PERMANENT = {"not_found": 3, "malformed": 3, "always_503": 2}
MAX_ATTEMPTS = 4


def test_transient_faults_end_stored_and_permanent_ones_failed(
        chaos_run: Callable[..., ChaosRun], replica_factory: Callable[..., Replica], deployment: Deployment) -> None:
    replica = replica_factory(0, seed=404)
    replica.set_config(stall_seconds=8, retry_after=1)
    replica.publish(REPORTS, "FB030010", "2025", faults=PERMANENT)
    replica.set_faults(0.35, paths=["redirect", "page"], max_failures=2, seed=404)
    run = chaos_run("d-hostile-http", replica, deployment=deployment,
                    env_extra={"FUNDCRAWL_MAX_ATTEMPTS": str(MAX_ATTEMPTS), "FUNDCRAWL_RATE_LIMIT": "40"})
    run.start(workers=1, concurrency=2)

    oracle = replica.oracle()
    drain = run.wait_terminal(oracle, drain_deadline())
    served = Counter(entry["fault"] for entry in replica.log() if entry.get("fault"))
    figures = run.figures(oracle, drain, faults_served=dict(served))

    assert_clean(figures)
    assert set(served) >= set(TRANSIENT), f"some transient faults never fired: {served}"
    assert set(figures["failed"]) <= FAILURE_REASONS
    permanent = [i for i, entry in oracle.items() if entry["fault"] in PERMANENT]
    rows = run.rows()
    assert all(rows[i]["last_error"] for i in permanent), "a failed report must say why"
    assert figures["stored"] == REPORTS - sum(PERMANENT.values())
