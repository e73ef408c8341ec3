"""Saving parsed reports: one transaction, idempotent, byte-exact text and exact numbers."""

from __future__ import annotations

import datetime as dt
import math
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, inspect, select, text

from crawler.archive import FileArchive as Archive
from crawler.models import ReportItem
from crawler.storage import Saved, Store, make_engine
from crawler.storage.documents import DocumentError
from crawler.storage.tables import (
    NORMALIZED,
    asset_allocation,
    holdings,
    nav_values,
    report_documents,
    report_versions,
    reports,
    share_changes,
    share_classes,
)
from tests.storage.helpers import NOW, document, holding, item, ref, row_counts


@pytest.fixture
def store(db_url: str) -> Store:
    return Store.from_url(db_url)


def _rows(store: Store, table: Any, *columns: str) -> list[tuple[Any, ...]]:
    statement = select(*(table.c[name] for name in columns)).order_by(*(table.c[name] for name in columns))
    return store.read(lambda connection: [tuple(row) for row in connection.execute(statement)])


def test_saving_twice_changes_nothing(store: Store) -> None:
    store.add_discovered([ref(1)])
    assert store.save_report(item(1, checks={"sum": None, "nav": "off by 0.2"}), "aa/aa/a.html")
    before = row_counts(store)
    stored_at = store.state(1)["stored_at"]

    assert store.save_report(item(1, checks={"sum": None, "nav": "off by 0.2"}), "aa/aa/a.html")

    assert row_counts(store) == before
    # Two share classes: two NAV rows (the fund-level total is on the reports row).
    assert before["holdings"] == 3 and before["nav_values"] == 2 and before["share_classes"] == 2
    assert store.state(1)["stored_at"] == stored_at
    assert store.counts() == {"total": 1, "stored": 1, "failed": 0, "pending": 0}


@pytest.mark.parametrize("discovered", [True, False])
def test_parallel_saves_of_one_report_neither_fail_nor_duplicate(store: Store, discovered: bool) -> None:
    """Two executions of one report can overlap (a lease taken over): the last one wins."""
    if discovered:
        store.add_discovered([ref(1)])
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def save(version: str) -> None:
        barrier.wait()
        try:
            store.save_report(item(1, version=version), "x")
        except BaseException as error:  # noqa: BLE001 - collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=save, args=(f"1.0.{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    counts = row_counts(store)
    assert (counts["reports"], counts["report_documents"], counts["holdings"], counts["nav_values"]) == (
        1,
        1,
        3,
        2,
    )
    version = store.state(1)["parser_version"]
    assert {row[0] for row in _rows(store, holdings, "parser_version")} == {version}


def test_saved_report_records_provenance_and_checks(store: Store) -> None:
    store.add_discovered([ref(1)])

    def saved_item(sha: str = "b" * 64, version: str = "2.1.0", nav_check: str = "off by 0.2") -> ReportItem:
        return item(1, sha=sha, version=version, checks={"sum": None, "nav": nav_check},
                    unknown_sections=["§9 未知"], section_errors={"holders": "no table"}, final_url="http://x/y.html")

    store.save_report(saved_item(), "bb/bb/b.html")

    state = store.state(1)
    assert (state["state"], state["page_sha256"], state["parser_version"]) == ("stored", "b" * 64, "2.1.0")
    assert state["check_failures"] == 1 and state["archive_path"] == "bb/bb/b.html"
    assert store.already_stored(saved_item())
    assert not store.already_stored(saved_item(version="2.2.0")) and not store.already_stored(saved_item(sha="c" * 64))
    assert not store.already_stored(saved_item(nav_check="off by 0.3"))  # same page and parser, another result
    columns = store.read(lambda c: c.execute(select(reports.c.checks, reports.c.unknown_sections)).one())
    assert columns.checks == {"sum": None, "nav": "off by 0.2"} and columns.unknown_sections == ["§9 未知"]
    assert _rows(store, holdings, "kind", "code") == [
        ("precious_metal", "Au99.99"),
        ("stock", "0700"),
        ("stock", "600519"),
    ]


def test_numbers_are_stored_with_the_printed_digits(store: Store) -> None:
    store.add_discovered([ref(1)])
    store.save_report(item(1), "x")

    assert _rows(store, nav_values, "class_name", "class_code", "total_net_assets", "nav_per_unit") == [
        ("测试A", "000001", Decimal("1234567890123.45"), Decimal("1.0234")),
        ("测试C", "000002", Decimal("0.1"), Decimal("1.0199")),
    ]
    # The fund-level total of a multi-class fund is a fact of the report, not a class with a NULL NAV.
    assert _rows(store, reports, "total_net_assets", "ending_shares") == [(Decimal("1234567890123.55"), None)]
    assert _rows(store, share_changes, "redemptions", "split") == [(Decimal("21.07"), None)]
    assert _rows(store, asset_allocation, "position", "seq", "category", "pct_of_total_assets") == [
        (0, "1", "权益投资", Decimal("8.84")),
        (1, None, "其中：股票", Decimal("8.84")),
    ]
    extra = store.read(
        lambda c: c.execute(select(holdings.c.extra).where(holdings.c.code == "0700")).scalar_one()
    )
    assert extra == {"name_en": "Tencent", "exchange": "HKEX"}


def test_referenced_pages_are_what_the_archive_sweep_keeps(store: Store, tmp_path: Path) -> None:
    archive = Archive(tmp_path)
    kept, orphan = archive.save(b"stored page"), archive.save(b"page of a report that failed later")
    store.add_discovered([ref(1), ref(2)])
    store.save_report(item(1, sha=kept.sha256), kept.relative)

    assert store.referenced_pages() == {kept.sha256}
    assert archive.sweep_orphans(store.referenced_pages()) == 1
    assert archive.exists(kept.sha256) and not archive.exists(orphan.sha256)


def test_a_reparse_replaces_the_rows_of_the_previous_version(store: Store) -> None:
    store.add_discovered([ref(1)])
    store.save_report(item(1, version="1.0.0"), "x")

    smaller = document(
        top_stocks=[
            {
                "rank": 1,
                "code": "000333",
                "name": "美的集团",
                "quantity": 1,
                "fair_value_yuan": 2.0,
                "pct_of_nav": 0.5,
            }
        ]
    )
    del smaller["share_classes"]
    store.save_report(item(1, version="1.1.0", document=smaller), "x")

    assert _rows(store, holdings, "code", "parser_version") == [("000333", "1.1.0"), ("Au99.99", "1.1.0")]
    assert _rows(store, share_classes, "class_name") == []
    assert store.document(1)["top_stocks"][0]["code"] == "000333"
    assert store.stored_for_reparse("1.1.0") == []
    assert store.stored_for_reparse("1.2.0") == [(1, "a" * 64)]
    assert store.stored_for_reparse("1.1.0", all_=True) == [(1, "a" * 64)]


def test_only_a_report_stored_before_has_rows_deleted(store: Store) -> None:
    """A first save writes its rows without deleting any; a later one replaces them (one transaction each)."""
    store.add_discovered([ref(1)])
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement.lstrip().split()[0].upper())

    event.listen(store.engine, "before_cursor_execute", record)
    try:
        store.save_report(item(1), "x")
        first, statements[:] = list(statements), []
        stored_first = row_counts(store)
        store.save_report(item(1, version="1.1.0"), "x")
    finally:
        event.remove(store.engine, "before_cursor_execute", record)

    assert "DELETE" not in first and stored_first["holdings"] == 3 and stored_first["report_documents"] == 1
    assert statements.count("DELETE") == 6
    assert row_counts(store)["holdings"] == 3


def test_a_failed_report_is_not_stored_until_replayed(store: Store) -> None:
    store.add_discovered([ref(1)])
    store.mark_failed(1, reason="parse_error", error="no tables")

    assert not store.save_report(item(1), "x")
    assert row_counts(store)["report_documents"] == 0 and row_counts(store)["holdings"] == 0

    store.reset_failed([1])
    assert store.save_report(item(1), "x")
    assert store.state(1)["state"] == "stored"


def test_saving_a_report_discovery_never_saw_creates_its_row(store: Store) -> None:
    """A plain Scrapy crawl (no discovery) still gets a complete report row."""
    store.save_report(item(5, listing={}), "x")

    listing = store.listing(5)
    assert listing is not None
    assert (listing["fund_code"], listing["report_type_code"], listing["send_date"]) == (
        "000001",
        "FB030010",
        "2025-04-21",
    )
    assert store.state(5)["state"] == "stored"


def test_a_document_with_a_wrong_value_is_refused_and_nothing_is_written(store: Store) -> None:
    store.add_discovered([ref(1)])
    before = row_counts(store)

    with pytest.raises(DocumentError, match=r"report 1: .*top_stocks\[0\].rank: str where int was expected"):
        store.save_report(item(1, document=document(top_stocks=[holding(rank="1")])), "x")

    assert row_counts(store) == before and store.state(1)["state"] == "pending"


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (math.nan, "nan is not a finite number"),
        (math.inf, "inf is not a finite number"),
        (Decimal("8.84"), "Decimal where float was expected"),
        (dt.date(2025, 3, 31), "date where float was expected"),
    ],
)
def test_a_value_storage_could_make_fit_is_refused_instead(store: Store, value: object, why: str) -> None:
    """A NaN from a broken cell is neither a database error looping to poison nor stored as null (nor a decimal
    as a float, a date as text): the document is refused as it was handed over, and the store pipeline drops it."""
    store.add_discovered([ref(1)])
    before = row_counts(store)

    with pytest.raises(DocumentError, match=rf"report 1: .*top_stocks\[0\]\.pct_of_nav: {why}"):
        store.save_report(item(1, document=document(top_stocks=[holding(pct_of_nav=value)])), "x")

    assert row_counts(store) == before and store.state(1)["state"] == "pending"


HOSTILE_NAMES = [
    "'; DROP TABLE reports; --",
    '" OR 1=1 --',
    "\u202eRTL override\u202c 基金",
    "🚀 火箭 ETF 👨‍👩‍👧",
    "back\\slash %s %(name)s {0}",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_names_are_stored_byte_exact(store: Store, name: str) -> None:
    tables_before = set(inspect(store.engine).get_table_names())
    store.add_discovered([ref(1, name=name)])
    store.save_report(
        item(1, document=document(fund_name=name, top_stocks=[holding(rank=1, code="1", name=name)])), "x"
    )

    assert store.listing(1)["fund_short_name"].encode() == name.encode()
    assert store.document(1)["fund_name"].encode() == name.encode()
    assert sorted(_rows(store, holdings, "name")) == sorted([("黄金",), (name,)])
    assert set(inspect(store.engine).get_table_names()) == tables_before


def test_nul_characters_are_removed_by_rule_on_every_engine(store: Store) -> None:
    """PostgreSQL text cannot hold U+0000: it is stripped everywhere, never retried as a database error."""
    store.add_discovered([ref(1, name="A\x00B")])
    store.save_report(
        item(
            1,
            document=document(fund_name="C\x00D", top_stocks=[holding(name="E\x00F")]),
            checks={"x\x00": "y\x00"},
        ),
        "x",
    )
    store.mark_failed(1, reason="schema", error="bad\x00")  # stored: ignored, must not raise either

    assert store.listing(1)["fund_short_name"] == "AB"
    assert store.document(1)["fund_name"] == "CD"
    assert ("EF",) in _rows(store, holdings, "name")


def test_iter_documents_filters_and_pages(store: Store) -> None:
    specs = [
        (1, "000001", "FB030010", "2025-03-31"),
        (2, "000002", "FB030010", "2025-03-31"),
        (3, "000001", "FB010010", "2024-12-31"),
        (4, "000003", "FB030010", "2025-03-31"),
        (5, "000001", "FB030010", "2024-03-31"),
    ]
    for upload_info_id, code, type_code, period_end in specs:
        store.add_discovered([ref(upload_info_id, fund_code=code, report_type_code=type_code,
                                  report_year=period_end[:4])])
        store.save_report(item(upload_info_id, document=document(code, period_end=period_end)), "x")
    store.add_discovered([ref(6)])  # pending: never exported

    everything = list(store.iter_documents(batch_size=2))
    assert [upload_info_id for upload_info_id, _ in everything] == [1, 2, 3, 4, 5]
    assert everything[1][1]["fund_code"] == "000002"
    assert [i for i, _ in store.iter_documents(fund_codes=["000001"])] == [1, 3, 5]
    assert [i for i, _ in store.iter_documents(report_types=["annual"])] == [3]
    assert [
        i for i, _ in store.iter_documents(report_types=["FB030010"], period_from=dt.date(2025, 1, 1))
    ] == [1, 2, 4]
    assert [i for i, _ in store.iter_documents(period_to=dt.date(2024, 12, 31))] == [3, 5]


TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=60)
NUMBERS = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e300, max_value=1e300)
#: What a page prints: up to 15 significant digits, at most 4 decimals, below 9e14 (SQLite keeps these exactly).
PRINTED = st.builds(lambda digits, places: float(Decimal(digits).scaleb(-places)),
                    st.integers(-(10**15) + 1, 10**15 - 1), st.integers(0, 4)).filter(lambda x: abs(x) < 9e14)


def _save_holding(store: Store, name: str, amount: float, pct: float) -> Any:
    upload_info_id = abs(hash((name, amount, pct))) % 10**9 + 1
    row = holding(rank=1, code=name, name=name, fair_value_yuan=amount, pct_of_nav=pct)
    store.save_report(item(upload_info_id, document=document(fund_name=name, top_stocks=[row])), "x")
    statement = select(holdings.c.name, holdings.c.fair_value_yuan, holdings.c.pct_of_nav).where(
        holdings.c.upload_info_id == upload_info_id, holdings.c.kind == "stock"
    )
    stored = store.read(lambda connection: connection.execute(statement).one())
    assert stored.name == name and store.document(upload_info_id)["fund_name"] == name
    return stored


@given(name=TEXT, amount=PRINTED, pct=PRINTED)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_text_and_any_printed_number_round_trip_exactly(
    store: Store, name: str, amount: float, pct: float
) -> None:
    stored = _save_holding(store, name, amount, pct)
    assert stored.fair_value_yuan == Decimal(repr(amount)) and float(stored.fair_value_yuan) == amount
    assert stored.pct_of_nav == Decimal(repr(pct))


@given(amount=NUMBERS, pct=NUMBERS)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_finite_number_is_kept_exactly_on_postgresql_and_to_the_double_on_sqlite(
    store: Store, amount: float, pct: float
) -> None:
    """Beyond what pages print (more than 4 decimals, beyond 9e14) SQLite keeps the nearest double of the value."""
    stored = _save_holding(store, "x", amount, pct)
    if store.engine.dialect.name == "postgresql":
        assert stored.fair_value_yuan == Decimal(repr(amount)) and stored.pct_of_nav == Decimal(repr(pct))
    else:
        assert math.isclose(float(stored.fair_value_yuan), amount, rel_tol=1e-15, abs_tol=1e-300)
        assert math.isclose(float(stored.pct_of_nav), pct, rel_tol=1e-15, abs_tol=1e-300)


def test_a_single_class_fund_is_its_own_class(store: Store) -> None:
    single = document(share_classes=None, total_net_assets={"total": 5.5}, nav_per_unit={"total": 1.25},
                      ending_shares={"total": 4.4})
    del single["share_classes"]
    store.save_report(item(1, document=single), "x")

    assert _rows(store, nav_values, "class_name", "class_code", "period_end", "nav_per_unit") == [
        ("测试证券投资基金", "000001", dt.date(2025, 3, 31), Decimal("1.25"))
    ]
    assert _rows(store, reports, "fund_name", "report_kind", "period_start", "total_net_assets") == [
        ("测试证券投资基金", "q1", dt.date(2025, 1, 1), Decimal("5.5"))
    ]


def test_documents_are_stored_as_readable_utf8_json(store: Store) -> None:
    store.save_report(item(1), "x")
    raw = store.read(
        lambda c: c.execute(text("SELECT CAST(document AS TEXT) FROM report_documents")).scalar_one()
    )
    assert "测试证券投资基金" in raw


def _everything(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every row a save writes, table by table, sorted (without surrogate ids, which a sequence numbers)."""
    tables = (reports, report_documents, report_versions, *NORMALIZED)

    def read(connection: Any) -> dict[str, list[tuple[Any, ...]]]:
        return {table.name: sorted((tuple(row) for row in connection.execute(
            select(*(column for column in table.columns if column.name != "id")))), key=repr) for table in tables}

    return store.read(read)


def _saves_of_a_batch(store: Store, together: bool) -> tuple[list[Any], dict[str, list[tuple[Any, ...]]]]:
    """One batch of every kind of save, from an empty database: what each save returned, and every row after."""
    store.write(lambda connection: [connection.execute(table.delete()) for table in
                                    (report_versions, *NORMALIZED, report_documents, reports)])
    store.add_discovered([ref(1), ref(2, send_date=dt.date(2025, 4, 25)), ref(3, fund_code="000003"),
                          ref(4, fund_code="000004")])
    for upload_info_id, sha in ((1, "a"), (2, "b"), (4, "d")):
        store.save_report(item(upload_info_id, sha=sha * 64), f"{sha}/{upload_info_id}")
    with store.engine.begin() as connection:  # report 4 failed since (a failed report is not stored until replayed)
        connection.execute(reports.update().where(reports.c.upload_info_id == 4).values(state="failed"))
    batch = [
        (item(1, sha="a" * 64, version="1.1.0", document=document(nav_per_unit={"测试A": 1.5})), "a/1"),  # re-parse
        (item(2, sha="c" * 64, document=document(fund_name="更正")), "c/2"),  # a new page behind the same id
        (item(3, sha="e" * 64, document=document("000003")), "e/3"),  # a first save
        (item(4, sha="d" * 64), "d/4"),  # a failed report
        (item(5, sha="f" * 64, document=document(fund_name=5)), "f/5"),  # a document that does not fit
    ]
    if together:
        results = store.save_reports(batch)
    else:
        results = []
        for report, path in batch:
            try:
                results.append(store.save_report(report, path))
            except DocumentError as error:
                results.append(error)
    return [str(result) if isinstance(result, DocumentError) else result for result in results], _everything(store)


def test_a_batch_saves_each_report_as_its_own_save_would(db_url: str) -> None:
    """A re-parse batch writes its reports together (one statement per table for those saved again from their
    stored pages); every other kind of save in it goes the long way. The rows come out the same to the byte."""
    store = Store(make_engine(db_url), clock=lambda: NOW)
    one_by_one, rows_one_by_one = _saves_of_a_batch(store, together=False)
    together, rows_together = _saves_of_a_batch(store, together=True)

    assert together == one_by_one
    assert rows_together == rows_one_by_one
    assert together[0] == Saved() and together[3] is None and "fund_name: int where str" in together[4]
    assert together[1].correction is not None and together[1].correction.kind == "same_id"
    assert store.document(1)["nav_per_unit"] == {"测试A": 1.5} and store.document(2)["fund_name"] == "更正"
    assert [version["parser_version"] for version in store.versions([1])] == ["1.1.0"]


def test_saving_a_batch_of_reports_again_takes_as_many_statements_as_one(store: Store) -> None:
    """What makes a re-parse batch cheap: its reports saved again from their stored pages share each statement."""
    refs = [ref(upload_info_id, fund_code=f"00000{upload_info_id}") for upload_info_id in range(1, 4)]
    store.add_discovered(refs)
    for each in refs:
        store.save_report(item(each.upload_info_id, document=document(each.fund_code)), "x")
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(store.engine, "before_cursor_execute", count)
    try:
        fixed = [(item(each.upload_info_id, version="1.1.0", document=document(each.fund_code, fund_name="修正")), "x")
                 for each in refs]
        assert store.save_reports(fixed[:1]) == [Saved()]
        one = len(statements)
        statements.clear()
        assert store.save_reports(fixed) == [Saved()] * 3
    finally:
        event.remove(store.engine, "before_cursor_execute", count)
    assert len(statements) == one
    assert {store.document(each.upload_info_id)["fund_name"] for each in refs} == {"修正"}
