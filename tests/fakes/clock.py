"""Fake clocks for code that takes ``clock`` (and ``sleep``) callables: time moves only when told to."""

from __future__ import annotations

import datetime as dt

#: 2025-05-01 12:00:00 UTC: any fixed, recent epoch time will do.
START = 1_746_100_800.0


class FakeClock:
    """Epoch seconds that stand still until :meth:`advance` or :meth:`sleep` moves them on."""

    def __init__(self, now: float = START) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def sleep(self, seconds: float) -> None:
        """What the code under test waits: recorded, and the clock moves on by it at once."""
        self.slept.append(seconds)
        self.advance(seconds)


class FakeUtcClock:
    """A settable UTC ``datetime`` clock, the kind ``Store`` takes, so a lease runs out without sleeping."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)
