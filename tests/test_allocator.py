"""The allocator setting every fundcrawl process starts with (crawler/allocator.py)."""

from __future__ import annotations

import ctypes
import subprocess
import sys

import pytest

from crawler import allocator


def test_fastbins_are_turned_off_on_glibc() -> None:
    # This machine runs glibc: mallopt accepts the setting (it returns 1 on success, 0 on a refused value).
    assert allocator.turn_off_fastbins() is True


def test_a_c_library_without_mallopt_keeps_its_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    class NoMallopt:  # a C library with no such function (musl, macOS)
        def __init__(self, _name: object) -> None:
            pass

    monkeypatch.setattr(ctypes, "CDLL", NoMallopt)
    assert allocator.turn_off_fastbins() is False


def test_every_command_sets_it_before_it_runs() -> None:
    # The command group's callback runs for every subcommand, the daemon's included; record the call from a real
    # `fundcrawl` process started the way the console script starts it.
    code = ("import sys, crawler.allocator as a, crawler.cli as cli; calls = []; original = a.turn_off_fastbins\n"
            "cli.turn_off_fastbins = lambda: calls.append(1) or original()\n"
            "try:\n    cli.main(['status', '--help'])\nexcept SystemExit:\n    pass\nprint(len(calls))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip().splitlines()[-1] == "1"
