"""Cron monitors: a real beat and a real prefork worker check in with the fake Sentry ingest."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from tests.constants import REPO
from tests.fakes.sentry_ingest import SentryIngest
from tests.telemetry.conftest import PG_CANARY, REDIS_CANARY, leaked


def _celery(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "-m", "celery", "-A", "tests.telemetry.cron_app", *args],
                                cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def _forget(prefix: str) -> None:
    import redis

    client = redis.Redis(host="127.0.0.1", port=6379, db=15)
    keys = list(client.scan_iter(match=f"{prefix}*"))
    if keys:
        client.delete(*keys)


def _checkins(ingest: SentryIngest, slug: str) -> list[dict[str, Any]]:
    return [check for check in ingest.check_ins() if check["monitor_slug"] == slug]


def _has(status: str, slug: str) -> Any:
    return lambda reader: [c for c in reader.check_ins() if c["monitor_slug"] == slug and c["status"] == status]


def test_beat_entries_check_in_and_failures_alert_without_secrets(ingest: SentryIngest, tmp_path: Path):
    from urllib.parse import quote

    prefix = f"fundcrawl-test-crons-{uuid.uuid4().hex[:8]}:"
    env = {**os.environ, "CRON_TEST_PREFIX": prefix, "FUNDCRAWL_SENTRY_DSN": ingest.dsn,
           "FUNDCRAWL_DATA_DIR": str(tmp_path), "FUNDCRAWL_LOG_LEVEL": "DEBUG",
           "FUNDCRAWL_DATABASE_URL": f"postgresql://app:{quote(PG_CANARY, safe='')}@127.0.0.1/x",
           "FUNDCRAWL_REDIS_URL": f"redis://:{REDIS_CANARY}@127.0.0.1:6379/9"}
    logs = [tmp_path / "worker.log", tmp_path / "beat.log"]
    procs = [_celery(["worker", "-P", "prefork", "-c", "1", "-l", "DEBUG"], env, logs[0]),
             _celery(["beat", "-l", "DEBUG", "-S", "tests.telemetry.cron_app:StartNowScheduler"], env, logs[1])]
    try:
        ingest.wait_for(_has("ok", "ok-job"), timeout=60)
        ingest.wait_for(_has("error", "failing-job"), timeout=60)
        ingest.wait_for(_has("ok", "quick-job"), timeout=60)
        ingest.wait_for(lambda reader: reader.events(), timeout=30)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)
        _forget(prefix)

    runs: dict[str, list[str]] = {}
    for check in _checkins(ingest, "ok-job"):
        runs.setdefault(check["check_in_id"], []).append(check["status"])
    assert ["in_progress", "ok"] in runs.values()
    started = _checkins(ingest, "ok-job")[0]
    assert started["monitor_config"]["schedule"] == {"type": "interval", "value": 1, "unit": "minute"}
    failing = _checkins(ingest, "failing-job")
    assert failing[0]["monitor_config"]["schedule"] == {"type": "crontab", "value": "*/5 * * * *"}
    assert {check["status"] for check in failing} >= {"in_progress", "error"}
    quick = _checkins(ingest, "quick-job")
    assert quick[0]["monitor_config"]["schedule"] == {"type": "interval", "value": 1, "unit": "minute"}
    assert all(check["status"] == "ok" for check in quick)

    crash = next(event for event in ingest.events() if "exception" in event)
    assert crash["exception"]["values"][0]["value"] == "cannot talk to postgresql://app:***@127.0.0.1/x"
    assert crash["extra"]["celery-job"]["task_name"] == "cron_app.failing_job"
    assert not {"args", "kwargs"} & set(crash["extra"]["celery-job"])  # a task's arguments never travel
    assert crash["tags"]["process"] == "worker"
    assert leaked(b"".join(ingest.bodies())) == []
    for log in logs:
        assert leaked(log.read_bytes()) == [], log.name
    assert b"cron_app.failing_job" in logs[0].read_bytes()
