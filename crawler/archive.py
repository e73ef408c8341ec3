"""The raw-page archive: every page exactly as the site served it, named by the sha256 of its bytes.

Pages live in the database every process of the fleet shares (:class:`PageArchive`), so any worker, on any
machine, can read any page, and a backup of the database is a backup of the pages. Each page is compressed with
zstd against a *reference page* of the same kind (report type), used as a raw-content dictionary: report pages
of one kind share most of their markup and boilerplate, so a page costs about 1/25 of its size instead of 1/10 with
zstd alone (bench/archive.py). The first page of a kind becomes its reference; a page that its reference no longer
compresses well (the site changed its template) becomes a newer one. References are never deleted: every page
points at its own with a RESTRICT foreign key.

The sha256 of the exact bytes served stays the page's identity and is checked on every read: a page that does not
decompress to bytes with its own hash is a :class:`CorruptPageError` naming the report, never a silent bad parse.

:class:`FileArchive` is the previous layout (``<data dir>/archive/ab/cd/<sha256>.html``): ``fundcrawl archive
migrate`` moves it into the database, and until then a page missing from the database is still read from it.
A full disk under either is a condition to wait out (:class:`OutOfSpaceError`, transient), never a broken page.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import re
import tempfile
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import zstandard

from crawler.exceptions import CrawlerError, OutOfSpaceError

if TYPE_CHECKING:
    from crawler.storage import Store
    from crawler.storage.pages import Reference, StoredPage


log = logging.getLogger(__name__)

SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
SUFFIX = ".html"
#: Name prefix of a page being written (renamed into place once complete and fsynced).
TEMP_PREFIX = ".tmp-"
#: errno values that mean "no room on this disk for you now" (full, or over a quota).
NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})
#: zstd level of pages compressed against their reference, measured on the real corpus pages: 9 gives 25.6x at
#: 9 ms of CPU a page, 11 gives 26.9x at 11 ms, 13 gives nothing more at 75 ms, 17 gives 29.6x at 127 ms.
LEVEL = 11
#: Its match tables, as log2 of their entries, are one size below the window (level 11 picks two sizes above it
#: for a page-sized dictionary): each page's compression starts from a copy of the reference's digested tables,
#: and smaller tables are quicker to copy and to search. Measured on the corpus pages against their kind's first
#: page: 4.1 ms a page instead of 5.8, for 24.5x instead of 24.8x.
TABLES_BELOW_WINDOW = 1
#: References are compressed once, on their own. Measured on the first real page of each kind: 12 gives 12.1x at
#: 6 ms a page, 19 gives 13.4x at 103 ms. A reference is written once per kind and template, so the 10% it saves
#: is a few KB in all, while the first report of each kind (and every race to write one) waited 17x longer.
REFERENCE_LEVEL = 12
#: Codec names stored with each page.
CODEC_DICT = "zstd-ref"
CODEC_PLAIN = "zstd"
#: A page that compresses less than this many times against its kind's reference becomes a newer reference.
MIN_RATIO = 12.0
#: Decompression dictionaries kept per process (one per kind, plus a few older references).
CACHED_REFERENCES = 32
#: Largest page the archive accepts back from the database (the client refuses bigger ones in the first place).
MAX_PAGE_BYTES = 256 * 1024 * 1024


class ArchiveError(CrawlerError):
    """A page cannot be read back as it was served."""


class PageMissingError(ArchiveError):
    """No page with this sha256 is archived."""


class CorruptPageError(ArchiveError):
    """The stored page does not decompress to the bytes its sha256 names."""


@dataclass(frozen=True)
class ArchivedPage:
    """An archived page's identity. ``relative`` (``ab/cd/<sha256>.html``) is the name reports record."""

    sha256: str
    relative: str


def relative_path(sha256: str) -> str:
    """``ab/cd/<sha256>.html`` for a lowercase hex sha256; ValueError for anything else."""
    if not SHA256_HEX.fullmatch(sha256):
        raise ValueError("not a lowercase hex sha256")
    return f"{sha256[:2]}/{sha256[2:4]}/{sha256}{SUFFIX}"


def sha256_of(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def _about(sha256: str, report: int | None) -> str:
    return f"page {sha256[:12]}" + (f" of report {report}" if report is not None else "")


class PageArchive:
    """The fleet's page archive in the database, compressed against per-kind reference pages."""

    def __init__(self, store: Store, legacy: FileArchive | None = None) -> None:
        self.store = store
        self.legacy = legacy
        self._dicts: OrderedDict[int, zstandard.ZstdCompressionDict] = OrderedDict()
        self._compressors: dict[int, zstandard.ZstdCompressor] = {}
        self._current: dict[str, Reference] = {}

    # --- writing ---------------------------------------------------------------------------------------------
    def save(self, body: bytes, kind: str = "") -> ArchivedPage:
        """Store ``body`` once (compressed against the reference of ``kind``) and return its identity.

        The one write path of the archive: a page is inserted whole in one statement or not at all, and inserting
        the same bytes again is a no-op.
        """
        sha256 = sha256_of(body)
        page = ArchivedPage(sha256, relative_path(sha256))
        if self.store.page_exists(sha256):
            return page
        self.store.insert_page(self.compress(body, sha256, kind or "unknown"))
        log.debug("archived page %s (%d bytes)", sha256[:12], len(body))
        return page

    def compress(self, body: bytes, sha256: str, kind: str) -> StoredPage:
        """The row for ``body``: compressed against the current reference of ``kind`` (made one if needed)."""
        from crawler.storage.pages import StoredPage

        reference = self._current.get(kind) or self.store.current_reference(kind)
        blob = self._compress_against(body, reference) if reference is not None else b""
        if reference is None or len(blob) * MIN_RATIO > len(body):
            # First page of its kind, or a template the reference no longer covers: a newer reference (unless
            # another process just added that generation: then its page is the reference).
            latest = self.store.current_reference(kind)
            generation = (latest.generation if latest is not None else 0) + 1
            reference = self.store.add_reference(kind, generation, sha256, len(body),
                                                 zstandard.ZstdCompressor(level=REFERENCE_LEVEL).compress(body))
            if reference.sha256 == sha256:
                log.info("page %s is the compression reference for %s pages (%d)", sha256[:12], kind, generation)
            blob = self._compress_against(body, reference)
        self._current[kind] = reference
        return StoredPage(sha256, len(body), CODEC_DICT, reference.id, blob)

    def _compress_against(self, body: bytes, reference: Reference) -> bytes:
        # One compressor per reference, kept: loading a page-sized dictionary into a new compressor cost about as
        # much as compressing the page against it. Pages of one kind are about the reference's size.
        compressor = self._compressors.get(reference.id)
        if compressor is None:
            params = _page_parameters(reference.size)
            compressor = zstandard.ZstdCompressor(dict_data=self._dictionary(reference), compression_params=params)
            if len(self._compressors) >= CACHED_REFERENCES:
                self._compressors.clear()
            self._compressors[reference.id] = compressor
        return compressor.compress(body)

    # --- reading ---------------------------------------------------------------------------------------------
    def read(self, sha256: str, report: int | None = None) -> bytes:
        """The exact bytes archived as ``sha256``, verified; ``report`` only names the report in errors."""
        body = next(self.read_many([(sha256, report)]))
        if isinstance(body, ArchiveError):
            raise body
        return body

    def read_many(self, pages: Sequence[tuple[str, int | None]]) -> Iterator[bytes | ArchiveError]:
        """:meth:`read` for each ``(sha256, report)``: the stored pages are fetched in one read when this is called
        (a database error stops the whole call), then each is decompressed and verified as the iterator reaches it,
        so a batch holds one page's bytes at a time; for each, its bytes or the :class:`ArchiveError` that names
        it."""
        valid = {sha256 for sha256, _report in pages if SHA256_HEX.fullmatch(sha256)}
        return self._each_verified(pages, valid, self.store.stored_pages(sorted(valid)))

    def _each_verified(self, pages: Sequence[tuple[str, int | None]], valid: set[str],
                       stored: Mapping[str, StoredPage]) -> Iterator[bytes | ArchiveError]:
        for sha256, report in pages:
            try:
                if sha256 not in valid:
                    raise PageMissingError(f"{sha256!r} is not a page name (a lowercase hex sha256)")
                yield self._verified(sha256, stored.get(sha256), report)
            except ArchiveError as error:
                yield error

    def _verified(self, sha256: str, stored: StoredPage | None, report: int | None) -> bytes:
        """The bytes of a page read from the database (or, absent there, from the legacy folder), verified."""
        if stored is None:
            return self._read_legacy(sha256, report)
        try:
            body = self._decompress(stored)
        except zstandard.ZstdError as error:
            raise CorruptPageError(f"{_about(sha256, report)} is corrupt in the archive: {error}") from None
        if len(body) != stored.size or sha256_of(body) != sha256:
            raise CorruptPageError(f"{_about(sha256, report)} is corrupt in the archive: its bytes no longer "
                                   "have its sha256")
        return body

    def exists(self, sha256: str) -> bool:
        return self.store.page_exists(sha256) or (self.legacy is not None and self.legacy.exists(sha256))

    def _read_legacy(self, sha256: str, report: int | None) -> bytes:
        if self.legacy is None or not self.legacy.exists(sha256):
            raise PageMissingError(f"{_about(sha256, report)} is not in the archive")
        body = self.legacy.read(sha256)
        if sha256_of(body) != sha256:
            raise CorruptPageError(f"{_about(sha256, report)} is corrupt in {self.legacy.path_for(sha256)}")
        return body

    def _decompress(self, stored: StoredPage) -> bytes:
        if stored.codec == CODEC_PLAIN or stored.reference_id is None:
            return zstandard.ZstdDecompressor().decompress(stored.body, max_output_size=MAX_PAGE_BYTES)
        if stored.codec != CODEC_DICT:
            raise zstandard.ZstdError(f"unknown codec {stored.codec!r}")
        dictionary = self._dicts.get(stored.reference_id)
        if dictionary is None:  # not read yet by this process: fetch it once (references never change)
            reference = self.store.page_reference(stored.reference_id)
            if reference is None:
                raise zstandard.ZstdError(f"its reference {stored.reference_id} is missing")
            dictionary = self._dictionary(reference)
        else:
            self._dicts.move_to_end(stored.reference_id)
        return zstandard.ZstdDecompressor(dict_data=dictionary).decompress(stored.body, max_output_size=MAX_PAGE_BYTES)

    def _dictionary(self, reference: Reference) -> zstandard.ZstdCompressionDict:
        """The reference's raw bytes as a zstd dictionary, checked against its sha256 once per process."""
        cached = self._dicts.get(reference.id)
        if cached is not None:
            self._dicts.move_to_end(reference.id)
            return cached
        raw = zstandard.ZstdDecompressor().decompress(reference.content, max_output_size=MAX_PAGE_BYTES)
        if sha256_of(raw) != reference.sha256:
            raise zstandard.ZstdError(f"its reference {reference.id} is corrupt")
        dictionary = zstandard.ZstdCompressionDict(raw, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
        self._dicts[reference.id] = dictionary
        while len(self._dicts) > CACHED_REFERENCES:
            self._dicts.popitem(last=False)
        return dictionary


def _page_parameters(reference_size: int) -> zstandard.ZstdCompressionParameters:
    """:data:`LEVEL`'s parameters for pages about the size of their reference, with :data:`TABLES_BELOW_WINDOW`."""
    level = zstandard.ZstdCompressionParameters.from_level(LEVEL, source_size=reference_size,
                                                          dict_size=reference_size)
    tables = level.window_log - TABLES_BELOW_WINDOW
    return zstandard.ZstdCompressionParameters(
        window_log=level.window_log, hash_log=min(level.hash_log, tables), chain_log=min(level.chain_log, tables),
        search_log=level.search_log, min_match=level.min_match, target_length=level.target_length,
        strategy=level.strategy)


class FileArchive:
    """The previous archive layout: a content-addressed directory of raw pages under one machine's data dir."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()

    def path_for(self, sha256: str) -> Path:
        """The file for ``sha256``, guaranteed to lie inside the root."""
        path = (self.root / relative_path(sha256)).resolve()
        if not path.is_relative_to(self.root):
            raise ValueError("archive path escapes the archive root")
        return path

    def save(self, body: bytes) -> ArchivedPage:
        """Store ``body`` (once) and return its address (temp file, fsync, rename: never half a page)."""
        sha256 = sha256_of(body)
        path = self.path_for(sha256)
        page = ArchivedPage(sha256, relative_path(sha256))
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

    def iter_files(self) -> Iterator[tuple[str, Path]]:
        """``(sha256, path)`` of every stored page, in name order."""
        for path in sorted(self._files()):
            yield path.name[: -len(SUFFIX)], path

    def remove(self, sha256: str) -> None:
        self.path_for(sha256).unlink(missing_ok=True)

    def remove_empty_directories(self) -> None:
        """Drop the ``ab/cd`` folders a migration emptied (and the root, once nothing is left in it)."""
        if not self.root.is_dir():
            return
        for folder in [*sorted(self.root.glob("??/??")), *sorted(self.root.glob("??")), self.root]:
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()

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
