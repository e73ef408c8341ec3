"""Bulk writes: ``insert_rows`` stores exactly what an ``INSERT`` of the same rows stores, on both engines."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Connection, delete, select, text
from sqlalchemy.exc import IntegrityError, OperationalError

from crawler.storage import Store, make_engine, upgrade
from crawler.storage.bulk import insert_rows
from crawler.storage.engine import is_transient
from crawler.storage.tables import holdings, nav_values
from tests.storage.fixtures import empty_postgres
from tests.storage.helpers import ref

#: Text COPY's format would misread if it went unescaped: its delimiter, line ends, its escape character, its NULL
#: marker and its end-of-data marker, with Chinese text and an empty string beside them.
AWKWARD_TEXT = ["a\tb", "line\nnext", "cr\rlf\r\n", "back\\slash", "\\N", "\\.", "贵州茅台", "", " padded ",
                "quote ' and \" both", "comma, semicolon;"]


def _holding(position: int, name: str | None) -> dict[str, Any]:
    return {"upload_info_id": 1, "parser_version": "1.0.0", "kind": "stock", "position": position, "rank": position,
            "code": None if position % 3 == 0 else f"{600000 + position}", "name": name,
            "quantity": Decimal("123456789012.34") if position % 2 else None,
            "fair_value_yuan": Decimal("-0.0001") * position, "pct_of_nav": Decimal("1E+2"),
            "extra": {"note": name, "nested": [1, 2.5, None, True]} if position % 2 else None,
            "list_scope": "top_n"}


def _stored(store: Store, table: Any) -> list[tuple[Any, ...]]:
    statement = select(table).order_by(*(table.c[name] for name in ("upload_info_id", "position", "class_name")
                                        if name in table.c))
    return store.read(lambda connection: [tuple(row) for row in connection.execute(statement)])


@pytest.fixture
def store(db_url: str) -> Store:
    store = Store.from_url(db_url)
    store.add_discovered([ref(1)])
    return store


def test_inserted_rows_read_back_as_an_insert_of_them_does(store: Store) -> None:
    rows = [_holding(position, name) for position, name in enumerate([*AWKWARD_TEXT, None], start=1)]

    def through_insert(connection: Connection) -> None:
        connection.execute(holdings.insert(), rows)

    def through_bulk(connection: Connection) -> None:
        connection.execute(delete(holdings))
        insert_rows(connection, holdings, rows)

    store.write(through_insert)
    expected = _stored(store, holdings)
    store.write(through_bulk)

    assert _stored(store, holdings) == expected
    assert [row[6] for row in expected] == [*AWKWARD_TEXT, None]  # name, as given
    assert expected[0][7] == Decimal("123456789012.34") and expected[2][9] == Decimal(100)


def test_dates_and_missing_values_go_in_as_the_columns_type_them(store: Store) -> None:
    row = {"upload_info_id": 1, "parser_version": "1.0.0", "class_name": "A类", "class_code": None,
           "period_end": dt.date(2026, 9, 30), "total_net_assets": Decimal("1.5"),
           "nav_per_unit": 1.0123, "ending_shares": None}

    store.write(lambda connection: insert_rows(connection, nav_values, [row]))

    assert _stored(store, nav_values) == [(1, "1.0.0", "A类", None, row["period_end"], Decimal("1.5"),
                                           Decimal("1.0123"), None)]


def test_nothing_is_written_when_a_row_lacks_a_column_or_the_batch_is_empty(store: Store) -> None:
    rows = [_holding(1, "first"), {key: value for key, value in _holding(2, "second").items() if key != "extra"}]

    with pytest.raises(ValueError, match="do not all have the columns"):
        store.write(lambda connection: insert_rows(connection, holdings, rows))
    store.write(lambda connection: insert_rows(connection, holdings, []))

    assert _stored(store, holdings) == []


def test_a_value_the_column_refuses_fails_the_whole_insert(store: Store) -> None:
    rows = [_holding(1, "kept?"), {**_holding(2, "no kind"), "kind": None}]

    with pytest.raises(IntegrityError, match="(?i)not.null"):
        store.write(lambda connection: insert_rows(connection, holdings, rows))

    assert _stored(store, holdings) == []


def test_a_postgresql_connection_lost_during_the_copy_is_retried_whole(pg_database_url: str) -> None:
    """The COPY runs on the driver's cursor, outside SQLAlchemy's execute: its lost connection must still be the
    invalidated, transient error the rest of the store retries, not a driver error that fails the report."""
    empty_postgres(pg_database_url)
    upgrade(pg_database_url)
    store = Store.from_url(pg_database_url)
    store.add_discovered([ref(1)])
    rows = [_holding(position, f"stock {position}") for position in range(1, 4)]
    calls: list[int] = []

    def work(connection: Connection) -> None:
        calls.append(1)
        if len(calls) == 1:
            pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
            with make_engine(pg_database_url).connect() as admin:
                admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        insert_rows(connection, holdings, rows)

    store.write(work)

    assert calls == [1, 1]
    assert [row[6] for row in _stored(store, holdings)] == ["stock 1", "stock 2", "stock 3"]
    with make_engine(pg_database_url).connect() as connection:
        pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with make_engine(pg_database_url).connect() as admin:
            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        with pytest.raises(OperationalError) as raised:
            insert_rows(connection, holdings, rows)
    assert raised.value.connection_invalidated and is_transient(raised.value)
