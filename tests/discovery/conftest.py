"""Discovery runs against the real replica (in a thread) and a real database (SQLite in a temp dir by default)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crawler.discovery import WalkPolicy
from crawler.sources.eid import EidClient
from crawler.storage import Store, dispose_engines, make_engine, upgrade
from tests.constants import SEARCH_PATH, USER_AGENT
from tests.replica import Replica
from tests.storage.fixtures import empty_postgres, pg_database_url

__all__ = ["pg_database_url"]

#: Page retries that wait milliseconds instead of seconds.
FAST_RETRY = WalkPolicy(retry_base=0.01, retry_cap=0.05)



@pytest.fixture
def replica() -> Iterator[Replica]:
    with Replica(seed=11) as replica:
        yield replica


@pytest.fixture
def client(replica: Replica) -> Iterator[EidClient]:
    with EidClient(replica.url, USER_AGENT) as eid:
        yield eid


@pytest.fixture
def sqlite_url(tmp_path: Path) -> Iterator[str]:
    """An empty SQLite database at the head revision (the storage tests' ``db_url`` runs on every engine)."""
    url = f"sqlite:///{tmp_path / 'fundcrawl.sqlite'}"
    upgrade(url)
    yield url
    dispose_engines()


@pytest.fixture
def store(sqlite_url: str) -> Store:
    return Store(make_engine(sqlite_url))


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request: pytest.FixtureRequest, store: Store) -> Iterator[Store]:
    """The SQLite store, and once on the local PostgreSQL."""
    if request.param == "sqlite":
        yield store
        return
    url = request.getfixturevalue("pg_database_url")
    empty_postgres(url)
    upgrade(url)
    yield Store(make_engine(url))
    dispose_engines()


def publish(replica: Replica, count: int, code: str = "FB030010", year: str = "2025", **options: Any) -> list[int]:
    """Publish ``count`` generated reports in one partition; returns their ids."""
    return replica.publish(count, code, year, **options)


def search_requests(replica: Replica, since: int = 0) -> int:
    """Search requests the replica received after log position ``since``."""
    return sum(1 for entry in replica.log(since) if entry["path"] == SEARCH_PATH)


def log_position(replica: Replica) -> int:
    return len(replica.log())


def stored_ids(store: Store) -> list[int]:
    """Every report id in the database (with duplicates, if the schema ever allowed them)."""
    from sqlalchemy import select

    from crawler.storage.tables import reports

    with store.engine.connect() as connection:
        return list(connection.scalars(select(reports.c.upload_info_id)))
