"""Ctrl-C and a missing worker, as a user meets them on both deployments (embedded; PostgreSQL + Redis).

``reparse --all --wait`` with no worker consuming the ``reparse`` queue says so after STALL_SECONDS instead of
waiting in silence; Ctrl-C then ends it with exit 130 (not click's "Aborted!" and exit 1, which means "reports
failed") and says the run stays queued, as ``status`` does; once a worker runs, the same command resumes the run
and every report is re-parsed once, although its messages were published twice. A run the fleet is working
through is only watched when the command runs again: its pending reports are not queued a second time.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from sqlalchemy import text

from crawler.cli.data import STALL_SECONDS
from crawler.parsing import PARSER_VERSION
from tests.e2e.harness import Daemon, redis_broker, schedule_yaml
from tests.replica import Replica
from tests.storage.fixtures import temporary_database

REPORTS = 6
#: One Redis database per test, which it flushes before and after, as every test on the shared Redis has its own.
REDIS_DB = {"test_reparse_wait_without_a_worker_says_so_and_ctrl_c_leaves_the_run_queued": 5,
            "test_a_run_the_fleet_is_working_through_is_watched_not_queued_again": 4}


def _exit_code(process: subprocess.Popen[bytes], daemon: Daemon, timeout: float = 180) -> int:
    """The command's exit code; on a timeout, a failure that shows what every process of the deployment logged."""
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running after {timeout:.0f} s:\n{daemon.logs()}")


@pytest.fixture(params=["embedded", "postgresql_redis"])
def stored(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Daemon]:
    """A deployment that stored the replica's reports with ``run --once``."""
    with ExitStack() as stack:
        replica = stack.enter_context(Replica(generate=REPORTS, seed=21, partitions=["FB030010:2025"]))
        database_url, broker_url = "", None
        if request.param == "postgresql_redis":
            database_url = stack.enter_context(temporary_database("fundcrawl_test_interrupts"))
            broker_url = stack.enter_context(redis_broker(db=REDIS_DB[request.function.__name__]))
        daemon = Daemon(tmp_path, replica.url, database_url, broker_url, schedule=schedule_yaml(every="1h"))
        stack.callback(daemon.stop_all)
        daemon.command("db", "upgrade")
        daemon.command("run", "--once", timeout=300)
        assert daemon.store().counts()["stored"] == REPORTS
        yield daemon


def test_reparse_wait_without_a_worker_says_so_and_ctrl_c_leaves_the_run_queued(stored: Daemon) -> None:
    daemon, store = stored, stored.store()
    with store.engine.begin() as connection:  # what a parser fixed without a version bump had stored for one
        wrong = connection.execute(text(
            "UPDATE report_documents SET document = :doc WHERE upload_info_id = "
            "(SELECT min(upload_info_id) FROM report_documents)"),
            {"doc": json.dumps({"schema": "fundcrawl.report/1", "fund_code": "wrong"})}).rowcount
    assert wrong == 1
    waiting = daemon.start("wait", "reparse", "--all", "--wait", interruptible=True)
    daemon.wait_for("the stall warning", lambda: "waits on the broker's `reparse` queue" in daemon.logs_text(),
                    timeout=STALL_SECONDS + 60)
    assert "`fundcrawl reparse --all --here` does it in this process" in daemon.logs_text()
    waiting.send_signal(signal.SIGINT)
    assert waiting.wait(30) == 130, daemon.logs()
    daemon.processes.remove(waiting)  # ended as it should: no longer one of the deployment's live processes
    said = daemon.logs_text()
    assert "fundcrawl: interrupted; re-parse run 1 stays queued for the fleet's workers; " \
           "`fundcrawl reparse --all --wait` shows its progress again" in said
    assert "Aborted!" not in said and "Traceback" not in said
    assert store.reparse_progress(1)["pending"] == REPORTS  # nothing was done, nothing was lost
    status = daemon.command("status").stdout
    assert f"run 1  parser {PARSER_VERSION} --all  started " in status
    assert (f"0/{REPORTS} done (0 updated, 0 unchanged, 0 failed); `fundcrawl reparse --all --wait` shows its "
            "progress, `--here` finishes it") in status

    # The same command again, then a worker: no report of the run was ever re-parsed, so it is queued again.
    resuming = daemon.start("resume", "reparse", "--all", "--wait")
    said = daemon.log_dir / "resume.log"
    daemon.wait_for("the run queued again", lambda: "on the reparse queue" in said.read_text(), timeout=60)
    daemon.start("worker", "worker", "-c", "1", "--loglevel", "WARNING")
    assert _exit_code(resuming, daemon) == 0, daemon.logs()
    assert f"resuming re-parse run 1 with parser {PARSER_VERSION}: {REPORTS} of {REPORTS}" in said.read_text()
    assert (f"re-parsed {REPORTS} report(s) with parser {PARSER_VERSION}: 1 updated, {REPORTS - 1} unchanged, "
            "0 could not be re-parsed") in said.read_text()
    assert store.reparse_progress(1) == {"pending": 0, "updated": 1, "unchanged": REPORTS - 1, "failed": 0,
                                         "total": REPORTS}
    [run] = json.loads(daemon.command("status", "--json").stdout)["reparse_runs"]
    assert run["id"] == 1 and run["all_reports"] and run["finished_at"] is not None
    assert {key: run[key] for key in ("pending", "updated", "unchanged", "failed", "total")} == {
        "pending": 0, "updated": 1, "unchanged": REPORTS - 1, "failed": 0, "total": REPORTS}
    assert all(store.document(upload_info_id)["fund_code"] != "wrong"
               for upload_info_id, _sha256 in store.stored_for_reparse(PARSER_VERSION, True))


def test_a_run_the_fleet_is_working_through_is_watched_not_queued_again(stored: Daemon) -> None:
    daemon, store = stored, stored.store()
    first = daemon.command("reparse", "--all")
    assert f"queued {REPORTS} report(s) on the reparse queue" in first.stderr
    assert "`fundcrawl reparse --all --wait` shows the progress of re-parse run 1" in first.stdout
    # A worker of the fleet has just finished a first batch of the run (its outcome is recorded as a task does).
    done = store.reparse_pending(1)[0]
    store.finish_reparse_items(1, [(done, "unchanged", None)])
    assert store.reparse_progress(1)["unchanged"] == 1
    watching = daemon.command("reparse", "--all")
    assert "re-parse run 1 is in the fleet's hands (a report was re-parsed " in watching.stderr
    assert "nothing queued again" in watching.stderr and "queued" not in watching.stderr.replace("queued again", "")

    waiting = daemon.start("wait", "reparse", "--all", "--wait")
    said = daemon.log_dir / "wait.log"
    daemon.wait_for("--wait watching run 1", lambda: "nothing queued again" in said.read_text(), timeout=60)
    daemon.start("worker", "worker", "-c", "1", "--loglevel", "INFO")
    assert _exit_code(waiting, daemon) == 0, daemon.logs()
    assert (f"re-parsed {REPORTS} report(s) with parser {PARSER_VERSION}: 0 updated, {REPORTS} unchanged, "
            "0 could not be re-parsed") in said.read_text()
    # The fleet took the run's one message, queued by the first command; the others queued nothing.
    assert len(re.findall(r"Task fundcrawl\.reparse\[[^\]]+\] succeeded", daemon.logs_text())) == 1
