"""Shared pytest fixtures. Keep this file small: each area adds only what several test files need."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.constants import CORPUS_DIR

if TYPE_CHECKING:
    from crawler.processing import Runtime
    from tests.replica import Replica



@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """Directory of the 39 real EID pages plus MANIFEST.csv."""
    return CORPUS_DIR.resolve()


#: A schedule with one hourly entry that discovers the replica's one partition.
TICK_SCHEDULE = "schedules:\n  tick:\n    every: 1h\n    discover:\n      report_types: [q1]\n      years: [2025]\n"


@pytest.fixture
def replica_runtime(tmp_path: Path) -> Iterator[tuple[Runtime, Replica]]:
    """A worker's collaborators on a fresh SQLite data dir, talking to a replica of five reports in one partition,
    with the schedule entry ``tick`` that discovers them."""
    from crawler.processing import runtime
    from crawler.settings import Settings
    from crawler.storage import upgrade
    from tests.replica import Replica

    (tmp_path / "s.yaml").write_text(TICK_SCHEDULE, encoding="utf-8")
    with Replica(generate=5, seed=5, partitions=["FB030010:2025"]) as replica:
        settings = Settings(source_url=replica.url, data_dir=tmp_path / "data", schedules=tmp_path / "s.yaml",
                            rate_limit=100, politeness_key_prefix=f"test-runtime-{tmp_path.name}")
        settings.data_dir.mkdir()
        upgrade(settings.database)
        rt = runtime(settings)
        yield rt, replica
        rt.close()


# --- pytest-xdist: the soak and the chaos battery beside everything else -----------------------------------------
# `pytest` runs three xdist workers (pyproject addopts: -n 3 --dist loadgroup), one per group: the 10-minute soak
# (tests/chaos, marked `soak`) with the chaos scenarios that mostly wait (marked `waits`: a machine asleep, an
# analyst's lock, a full disk); the rest of the chaos battery (marked `chaos`); and every other test. Each group
# still runs one test at a time, as its tests were written to, on their own servers and ports; the soak's group is
# mostly idle, so the two busy groups share the two cores of a CI machine. `pytest -n 0` runs all in one process.

#: user_properties name under which a chaos scenario ships its figures (a JSON line) to the terminal summary.
CHAOS_PROPERTY = "chaos"
_chaos_lines: list[str] = []


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the group marks
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        beside = item.get_closest_marker("soak") or item.get_closest_marker("waits")
        group = "soak" if beside else "chaos" if item.get_closest_marker("chaos") else "suite"
        item.add_marker(pytest.mark.xdist_group(group))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "teardown":
        _chaos_lines.extend(value for name, value in report.user_properties if name == CHAOS_PROPERTY)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _chaos_lines:
        terminalreporter.section("chaos battery figures")
        for line in _chaos_lines:
            terminalreporter.write_line("CHAOS " + line)
