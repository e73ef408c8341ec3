"""Shared pytest fixtures. Keep this file small: each area adds only what several test files need."""

from __future__ import annotations

from pathlib import Path

import pytest

#: The real report pages live beside the repo (never copied into it).
CORPUS_DIR = Path(__file__).resolve().parents[1] / ".." / "shared" / "corpus"


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """Directory of the 39 real EID pages plus MANIFEST.csv."""
    return CORPUS_DIR.resolve()


# --- pytest-xdist: the soak beside everything else --------------------------------------------------------------
# `pytest` runs two xdist workers (pyproject addopts: -n 2 --dist loadgroup). The 10-minute soak (tests/chaos,
# marked `soak`) is one group and every other test the other, so the soak's mostly idle minutes overlap the rest of
# the suite while the rest still runs one test at a time, as it was written to. Chaos scenarios that mostly wait
# (marked `waits`: a machine asleep, an analyst's lock, a full disk) join the soak's group, on their own servers
# and ports, so the two workers finish about together. `pytest -n 0` runs all in one process.

#: user_properties name under which a chaos scenario ships its figures (a JSON line) to the terminal summary.
CHAOS_PROPERTY = "chaos"
_chaos_lines: list[str] = []


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the group marks
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        beside = item.get_closest_marker("soak") or item.get_closest_marker("waits")
        item.add_marker(pytest.mark.xdist_group("soak" if beside else "suite"))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "teardown":
        _chaos_lines.extend(value for name, value in report.user_properties if name == CHAOS_PROPERTY)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _chaos_lines:
        terminalreporter.section("chaos battery figures")
        for line in _chaos_lines:
            terminalreporter.write_line("CHAOS " + line)
