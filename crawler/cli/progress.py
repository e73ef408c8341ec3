"""Progress for long commands: a tqdm bar with rate and ETA on a terminal, plain log lines otherwise.

While a bar is shown, this process's log lines and the output of its child processes are written above it
(through tqdm), never into the bar's line.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from types import TracebackType
from typing import IO, Self, TextIO

from tqdm import tqdm
from tqdm.contrib import DummyTqdmFile


def _size(stream: TextIO) -> dict[str, object]:
    """Follow the terminal's size; one that reports 0 columns or rows (a bare pty) gets 80x24, else tqdm
    would draw an empty bar or hide it below a screen of height 0."""
    try:
        size = os.get_terminal_size(stream.fileno())
    except (OSError, ValueError):
        size = os.terminal_size((0, 0))
    return {"dynamic_ncols": True} if size.columns and size.lines else {"ncols": 80, "nrows": 24}


def relay(source: IO[bytes], stream: TextIO | None = None) -> threading.Thread:
    """Copy a child process's output line by line to ``stream`` (stderr) above any progress bar; returns the
    thread, which ends when the child closes its end."""
    target = DummyTqdmFile(stream or sys.stderr)

    def copy() -> None:
        for raw in iter(source.readline, b""):
            target.write(raw.decode("utf-8", "replace"))
        source.close()

    thread = threading.Thread(target=copy, name="child-output", daemon=True)
    thread.start()
    return thread


class Progress:
    """Call ``update(done)`` with the absolute count; ``total`` may grow while work is discovered."""

    def __init__(self, label: str, total: int, *, unit: str = "report", stream: TextIO | None = None,
                 every: float = 10.0) -> None:
        self.label, self.total, self.done, self.unit = label, total, 0, unit
        self.stream = stream or sys.stderr
        self.every = every
        self.started = self.last_line = time.monotonic()
        self.bar = tqdm(total=total, desc=label, unit=unit, file=self.stream, **_size(self.stream)) \
            if self.stream.isatty() else None
        self._redirected: list[tuple[logging.StreamHandler[TextIO], TextIO | None]] = []
        if self.bar is not None:
            self._redirect_logging()

    def _redirect_logging(self) -> None:
        """Point every root handler that writes to this terminal at tqdm, which clears the bar, prints the line
        and redraws the bar (tqdm.contrib.logging does the same, but drops the handlers' secret filters)."""
        for handler in logging.getLogger().handlers:
            if isinstance(handler, logging.StreamHandler) and handler.stream in (self.stream, sys.__stderr__):
                self._redirected.append((handler, handler.setStream(DummyTqdmFile(self.stream))))

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
        return f"{self.label}: {self.done}/{self.total} done, {rate:.2f} {self.unit}s/s, ETA {eta}{extra}"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self.bar is not None:
            self.bar.close()
        for handler, stream in self._redirected:
            if stream is not None:
                handler.setStream(stream)
        self._redirected.clear()
