"""The file archive (the layout before pages moved into the database): content addressing, atomic writes, path
safety, orphan sweep. ``fundcrawl archive migrate`` reads it; tests/storage/test_pages.py covers the database one."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path

import pytest

from crawler.archive import FileArchive as Archive
from crawler.archive import relative_path
from crawler.exceptions import OutOfSpaceError, TransientError
from tests.diskspace import small_disk


def test_save_stores_the_bytes_under_their_sha256(tmp_path: Path) -> None:
    body = "<html>基金</html>".encode()
    sha = hashlib.sha256(body).hexdigest()

    page = Archive(tmp_path).save(body)

    assert page.sha256 == sha
    assert page.relative == f"{sha[:2]}/{sha[2:4]}/{sha}.html"
    assert Archive(tmp_path).path_for(page.sha256) == tmp_path.resolve() / page.relative
    assert Archive(tmp_path).path_for(page.sha256).read_bytes() == body
    assert Archive(tmp_path).read(sha) == body


def test_saving_the_same_bytes_again_is_a_no_op(tmp_path: Path) -> None:
    archive = Archive(tmp_path)
    first = archive.save(b"same page")
    before = archive.path_for(first.sha256).stat()

    second = archive.save(b"same page")

    assert second == first
    assert archive.path_for(first.sha256).stat().st_ino == before.st_ino and archive.path_for(first.sha256).stat().st_mtime_ns == before.st_mtime_ns
    assert archive.iter_hashes() == [first.sha256]


def test_concurrent_saves_of_one_page_leave_one_complete_file(tmp_path: Path) -> None:
    archive = Archive(tmp_path)
    body = os.urandom(512 * 1024)
    barrier = threading.Barrier(8)

    def save() -> None:
        barrier.wait()
        archive.save(body)

    threads = [threading.Thread(target=save) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    files = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert len(files) == 1 and files[0].read_bytes() == body


def test_a_failed_write_leaves_neither_a_partial_page_nor_a_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(_fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OutOfSpaceError, match="No space"):
        Archive(tmp_path).save(b"page")

    assert [path for path in tmp_path.rglob("*") if path.is_file()] == []


@pytest.mark.parametrize(
    "name",
    ["../../etc/passwd", "..%2F..%2Fx", "/abs/x", "a\x00b", "CON", "ｆｏｏ／bar", "A" * 64, "a" * 10_000],
)
def test_only_a_sha256_can_name_a_file(tmp_path: Path, name: str) -> None:
    archive = Archive(tmp_path)
    with pytest.raises(ValueError):
        archive.path_for(name)
    with pytest.raises(ValueError):
        archive.read(name)
    with pytest.raises(ValueError):
        relative_path(name)


def test_a_symlinked_directory_cannot_lead_writes_outside_the_root(tmp_path: Path) -> None:
    root, outside = tmp_path / "archive", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    body = next(
        b for b in (str(n).encode() for n in range(100_000)) if hashlib.sha256(b).hexdigest()[:2] == "ab"
    )
    (root / "ab").symlink_to(outside, target_is_directory=True)

    with pytest.raises(ValueError, match="escapes"):
        Archive(root).save(body)
    assert list(outside.rglob("*")) == []


def test_sweep_removes_only_unreferenced_pages_and_stale_temp_files(tmp_path: Path) -> None:
    archive = Archive(tmp_path)
    kept, orphan = archive.save(b"kept"), archive.save(b"orphan")
    stale = archive.path_for(kept.sha256).parent / ".tmp-crashed.html"
    stale.write_bytes(b"half a pa")

    removed = archive.sweep_orphans({kept.sha256})

    assert removed == 1
    assert archive.path_for(kept.sha256).exists() and not archive.path_for(orphan.sha256).exists() and not stale.exists()
    assert archive.iter_hashes() == [kept.sha256]


def test_an_empty_or_missing_archive_sweeps_nothing(tmp_path: Path) -> None:
    assert Archive(tmp_path / "never-created").sweep_orphans(set()) == 0


def test_a_damaged_copy_is_replaced_by_the_full_page(tmp_path: Path) -> None:
    archive = Archive(tmp_path)
    page = archive.save(b"the whole page")
    archive.path_for(page.sha256).write_bytes(b"the wh")  # bit rot, a manual edit: the name no longer matches the bytes

    archive.save(b"the whole page")

    assert archive.read(page.sha256) == b"the whole page"


def test_old_temp_files_of_interrupted_writes_are_swept_young_ones_kept(tmp_path: Path) -> None:
    archive = Archive(tmp_path)
    page = archive.save(b"<html>kept</html>")
    folder = archive.path_for(page.sha256).parent
    old, young = folder / ".tmp-old.html", folder / ".tmp-young.html"
    old.write_bytes(b"partial")
    young.write_bytes(b"partial")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    assert archive.sweep_temp_files(older_than=3600) == 1
    assert not old.exists() and young.exists() and archive.read(page.sha256) == b"<html>kept</html>"


def test_a_full_disk_is_a_transient_wait_that_leaves_nothing_half_written(tmp_path: Path) -> None:
    """ENOSPC from a real full filesystem: OutOfSpaceError (retry later), no temp file; stored once space is back."""
    body = os.urandom(200_000)
    with small_disk(tmp_path / "disk", "1m") as disk:
        archive = Archive(disk.mount / "archive")
        disk.fill()
        with pytest.raises(OutOfSpaceError, match="no space left on the archive's disk") as caught:
            archive.save(body)
        assert isinstance(caught.value, TransientError)
        assert not list((disk.mount / "archive").rglob(".tmp-*")), "a failed write leaves no temp file"
        assert archive.iter_hashes() == []

        disk.free()
        page = archive.save(body)
        assert archive.path_for(page.sha256).read_bytes() == body
        assert archive.iter_hashes() == [hashlib.sha256(body).hexdigest()]
