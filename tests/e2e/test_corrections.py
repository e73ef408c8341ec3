"""Corrections end to end, on both deployments: the site corrects some reports in place and publishes new ids for
others; one more ``run --once`` with a ``reverify`` entry leaves one current version per report slot.

Costs about 40 s per deployment (two ``run --once``, each with its own worker process, over 12 generated pages).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path

import pytest

from tests.e2e.harness import CORRECTIONS_SCHEDULE, Daemon, redis_broker
from tests.fakes.sentry_ingest import SentryIngest
from tests.replica import Replica
from tests.storage.fixtures import fresh_database_url, pg_database_url  # noqa: F401  (fixture)

REPORTS = 12
DEPLOYMENTS = {"embedded": ("sqlite", None), "production": ("postgresql", "redis")}


@pytest.fixture
def replica() -> Iterator[Replica]:
    with Replica(generate=REPORTS, seed=13, partitions=["FB030010:2025"]) as site:
        yield site


@pytest.fixture
def sentry() -> Iterator[SentryIngest]:
    with SentryIngest(key="corrections") as ingest:
        yield ingest


@pytest.fixture(params=sorted(DEPLOYMENTS))
def daemon(request: pytest.FixtureRequest, tmp_path: Path, replica: Replica, sentry: SentryIngest
           ) -> Iterator[Daemon]:
    engine, broker = DEPLOYMENTS[request.param]
    database_url = fresh_database_url(engine, request, tmp_path / "data")
    # Its own Redis database (test_procfile.py has 12): xdist may run the two at the same time.
    with redis_broker(db=6) if broker else nullcontext() as broker_url:
        deployment = Daemon(tmp_path, replica.url, database_url, broker_url, schedule=CORRECTIONS_SCHEDULE,
                            env_extra={"FUNDCRAWL_SENTRY_DSN": sentry.dsn})
        try:
            yield deployment
        finally:
            deployment.stop_all()


def _export(daemon: Daemon, *extra: str) -> list[dict]:
    out = daemon.tmp / f"export{'-'.join(extra)}.jsonl"
    daemon.command("export", "--format", "jsonl", "--out", str(out), *extra)
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


def _slot(entry: dict) -> tuple[str, str, str]:
    return entry["fund_code"], entry["report_type_code"], entry["report_year"]


def test_corrections_leave_one_current_version_per_slot(daemon: Daemon, replica: Replica,
                                                        sentry: SentryIngest) -> None:
    daemon.command("db", "upgrade")
    daemon.command("run", "--once", timeout=300)
    originals = sorted(int(i) for i in replica.oracle())
    assert len(originals) == REPORTS and len(_export(daemon)) == REPORTS

    in_place, new_id = originals[:3], originals[3:6]
    for upload_info_id in in_place:
        replica.correct(upload_info_id, "in_place")
    corrections = {replica.correct(upload_info_id, "new_id", days_later=2): upload_info_id
                   for upload_info_id in new_id}
    position = replica.log_position()

    daemon.command("run", "--once", timeout=300)

    oracle = replica.oracle()
    catalogue = {entry["upload_info_id"]: entry for entry in replica.catalogue()}
    current = {upload_info_id for upload_info_id in oracle if upload_info_id not in new_id}
    lines = _export(daemon)
    assert len(lines) == REPORTS == len({_slot(catalogue[line["upload_info_id"]]) for line in lines})
    assert {line["upload_info_id"]: line["page_sha256"] for line in lines} == {
        upload_info_id: oracle[upload_info_id]["sha256"] for upload_info_id in current}
    assert all(line["is_current"] and line["superseded_by"] is None for line in lines)

    everything = _export(daemon, "--versions", "all")
    assert len(everything) == REPORTS + len(in_place) + len(new_id)
    superseded = {(line["upload_info_id"], line["superseded_by"]["upload_info_id"])
                  for line in everything if not line["is_current"]}
    assert superseded == {(i, i) for i in in_place} | {(old, new) for new, old in corrections.items()}

    # Every unchanged page (new-id originals included: their page did not change) cost one request, a 304.
    pages = [e for e in replica.log(position) if "/xbrl/REPORT/HTML/" in e["path"] and e["method"] == "GET"]
    assert sum(1 for e in pages if e["status"] == 304) == REPORTS - len(in_place)

    status = json.loads(daemon.command("status", "--json").stdout)
    assert status["corrections"] == {"same_id": len(in_place), "new_id": len(new_id)}
    def corrected(ingest: SentryIngest) -> list[dict] | None:
        # Other events (a warning of the daemon's own) carry no fingerprint of ours.
        found = [e for e in ingest.events() if (e.get("fingerprint") or [None])[0] == "report-corrected"]
        return found if len(found) >= len(in_place) + len(new_id) else None

    events = sentry.wait_for(corrected)
    assert len(events) == len(in_place) + len(new_id)
    assert {tuple(event["fingerprint"]) for event in events} == {("report-corrected", "same_id"),
                                                                   ("report-corrected", "new_id")}
    assert all(event["level"] == "info" for event in events)
