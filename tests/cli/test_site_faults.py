"""``fundcrawl check`` and ``run --once`` on the embedded default against a site that trickles its headers.

A server that sends one header line every fraction of a second never trips a read timeout; only the request
deadline ends the wait. Both commands must end on their own with the site's fault named, not hang, and the
daemon must end the report with a site reason (not ``poison`` after a task time limit). ``check`` must also
mask the password of a source URL that carries credentials, as logs and ``status`` do.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, text

from tests.e2e.harness import Daemon, schedule_yaml
from tests.replica import Replica

#: The request deadline under test, well below the read timeout so that only the deadline can end a trickle.
SITE_FAULT_ENV = {"FUNDCRAWL_REQUEST_DEADLINE": "2", "FUNDCRAWL_READ_TIMEOUT": "20", "FUNDCRAWL_MAX_ATTEMPTS": "2",
                  "FUNDCRAWL_RETRY_BACKOFF_MAX": "2"}
PASSWORD = "Tr1ckl3-SECRET"


def _daemon(tmp: Path, source_url: str) -> Daemon:
    return Daemon(tmp, source_url, f"sqlite:///{tmp / 'fundcrawl.sqlite'}", env_extra=SITE_FAULT_ENV,
                  schedule=schedule_yaml("tick", "1h", "[q1]", "[2025]"))


def test_check_ends_at_the_deadline_and_masks_the_source_password(tmp_path: Path) -> None:
    with Replica(generate=3, seed=17, partitions=["FB030010:2025"]) as replica:
        replica.set_config(trickle_interval=0.3)
        replica.set_faults(1.0, ["trickle_headers"], paths=["search"], max_failures=5, seed=17)
        source = replica.url.replace("http://", f"http://reader:{PASSWORD}@")
        daemon = _daemon(tmp_path, source)
        daemon.command("db", "upgrade")
        result = daemon.command("check", check=False, timeout=120)
        trickled = [entry for entry in replica.log() if entry.get("fault") == "trickle_headers"]
    assert result.returncode == 1, result.stdout + result.stderr
    site = next(line for line in result.stdout.splitlines() if " site " in line)
    assert site.startswith("FAIL") and "request deadline of 2 s passed" in site, result.stdout
    configuration = next(line for line in result.stdout.splitlines() if " configuration " in line)
    assert "http://reader:***@127.0.0.1" in configuration, result.stdout
    assert PASSWORD not in result.stdout + result.stderr
    assert len(trickled) == 1


def test_run_once_ends_a_trickling_page_failed_with_a_site_reason(tmp_path: Path) -> None:
    with Replica(generate=6, seed=18, partitions=["FB030010:2025"]) as replica:
        replica.set_config(trickle_interval=0.3)
        ids = [entry["upload_info_id"] for entry in replica.catalogue()]
        always, once = ids[0], ids[1]
        replica.set_report_fault(always, "always_trickle")
        replica.set_report_fault(once, "trickle_headers", attempts=1)
        oracle = replica.oracle()
        daemon = _daemon(tmp_path, replica.url)
        daemon.command("db", "upgrade")
        result = daemon.command("run", "--once", check=False, timeout=300)
    assert result.returncode == 1, result.stdout + result.stderr[-3000:]
    engine = create_engine(daemon.database_url)
    with engine.connect() as connection:
        rows = {row.upload_info_id: row for row in connection.execute(text(
            "SELECT upload_info_id, state, failure_reason, last_error, page_sha256 FROM reports"))}
    engine.dispose()
    assert set(rows) == set(ids)
    failed = rows[always]
    assert (failed.state, failed.failure_reason) == ("failed", "retries_exhausted")
    assert "request deadline of 2 s passed" in failed.last_error
    for upload_id in set(ids) - {always}:
        assert rows[upload_id].state == "stored", rows[upload_id]
        assert rows[upload_id].page_sha256 == oracle[upload_id]["sha256"]
