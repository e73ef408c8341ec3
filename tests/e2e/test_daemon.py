"""The daemon end to end: a real beat and real workers against the replica, on both engines and both brokers.

Checks what a user relies on: every listed report is stored exactly once with its parsed metadata, its raw
page archived once, a later discovery tick downloads nothing again, and newly published reports are fetched once.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path

import pytest
from sqlalchemy import text

from crawler.archive import PageArchive, sha256_of
from crawler.storage import make_engine
from tests.e2e.harness import Daemon, page_fetches, redis_broker
from tests.replica import Replica
from tests.storage.fixtures import fresh_database_url, pg_database_url  # noqa: F401  (fixture)

REPORTS = 36


@pytest.fixture
def replica() -> Iterator[Replica]:
    with Replica(generate=REPORTS, seed=7, partitions=["FB030010:2025"]) as site:
        yield site


DEPLOYMENTS = {
    # name: (engine, broker, worker processes)
    "embedded": ("sqlite", None, 1),
    "production": ("postgresql", "redis", 2),
}


@pytest.fixture(params=sorted(DEPLOYMENTS))
def daemon(request: pytest.FixtureRequest, tmp_path: Path, replica: Replica) -> Iterator[Daemon]:
    engine, broker, workers = DEPLOYMENTS[request.param]
    database_url = fresh_database_url(engine, request, tmp_path / "data")
    with redis_broker(db=11) if broker else nullcontext() as broker_url:
        deployment = Daemon(tmp_path, replica.url, database_url, broker_url, workers=workers)
        try:
            yield deployment
        finally:
            deployment.stop_all()


def _stored_rows(daemon: Daemon) -> list[tuple[int, str, str]]:
    with make_engine(daemon.database_url).connect() as connection:
        return [tuple(row) for row in connection.execute(text(
            "SELECT upload_info_id, fund_code, page_sha256 FROM reports WHERE state = 'stored'"))]


def test_worker_and_beat_store_every_report_once_and_only_new_ones_later(daemon: Daemon, replica: Replica) -> None:
    daemon.command("db", "upgrade")
    for number in range(daemon.workers):
        daemon.start(f"worker{number}", "worker", "-c", "2", "--loglevel", "INFO")
    daemon.start("beat", "beat", "--loglevel", "INFO")
    store = daemon.store()
    daemon.wait_for(f"{REPORTS} stored reports", lambda: store.counts()["stored"] == REPORTS)

    rows = _stored_rows(daemon)
    archive = PageArchive(store)
    oracle = replica.oracle([upload_info_id for upload_info_id, _, _ in rows])
    assert len(rows) == REPORTS == len({upload_info_id for upload_info_id, _, _ in rows})
    catalogue = {entry["upload_info_id"]: entry for entry in replica.catalogue()}
    for upload_info_id, fund_code, sha256 in rows:
        assert catalogue[upload_info_id]["fund_code"] == fund_code
        document = store.document(upload_info_id)
        expected = replica.expected(upload_info_id)
        for key in ("fund_code", "report_kind", "period_end", "send_date", "manager", "custodian"):
            assert document[key] == expected[key], (upload_info_id, key)
        assert sha256_of(archive.read(sha256)) == sha256 == oracle[upload_info_id]["sha256"]
    assert store.archive_totals()["pages"] == REPORTS  # in the database, one per report
    assert not (daemon.data_dir / "archive").exists()  # and nothing in the data dir
    fetches = page_fetches(replica.log())
    assert len(fetches) == REPORTS and set(fetches.values()) == {1}

    if daemon.broker_url:
        _assert_worker_reliability_settings(daemon)

    # Later ticks (beat fires every 3 s) run discovery again but download nothing twice...
    replica.reset_log()
    runs_before = _discovery_runs(daemon)
    daemon.wait_for("two more discovery ticks", lambda: _discovery_runs(daemon) >= runs_before + 2)
    assert page_fetches(replica.log()) == {}
    assert store.counts() == {"total": REPORTS, "stored": REPORTS, "failed": 0, "pending": 0}

    # ... and pick up what the site publishes next, fetching only that.
    new_ids = replica.publish(5, "FB030010", "2025")
    daemon.wait_for("the 5 new reports", lambda: store.counts()["stored"] == REPORTS + 5)
    fetches = page_fetches(replica.log())
    assert len(fetches) == 5 and set(fetches.values()) == {1}
    assert all(store.state(upload_info_id)["state"] == "stored" for upload_info_id in new_ids)


def _assert_worker_reliability_settings(daemon: Daemon) -> None:
    """What the running workers really use (a visibility timeout can silently not apply)."""
    result = subprocess.run([sys.executable, "-m", "celery", "-A", "crawler.celery_app", "inspect", "conf", "--json",
                             "--timeout", "10"], env=daemon.env, capture_output=True, text=True, timeout=120,
                            check=True)
    answers = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(answers) == daemon.workers
    for conf in answers.values():
        assert conf["broker_transport_options"]["visibility_timeout"] == 3600
        assert conf["broker_transport_options"]["socket_timeout"] == 30
        assert conf["task_acks_late"] is True and conf["task_reject_on_worker_lost"] is True
        assert conf["worker_prefetch_multiplier"] == 1 and conf["task_ignore_result"] is True
        assert conf["accept_content"] == ["json"]


def _discovery_runs(daemon: Daemon) -> int:
    with make_engine(daemon.database_url).connect() as connection:
        return int(connection.execute(text("SELECT count(*) FROM discovery_runs WHERE status = 'ok'")).scalar_one())
