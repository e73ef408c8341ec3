"""Progress for long commands: a tqdm bar with rate and ETA on a terminal, plain log lines otherwise."""

from __future__ import annotations

import os
import sys
import time
from types import TracebackType
from typing import Self, TextIO

from tqdm import tqdm


def _size(stream: TextIO) -> dict[str, object]:
    """Follow the terminal's size; one that reports 0 columns or rows (a bare pty) gets 80x24, else tqdm
    would draw an empty bar or hide it below a screen of height 0."""
    try:
        size = os.get_terminal_size(stream.fileno())
    except (OSError, ValueError):
        size = os.terminal_size((0, 0))
    return {"dynamic_ncols": True} if size.columns and size.lines else {"ncols": 80, "nrows": 24}


class Progress:
    """Call ``update(done)`` with the absolute count; ``total`` may grow while work is discovered."""

    def __init__(self, label: str, total: int, *, stream: TextIO | None = None, every: float = 10.0) -> None:
        self.label, self.total, self.done = label, total, 0
        self.stream = stream or sys.stderr
        self.every = every
        self.started = self.last_line = time.monotonic()
        self.bar = tqdm(total=total, desc=label, unit="report", file=self.stream, **_size(self.stream)) \
            if self.stream.isatty() else None

    def update(self, done: int, total: int | None = None, note: str = "") -> None:
        if total is not None and total != self.total:
            self.total = total
            if self.bar is not None:
                self.bar.total = total
        step, self.done = done - self.done, done
        if self.bar is not None:
            self.bar.set_postfix_str(note, refresh=False)
            self.bar.update(step)
        elif time.monotonic() - self.last_line >= self.every or done >= self.total:
            self.last_line = time.monotonic()
            self.stream.write(self.line(note) + "\n")
            self.stream.flush()

    def line(self, note: str = "") -> str:
        elapsed = time.monotonic() - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        left = max(self.total - self.done, 0)
        eta = f"{left / rate:.0f}s" if rate > 0 else "unknown"
        extra = f", {note}" if note else ""
        return f"{self.label}: {self.done}/{self.total} done, {rate:.2f}/s, ETA {eta}{extra}"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self.bar is not None:
            self.bar.close()
