"""The embedded database's write-ahead log stays bounded when an analyst holds a long read transaction.

While another program's read transaction pins an old snapshot, SQLite cannot start its WAL over, so the WAL
grows with every write (unavoidable without breaking that reader). The daemon must say so, and once the
reader is gone the next checkpoint must shrink the file instead of leaving it at its largest for good.
SQLite only: PostgreSQL manages its own log.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest

from crawler.storage import Store, checkpoint, dispose_engines, upgrade
from crawler.storage import engine as engine_module
from tests.storage.helpers import ref


def _wal(path: Path) -> int:
    wal = path.with_name(path.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


def test_a_long_read_transaction_is_reported_and_the_wal_shrinks_when_it_ends(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_module, "SQLITE_WAL_WARNING_BYTES", 1 << 20)
    path = tmp_path / "fundcrawl.sqlite"
    url = f"sqlite:///{path}"
    upgrade(url)
    store = Store.from_url(url)
    store.add_discovered([ref(1)])
    analyst = sqlite3.connect(path, isolation_level=None)
    try:
        analyst.execute("BEGIN")
        assert analyst.execute("SELECT count(*) FROM reports").fetchone() == (1,)  # the snapshot is now pinned
        for start in range(2, 20_002, 500):
            store.add_discovered([ref(i, name="长期持有的基金" * 8) for i in range(start, start + 500)])
        with caplog.at_level(logging.WARNING, logger="crawler.storage.engine"):
            held = checkpoint(store.engine)
        assert held is not None and held.held_back
        assert held.wal_bytes > held.database_bytes, "the reader really held the WAL back"
        assert "cannot be recycled while another program keeps a read transaction open" in caplog.text
        assert analyst.execute("SELECT count(*) FROM reports").fetchone() == (1,), "the reader was not disturbed"
    finally:
        analyst.execute("COMMIT")
        analyst.close()
    freed = checkpoint(store.engine)
    assert freed is not None and not freed.held_back
    assert freed.wal_bytes == 0 == _wal(path)
    assert store.counts()["pending"] == 20_001

    # Without an explicit checkpoint, SQLite's own ones now cut the WAL back to the journal size limit.
    store.add_discovered([ref(i) for i in range(30_000, 40_000)])
    assert _wal(path) <= engine_module.SQLITE_JOURNAL_SIZE_LIMIT + (4 << 20)
    dispose_engines()
