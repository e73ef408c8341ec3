"""Raw report pages, stored by content: ``root/ab/cd/<sha256>.html``.

The path comes only from the sha256 of the bytes, never from a remote string (reliability.md I6, §4), and is
checked to resolve inside the root. A write goes to a temp file in the target directory, is fsynced, then
renamed over the target with ``os.replace``, so a reader (or a crash) never sees half a page; writing the same
bytes twice is a no-op. A page is never rewritten in place: content-addressed files are immutable.
A full disk is a condition to wait out, not a broken page: it surfaces as :class:`OutOfSpaceError` (transient),
with the temp file removed, so nothing half-written remains.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from crawler.exceptions import OutOfSpaceError

log = logging.getLogger(__name__)

SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
SUFFIX = ".html"
#: Name prefix of a page being written (renamed into place once complete and fsynced).
TEMP_PREFIX = ".tmp-"
#: errno values that mean "no room on this disk for you now" (full, or over a quota).
NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})


@dataclass(frozen=True)
class ArchivedPage:
    """Where a page's bytes live. ``relative`` (``ab/cd/<sha256>.html``) is what the database records."""

    sha256: str
    path: Path
    relative: str


def relative_path(sha256: str) -> str:
    """``ab/cd/<sha256>.html`` for a lowercase hex sha256; ValueError for anything else."""
    if not SHA256_HEX.fullmatch(sha256):
        raise ValueError("not a lowercase hex sha256")
    return f"{sha256[:2]}/{sha256[2:4]}/{sha256}{SUFFIX}"


class Archive:
    """A content-addressed directory of raw pages."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()

    def path_for(self, sha256: str) -> Path:
        """The file for ``sha256``, guaranteed to lie inside the root."""
        path = (self.root / relative_path(sha256)).resolve()
        if not path.is_relative_to(self.root):
            raise ValueError("archive path escapes the archive root")
        return path

    def save(self, body: bytes) -> ArchivedPage:
        """Store ``body`` (once) and return its address."""
        sha256 = hashlib.sha256(body).hexdigest()
        path = self.path_for(sha256)
        page = ArchivedPage(sha256, path, relative_path(sha256))
        if path.is_file() and path.stat().st_size == len(body):
            return page  # content-addressed: same name and size means the same bytes
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            _write_atomically(path, body)
        except OSError as error:
            if error.errno in NO_SPACE:
                raise OutOfSpaceError(f"no space left on the archive's disk ({self.root}): {error.strerror}; "
                                      "waiting until space is freed") from error
            raise
        log.debug("archived page %s (%d bytes)", sha256[:12], len(body))
        return page

    def read(self, sha256: str) -> bytes:
        """The bytes stored for ``sha256``; FileNotFoundError if absent."""
        return self.path_for(sha256).read_bytes()

    def exists(self, sha256: str) -> bool:
        return self.path_for(sha256).is_file()

    def iter_hashes(self) -> list[str]:
        """The sha256 of every stored page."""
        return [path.name[: -len(SUFFIX)] for path in self._files()]

    def sweep_orphans(self, referenced: set[str]) -> int:
        """Delete stored pages whose sha256 no database row references, and stale temp files; return the count.

        Run it only while nothing is being archived: a page written after ``referenced`` was read would
        look orphaned.
        """
        removed = 0
        for path in self._files():
            if path.name[: -len(SUFFIX)] not in referenced:
                path.unlink(missing_ok=True)
                removed += 1
        self.sweep_temp_files(older_than=0)
        if removed:
            log.info("archive sweep removed %d orphan page(s)", removed)
        return removed

    def sweep_temp_files(self, older_than: float = 3600.0) -> int:
        """Delete temp files a writer killed mid-write left behind; young ones may still be being written."""
        cutoff = time.time() - older_than
        removed = 0
        for temp in self.root.glob(f"??/??/{TEMP_PREFIX}*"):
            try:
                if temp.stat().st_mtime <= cutoff:
                    temp.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
        if removed:
            log.info("archive sweep removed %d temp file(s) left by interrupted writes", removed)
        return removed

    def _files(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return [path for path in self.root.glob(f"??/??/*{SUFFIX}") if SHA256_HEX.fullmatch(path.name[:-5])]


def _write_atomically(path: Path, body: bytes) -> None:
    descriptor, temp_name = tempfile.mkstemp(dir=path.parent, prefix=TEMP_PREFIX, suffix=SUFFIX)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, path)
    finally:
        Path(temp_name).unlink(missing_ok=True)  # only still there when the write failed
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    # The rename is durable only once the directory entry is on disk.
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
