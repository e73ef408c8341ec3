"""Bad configuration, an unusable environment and an outdated shared schema stop every command at once with exit 2
and a message that says which variable, file or key is wrong and what to run; never a traceback. Services that
cannot be reached are exit 3. The embedded daemon's own SQLite database is created by whichever process starts."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.constants import REPO
from tests.e2e.harness import Daemon
from tests.storage.fixtures import empty_postgres, pg_database_url  # noqa: F401  (fixture)


def fundcrawl(daemon: Daemon, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "crawler", *args], env={**daemon.env, **env}, cwd=REPO,
                          capture_output=True, text=True, timeout=120, check=False)


def make(tmp_path: Path) -> Daemon:
    return Daemon(tmp_path, "http://127.0.0.1:9", f"sqlite:///{tmp_path / 'db.sqlite'}")


def test_a_bad_variable_is_named(tmp_path: Path) -> None:
    result = fundcrawl(make(tmp_path), "status", FUNDCRAWL_RATE_LIMIT="lots")
    assert result.returncode == 2
    assert "FUNDCRAWL_RATE_LIMIT" in result.stderr and "'lots'" in result.stderr


def test_every_command_refuses_an_empty_shared_database(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    database_url = request.getfixturevalue("pg_database_url")
    empty_postgres(database_url)
    daemon = Daemon(tmp_path, "http://127.0.0.1:9", database_url, "redis://127.0.0.1:6379/14")
    for command in (["worker"], ["beat"], ["status"], ["discover"]):
        result = fundcrawl(daemon, *command)
        assert result.returncode == 2, command
        assert "run `fundcrawl db upgrade`" in result.stderr, command


def test_reading_commands_refuse_an_empty_embedded_database(tmp_path: Path) -> None:
    daemon = make(tmp_path)
    for command in (["status"], ["discover"]):
        result = fundcrawl(daemon, *command)
        assert result.returncode == 2, command
        assert "run `fundcrawl db upgrade`" in result.stderr, command


def test_embedded_worker_and_beat_started_together_create_the_schema_once(tmp_path: Path) -> None:
    # As the Procfile starts them on a fresh machine, with the shipped schedule: the embedded database is theirs.
    daemon = Daemon(tmp_path, "http://127.0.0.1:9", f"sqlite:///{tmp_path / 'db.sqlite'}",
                    env_extra={"FUNDCRAWL_SCHEDULES": str(REPO / "schedules" / "default.yaml")})
    try:
        beat, worker = daemon.start("beat", "beat"), daemon.start("worker", "worker", "-c", "1")
        # The reconciler runs every 30 s: once the worker has run it, beat and worker both work on the new schema.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not re.search(r"fundcrawl\.reconcile\[\S+\] succeeded", daemon.logs()):
            assert beat.poll() is None and worker.poll() is None, daemon.logs()
            time.sleep(0.5)
        logs = daemon.logs()
        assert re.search(r"fundcrawl\.reconcile\[\S+\] succeeded", logs), logs
        assert beat.poll() is None and worker.poll() is None, logs
        assert logs.count("database schema created at revision") == 1, logs
        assert "run `fundcrawl db upgrade`" not in fundcrawl(daemon, "status").stderr
    finally:
        daemon.stop_all()


def test_db_upgrade_is_idempotent(tmp_path: Path) -> None:
    daemon = make(tmp_path)
    first, second = fundcrawl(daemon, "db", "upgrade"), fundcrawl(daemon, "db", "upgrade")
    assert first.returncode == second.returncode == 0 and first.stdout == second.stdout
    current = fundcrawl(daemon, "db", "current")
    assert "run `fundcrawl db upgrade`" not in current.stdout


def test_a_bad_schedule_names_file_and_entry(tmp_path: Path) -> None:
    daemon = make(tmp_path)
    fundcrawl(daemon, "db", "upgrade")
    daemon.schedule_file.write_text("schedules:\n  hourly:\n    cron: '61 * * * *'\n    discover: {report_types: [q1]}\n",
                                    encoding="utf-8")
    result = fundcrawl(daemon, "run", "--once")
    assert result.returncode == 2
    assert str(daemon.schedule_file) in result.stderr and "schedules.hourly.cron" in result.stderr
    daemon.schedule_file.write_text(daemon.schedule, encoding="utf-8")
    unknown = fundcrawl(daemon, "discover", "--schedule", "nope")
    assert unknown.returncode == 2 and "no schedule entry named 'nope'" in unknown.stderr


def test_help_explains_every_command(tmp_path: Path) -> None:
    result = fundcrawl(make(tmp_path), "--help")
    for command in ("run", "worker", "beat", "discover", "status", "parse", "export", "backfill", "replay",
                    "reparse", "check", "db"):
        assert f"  {command} " in result.stdout, command


def assert_one_clear_line(result: subprocess.CompletedProcess[str], code: int, *needles: str) -> None:
    assert result.returncode == code, (result.returncode, result.stderr[-3000:])
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("fundcrawl: "), result.stderr[-3000:]
    for needle in needles:
        assert needle in last, (needle, last)


def test_infrastructure_errors_at_start_name_the_variable_without_a_traceback(tmp_path: Path) -> None:
    daemon = make(tmp_path)
    assert_one_clear_line(fundcrawl(daemon, "status", FUNDCRAWL_PIPELINES="{bad"), 2,
                          "FUNDCRAWL_PIPELINES", "not valid JSON")
    mysql = fundcrawl(daemon, "run", "--once", FUNDCRAWL_DATABASE_URL="mysql://fund:s3cret@db/fund")
    assert_one_clear_line(mysql, 2, "FUNDCRAWL_DATABASE_URL", "unsupported database mysql://")
    assert "s3cret" not in mysql.stderr
    wrong_port = fundcrawl(daemon, "status", FUNDCRAWL_DATABASE_URL="postgresql+psycopg2://postgres@127.0.0.1:1/x")
    assert_one_clear_line(wrong_port, 2, "FUNDCRAWL_DATABASE_URL", "port 1 failed")
    assert len(wrong_port.stderr.strip().splitlines()) == 1, wrong_port.stderr
    not_a_folder = tmp_path / "a-file"
    not_a_folder.write_text("")
    for command in (["run", "--once"], ["worker"], ["status"]):
        result = fundcrawl(daemon, *command, FUNDCRAWL_DATA_DIR=str(not_a_folder), FUNDCRAWL_DATABASE_URL="")
        assert_one_clear_line(result, 2, "FUNDCRAWL_DATA_DIR", str(not_a_folder))
    debug = fundcrawl(daemon, "--debug", "status", FUNDCRAWL_DATA_DIR=str(not_a_folder), FUNDCRAWL_DATABASE_URL="")
    assert "Traceback" in debug.stderr


def test_an_unknown_schedule_key_is_named_and_check_blames_only_the_schedule(tmp_path: Path) -> None:
    daemon = make(tmp_path)
    daemon.schedule_file.write_text("schedules:\n  hourly:\n    every: 1h\n    discover:\n      report_type: [q1]\n",
                                    encoding="utf-8")
    result = fundcrawl(daemon, "run", "--once")
    assert_one_clear_line(result, 2, str(daemon.schedule_file), "schedules.hourly.discover.report_type",
                          "unknown key 'report_type'", "did you mean 'report_types'")
    assert not daemon.data_dir.exists(), "a schedule mistake is named before anything is created"
    check = fundcrawl(daemon, "check")
    assert check.returncode == 1
    lines = {line.split()[1]: line for line in check.stdout.splitlines() if line.startswith(("PASS", "FAIL"))}
    assert lines["configuration"].startswith("FAIL") and "unknown key 'report_type'" in lines["configuration"]
    assert lines["broker"].startswith("PASS")


def test_options_that_do_not_apply_and_unknown_names_are_refused(tmp_path: Path) -> None:
    daemon = make(tmp_path)
    result = fundcrawl(daemon, "run", "--schedule", "tick")
    assert result.returncode == 2 and "--schedule applies only with --once" in result.stderr
    assert not daemon.data_dir.exists()
    fundcrawl(daemon, "db", "upgrade")
    quarterly = fundcrawl(daemon, "export", "--report-type", "quarterly", "--out", str(tmp_path / "x.jsonl"))
    assert quarterly.returncode == 2 and "unknown report type 'quarterly'" in quarterly.stderr
    assert not (tmp_path / "x.jsonl").exists()
    folder = fundcrawl(daemon, "export", "--out", str(tmp_path))
    assert folder.returncode == 2 and f"{tmp_path} is a folder" in folder.stderr and "Traceback" not in folder.stderr


def test_discover_says_when_no_worker_takes_the_request(tmp_path: Path) -> None:
    daemon = make(tmp_path)
    fundcrawl(daemon, "db", "upgrade")
    result = fundcrawl(daemon, "discover", "--timeout", "2")
    assert "queued discovery for tick" in result.stdout
    assert_one_clear_line(result, 3, "no worker started discovery of tick within 2s", "fundcrawl worker")


def test_run_once_exits_3_when_the_site_or_the_broker_cannot_be_reached(tmp_path: Path) -> None:
    daemon = make(tmp_path)  # the site is 127.0.0.1:9, where nothing listens
    site_down = fundcrawl(daemon, "run", "--once")
    assert site_down.returncode == 3, site_down.stderr[-3000:]
    assert "1 partition(s) could not be checked" in site_down.stdout and "run again later" in site_down.stdout
    broker_down = fundcrawl(daemon, "run", "--once", FUNDCRAWL_BROKER_URL="redis://127.0.0.1:1/0")
    assert_one_clear_line(broker_down, 3, "the broker cannot be reached", "FUNDCRAWL_BROKER_URL")
