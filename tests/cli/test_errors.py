"""Bad configuration and an outdated schema stop every command at once with exit 2 and a message that says
which variable, file or key is wrong and what to run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.e2e.harness import REPO_ROOT, Daemon


def fundcrawl(daemon: Daemon, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "crawler", *args], env={**daemon.env, **env}, cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120, check=False)


def make(tmp_path: Path) -> Daemon:
    return Daemon(tmp_path, "http://127.0.0.1:9", f"sqlite:///{tmp_path / 'db.sqlite'}")


def test_a_bad_variable_is_named(tmp_path: Path) -> None:
    result = fundcrawl(make(tmp_path), "status", FUNDCRAWL_RATE_LIMIT="lots")
    assert result.returncode == 2
    assert "FUNDCRAWL_RATE_LIMIT" in result.stderr and "'lots'" in result.stderr


def test_every_daemon_command_refuses_an_empty_or_old_schema(tmp_path: Path) -> None:
    daemon = make(tmp_path)
    for command in (["worker"], ["beat"], ["run"], ["status"], ["discover"]):
        result = fundcrawl(daemon, *command)
        assert result.returncode == 2, command
        assert "run `fundcrawl db upgrade`" in result.stderr, command


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
