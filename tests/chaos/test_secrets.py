"""(h) Secrets: canary passwords in the database URL (a PostgreSQL role of the battery's cluster) and in the
broker URL (the battery's Redis with ``requirepass``), and a Sentry DSN key pointing at the local fake ingest.

The daemon runs at DEBUG with transient and permanent faults (so Sentry gets alerts), and is also started
with a wrong database password and a wrong broker password. No canary may appear, plain, URL-encoded or in
base64, in any log line, ``fundcrawl status`` output, Sentry envelope, database row or archived file.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from crawler.archive import PageArchive
from crawler.storage import Store
from tests.chaos.battery import ChaosRun, assert_clean, drain_deadline
from tests.chaos.services import PostgresCluster, RedisServer
from tests.fakes.sentry_ingest import SentryIngest
from tests.replica import Replica

pytestmark = pytest.mark.chaos

PG_CANARY = "Chaos+PgCanary/p@ss:7Q"
REDIS_CANARY = "ChaosRedisCanary9Z"
DSN_CANARY = "chaosdsncanary0123456789abcdef"
REPORTS = 30


def canary_forms(secret: str) -> list[str]:
    """Plain, URL-encoded and base64 forms (at each byte alignment) of a secret."""
    forms = [secret, quote(secret, safe=""), quote(secret, safe="@:/+")]
    for pad in range(3):
        encoded = base64.b64encode(b"\0" * pad + secret.encode()).decode().rstrip("=")
        forms.append(encoded[-(-8 * pad // 6): 8 * (pad + len(secret)) // 6])
    return forms


def leaks(where: str, data: str | bytes) -> list[str]:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    return [f"{where}: {form}" for secret in (PG_CANARY, REDIS_CANARY, DSN_CANARY)
            for form in canary_forms(secret) if form in text]


@pytest.fixture
def canary_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path, password=REDIS_CANARY)
    server.start()
    try:
        yield server
    finally:
        server.close()


def test_no_canary_anywhere(chaos_run: Callable[..., ChaosRun], replica_factory: Callable[..., Replica],
                            pg_cluster: PostgresCluster, canary_redis: RedisServer) -> None:
    database_url = pg_cluster.create_database("fc_secrets", "fc_canary", PG_CANARY)
    replica = replica_factory(0, seed=808)
    replica.publish(REPORTS, "FB030010", "2025", faults={"not_found": 2, "malformed": 1})
    replica.set_faults(0.15, paths=["redirect", "page"], max_failures=1, seed=808)
    with SentryIngest(key=DSN_CANARY) as ingest:
        run = chaos_run("h-secrets", replica, database_url, canary_redis.url(),
                        env_extra={"FUNDCRAWL_LOG_LEVEL": "DEBUG", "FUNDCRAWL_SENTRY_DSN": ingest.dsn,
                                   "FUNDCRAWL_SENTRY_ENVIRONMENT": "chaos"})
        run.start(workers=1, concurrency=2)
        oracle = replica.oracle()
        drain = run.wait_terminal(oracle, drain_deadline())
        ingest.wait_for(lambda reader: len(reader.events()) >= 3, timeout=30)
        outputs = _commands(run, database_url, canary_redis)
        bodies = ingest.bodies()
        events = len(ingest.events())

    found = leaks("logs", run.daemon.logs_text())
    found += [hit for name, output in outputs.items() for hit in leaks(name, output)]
    found += [hit for body in bodies for hit in leaks("sentry", body)]
    rows = run.query("SELECT row_to_json(r)::text FROM reports r UNION ALL "
                     "SELECT row_to_json(d)::text FROM report_documents d UNION ALL "
                     "SELECT row_to_json(x)::text FROM discovery_runs x")
    found += [hit for (row,) in rows for hit in leaks("database", row)]
    archive = PageArchive(Store.from_url(database_url))
    archived = [sha256 for (sha256,) in run.query("SELECT sha256 FROM pages")]
    found += [hit for sha256 in archived for hit in leaks(f"archived page {sha256[:12]}", archive.read(sha256))]
    figures = run.figures(oracle, drain, sentry_events=events, sentry_envelopes=len(bodies),
                          log_bytes=len(run.daemon.logs_text()), rows_scanned=len(rows),
                          files_scanned=len(archived), canary_hits=len(found))

    assert_clean(figures)
    assert found == [], found[:10]
    assert events >= 3 and archived and rows
    assert "failed" in outputs["status"] and outputs["wrong-db-password"] and outputs["wrong-broker-password"]


def _commands(run: ChaosRun, database_url: str, redis_server: RedisServer) -> dict[str, str]:
    """``fundcrawl status``, then commands that fail on a wrong database and a wrong broker password."""
    outputs = {}
    status = run.daemon.command("status", check=False)
    outputs["status"] = status.stdout + status.stderr
    wrong_db = database_url.replace(quote(PG_CANARY, safe=""), quote(PG_CANARY + "-wrong", safe=""))
    saved = run.daemon.database_url
    run.daemon.database_url = wrong_db
    result = run.daemon.command("status", check=False, timeout=120)
    outputs["wrong-db-password"] = result.stdout + result.stderr + str(result.returncode)
    run.daemon.database_url = saved
    saved_broker = run.daemon.broker_url
    run.daemon.broker_url = redis_server.url().replace(REDIS_CANARY, REDIS_CANARY + "-wrong")
    result = run.daemon.command("discover", check=False, timeout=120)
    outputs["wrong-broker-password"] = result.stdout + result.stderr + str(result.returncode)
    run.daemon.broker_url = saved_broker
    return outputs
