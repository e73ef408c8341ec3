"""A fake epoch clock for code that takes ``clock`` (and ``sleep``) callables: time moves only when told to."""

from __future__ import annotations

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
