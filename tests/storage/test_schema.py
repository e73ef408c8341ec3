"""`fundcrawl db upgrade` and the start-up schema check, on SQLite and PostgreSQL."""

from __future__ import annotations

import multiprocessing

import pytest
from sqlalchemy import inspect, text

from crawler.exceptions import SchemaError
from crawler.storage import current_revision, ensure_current, head_revision, make_engine, upgrade
from crawler.storage.tables import metadata

EXPECTED_TABLES = {
    "reports",
    "report_documents",
    "share_classes",
    "nav_values",
    "share_changes",
    "asset_allocation",
    "industry_allocation",
    "holdings",
    "discovery_runs",
    "partitions",
    "partition_windows",
    "backfill_jobs",
    "backfill_partitions",
    "report_versions",
    "pages",
    "page_references",
    "reparse_runs",
    "reparse_items",
}


def test_upgrade_creates_every_table_on_an_empty_database(engine_url: str) -> None:
    assert current_revision(engine_url) is None

    revision = upgrade(engine_url)

    assert revision == head_revision()
    tables = set(inspect(make_engine(engine_url)).get_table_names())
    assert EXPECTED_TABLES <= tables
    assert {table.name for table in metadata.sorted_tables} == EXPECTED_TABLES


def test_upgrade_again_is_a_no_op_that_keeps_data(engine_url: str) -> None:
    upgrade(engine_url)
    with make_engine(engine_url).begin() as connection:
        connection.execute(
            text(
                "INSERT INTO reports (upload_info_id, state, discovered_at, updated_at) VALUES (7, 'pending', :t, :t)"
            ),
            {"t": "2025-01-01 00:00:00"},
        )

    assert upgrade(engine_url) == head_revision()

    with make_engine(engine_url).connect() as connection:
        assert connection.execute(text("SELECT upload_info_id FROM reports")).scalars().all() == [7]


def test_migrated_schema_matches_the_table_definitions(engine_url: str) -> None:
    """The migration and crawler/storage/tables.py describe the same columns (no drift)."""
    upgrade(engine_url)
    inspector = inspect(make_engine(engine_url))
    for table in metadata.sorted_tables:
        columns = {column["name"] for column in inspector.get_columns(table.name)}
        assert columns == set(table.columns.keys()), table.name


def test_ensure_current_refuses_an_empty_database(engine_url: str) -> None:
    with pytest.raises(SchemaError) as raised:
        ensure_current(make_engine(engine_url))
    assert "empty database" in str(raised.value)
    assert "run `fundcrawl db upgrade`" in str(raised.value)


def test_a_database_migrated_by_a_newer_fundcrawl_is_refused_not_upgraded(engine_url: str) -> None:
    upgrade(engine_url)
    with make_engine(engine_url).begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999future'"))

    with pytest.raises(SchemaError) as raised:
        ensure_current(make_engine(engine_url))
    assert "is at 9999future" in str(raised.value) and "newer fundcrawl" in str(raised.value)
    with pytest.raises(SchemaError, match="newer fundcrawl"):
        upgrade(engine_url)
    assert current_revision(engine_url) == "9999future"


def test_ensure_current_accepts_an_upgraded_database(engine_url: str) -> None:
    assert upgrade(engine_url) == head_revision()
    assert ensure_current(make_engine(engine_url)) is None  # SchemaError for anything but the head revision


def _upgrade_in_child(url: str) -> str:
    return upgrade(url)


def test_two_processes_upgrading_at_once_both_succeed(engine_url: str) -> None:
    with multiprocessing.get_context("fork").Pool(2) as pool:
        revisions = pool.map(_upgrade_in_child, [engine_url, engine_url])
    assert revisions == [head_revision(), head_revision()]
    ensure_current(make_engine(engine_url))
