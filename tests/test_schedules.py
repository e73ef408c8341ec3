"""Schedule files: the documented format, clear errors naming file and entry, beat entries."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from crawler.exceptions import ConfigError
from crawler.schedules import load_schedules
from tests.constants import REPO

GOOD = """
timezone: Asia/Shanghai
schedules:
  recent-periodic-reports:
    cron: "15 * * * *"
    discover:
      report_types: [annual, interim, q1, q2, q3, q4]
      years: [current, previous]
      sent_within_days: 14
  profiles:
    every: 30m
    discover:
      report_types: [FA010070]
      years: [all]
"""


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_documented_format_loads_and_resolves(tmp_path: Path) -> None:
    schedules = load_schedules(write(tmp_path, GOOD))
    entry = schedules.get("recent-periodic-reports")
    assert entry.action == "discover" and entry.discover is not None
    assert entry.discover.report_types == ["FB010010", "FB020010", "FB030010", "FB030020", "FB030030", "FB030040"]
    assert entry.discover.sent_within_days == 14
    assert entry.spec.resolve_years(dt.date(2026, 1, 20)) == ["2026", "2025"]
    assert schedules.get("profiles").spec.resolve_years(dt.date(2026, 1, 20)) == [""]
    assert schedules.get("profiles").period_seconds == 1800


def test_the_shipped_default_schedule_is_valid() -> None:
    schedules = load_schedules(REPO / "schedules")
    assert {"recent-periodic-reports", "nightly-reconcile"} <= set(schedules.entries)
    assert schedules.get("nightly-reconcile").action == "reconcile"
    reverify = schedules.get("reverify-stored-reports")
    assert reverify.action == "reverify" and reverify.reverify is not None
    assert reverify.reverify.max_requests == 2000 and reverify.reverify.min_interval_seconds == 86400


@pytest.mark.parametrize(
    ("body", "key", "words"),
    [
        ("schedules:\n  a:\n    cron: '99 * * * *'\n    discover: {report_types: [q1]}\n", "schedules.a.cron", "bad cron"),
        ("schedules:\n  a:\n    cron: '* * *'\n    discover: {report_types: [q1]}\n", "schedules.a.cron", "5 fields"),
        ("schedules:\n  a:\n    every: 10x\n    discover: {report_types: [q1]}\n", "schedules.a.every", "bad interval"),
        ("schedules:\n  a:\n    every: 1h\n    discover: {report_types: [q9]}\n", "schedules.a.discover.report_types.0",
         "unknown report type 'q9'"),
        ("schedules:\n  a:\n    every: 1h\n    discover: {report_types: [q1], colour: red}\n",
         "schedules.a.discover.colour", "unknown key 'colour'"),
        ("schedules:\n  a:\n    every: 1h\n    cron: '* * * * *'\n    discover: {report_types: [q1]}\n", "schedules.a",
         "exactly one of `cron` or `every`"),
        ("schedules:\n  a:\n    every: 1h\n    discover: {report_types: [q1], years: [last]}\n",
         "schedules.a.discover.years.0", "bad year"),
        ("timezone: Mars/Olympus\nschedules: {}\n", "timezone", "unknown timezone"),
        ("schedules:\n  Bad Name:\n    every: 1h\n    discover: {report_types: [q1]}\n", "schedules", "entry name"),
        ("schedules:\n  a:\n    every: 1h\n    discover: {report_types: [q1]}\n    reverify: {report_types: [q1]}\n",
         "schedules.a", "exactly one of `discover`, `reconcile` or `reverify`"),
        ("schedules:\n  a:\n    every: 1h\n    reverify: {report_types: [q1], max_requests: 0}\n",
         "schedules.a.reverify.max_requests", "greater than or equal to 1"),
        ("schedules:\n  a:\n    every: 1h\n    reverify: {report_types: [q1], min_interval: soon}\n",
         "schedules.a.reverify.min_interval", "bad interval"),
    ],
)
def test_errors_name_the_file_and_the_entry(tmp_path: Path, body: str, key: str, words: str) -> None:
    path = write(tmp_path, body)
    with pytest.raises(ConfigError) as caught:
        load_schedules(path)
    assert caught.value.source == str(path) and caught.value.key == key
    assert words in str(caught.value) and str(path) in str(caught.value)


def test_a_folder_merges_files_and_refuses_duplicate_names(tmp_path: Path) -> None:
    write(tmp_path, GOOD, "a.yaml")
    write(tmp_path, "schedules:\n  extra:\n    every: 1d\n    discover: {report_types: [annual]}\n", "b.yml")
    assert set(load_schedules(tmp_path).entries) == {"recent-periodic-reports", "profiles", "extra"}
    write(tmp_path, "schedules:\n  extra:\n    every: 2d\n    discover: {report_types: [q1]}\n", "c.yaml")
    with pytest.raises(ConfigError, match="also defined in"):
        load_schedules(tmp_path)


def test_unreadable_or_secret_bearing_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_schedules(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_schedules(write(tmp_path, "schedules: [unclosed"))
    with pytest.raises(ConfigError, match="credentials"):
        load_schedules(write(tmp_path, "schedules: {}\nnote: redis://user:pw@host/0\n"))
    with pytest.raises(ConfigError, match="unknown schedule entry|no schedule entry"):
        load_schedules(write(tmp_path, GOOD)).get("nope")
