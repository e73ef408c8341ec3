"""A real, small filesystem for out-of-space tests: a size-capped tmpfs mounted by the test (needs root).

Filling it with a filler file makes every write on it fail with ``ENOSPC``, exactly as a full disk does;
deleting the filler gives the space back.
"""

from __future__ import annotations

import errno
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

FILLER = ".filler"


@dataclass
class SmallDisk:
    mount: Path

    @property
    def filler(self) -> Path:
        return self.mount / FILLER

    def fill(self) -> None:
        """Write until the filesystem refuses: afterwards not one more block fits."""
        with self.filler.open("ab", buffering=0) as handle:
            block = b"\0" * 4096
            try:
                while True:
                    handle.write(block)
            except OSError as error:
                if error.errno != errno.ENOSPC:
                    raise

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)


@contextmanager
def small_disk(mount: Path, size: str = "2m") -> Iterator[SmallDisk]:
    """A tmpfs of ``size`` mounted on ``mount`` (created if missing) for the duration of the block."""
    mount.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(mount)], check=True)
    try:
        yield SmallDisk(mount)
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)
