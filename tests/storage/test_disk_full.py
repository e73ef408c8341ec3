"""The embedded database on a disk that fills up: a write waits (transient), nothing is half-written, and the
same write succeeds once space is freed. A real size-capped filesystem, not a mock; SQLite only, since the
test cannot fill the disk of the shared PostgreSQL server (its ``disk_full`` SQLSTATE takes the same path)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from crawler.exceptions import OutOfSpaceError, TransientError
from crawler.storage import Store, dispose_engines, upgrade
from tests.diskspace import small_disk
from tests.storage.helpers import ref


def test_a_full_disk_under_sqlite_is_a_wait_not_a_crash(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk", "4m") as disk:
        url = f"sqlite:///{disk.mount / 'fundcrawl.sqlite'}"
        upgrade(url)
        store = Store.from_url(url)
        store.add_discovered([ref(1)])
        disk.fill()
        many = [ref(upload_id, name="基金" * 40) for upload_id in range(2, 1502)]
        try:
            with pytest.raises(OutOfSpaceError, match="the database's disk is full") as caught:
                store.add_discovered(many)
            assert isinstance(caught.value, TransientError)
            assert store.counts()["pending"] == 1, "the refused transaction left no row behind"

            disk.free()
            assert sorted(store.add_discovered(many)) == list(range(2, 1502))
            assert store.counts()["pending"] == 1501
        finally:
            dispose_engines()
        check = create_engine(url)
        with check.connect() as connection:
            assert connection.execute(text("PRAGMA integrity_check")).scalar() == "ok"
        check.dispose()


def test_a_new_connection_on_a_full_disk_waits_for_space(tmp_path: Path) -> None:
    # The last connection to close removes the WAL and shared-memory files; a process that connects while the disk
    # is full must create them again, which SQLite reports as a bare "disk I/O error".
    with small_disk(tmp_path / "disk", "4m") as disk:
        url = f"sqlite:///{disk.mount / 'fundcrawl.sqlite'}"
        upgrade(url)
        Store.from_url(url).add_discovered([ref(1)])
        dispose_engines()
        assert not (disk.mount / "fundcrawl.sqlite-wal").exists()
        disk.fill()
        try:
            store = Store.from_url(url)
            with pytest.raises(OutOfSpaceError, match="the database's disk is full"):
                store.counts()
            disk.free()
            assert store.counts()["pending"] == 1
        finally:
            dispose_engines()
