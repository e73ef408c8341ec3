"""What an analyst reads, on SQLite and PostgreSQL: numbers that order and add up exactly, report facts as
columns, migrated old databases, consistent exports while the daemon stores, CSV that keeps its codes."""

from __future__ import annotations

import csv
import datetime as dt
import json
import multiprocessing
import random
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from alembic import command
from sqlalchemy import text

from crawler.export import ExportFilter, export_csv, export_jsonl, export_parquet, export_parquet_partitioned
from crawler.storage import Store, make_engine, upgrade
from crawler.storage.exports import EXPORT_TABLES, export_columns
from crawler.storage.schema import alembic_config
from crawler.storage.types import SQLITE_SCALE
from tests.storage.helpers import document, item, ref

#: Amounts that text comparison and float sums get wrong: max as text is 999312.0, a float sum shows ...13999.
AMOUNTS = [Decimal(v) for v in ("999312.0", "450042352.8", "8606704906.33", "0.1", "0.2", "3021.37", "77.07",
                                "1.1", "2.2", "3.3", "12.34", "99999.99")]


@pytest.fixture
def store(db_url: str) -> Store:
    return Store.from_url(db_url)


def _plain(value: Any) -> Any:
    """Dates as ISO text, as SQLite returns them to a raw query."""
    return value.isoformat() if isinstance(value, dt.date) else value


def _query(store: Store, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    return store.read(
        lambda connection: [tuple(_plain(v) for v in row) for row in connection.execute(text(sql), params)])


def _exact(value: Any) -> Decimal:
    """A database number as the decimal it shows (a REAL prints its shortest round-trip digits)."""
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def _holdings_document(fund_code: str, amounts: list[Decimal], **changes: Any) -> dict[str, Any]:
    stocks = [{"rank": n + 1, "code": f"{600000 + n:06d}", "name": f"股票{n}", "quantity": 100,
               "fair_value_yuan": float(amount), "pct_of_nav": round(float(amount) / 1e9, 2)}
              for n, amount in enumerate(amounts)]
    return document(fund_code, top_stocks=stocks, **changes)


def test_max_min_order_and_sum_are_exact_on_both_engines(store: Store) -> None:
    store.save_report(item(1, document=_holdings_document("016146", AMOUNTS[:6])), "x")
    store.save_report(item(2, document=_holdings_document("000001", AMOUNTS[6:])), "x")
    exact_sum = sum(AMOUNTS)

    got_max, got_min, got_sum = _query(
        store, "SELECT max(fair_value_yuan), min(fair_value_yuan), round(sum(fair_value_yuan), 2) "
               "FROM fund_holdings WHERE kind = 'stock'")[0]
    assert (_exact(got_max), _exact(got_min)) == (Decimal("8606704906.33"), Decimal("0.1"))
    assert _exact(got_sum) == exact_sum
    ordered = _query(store, "SELECT fair_value_yuan FROM fund_holdings WHERE kind = 'stock' "
                            "ORDER BY fair_value_yuan DESC")
    assert [_exact(value) for (value,) in ordered] == sorted(AMOUNTS, reverse=True)

    # The base table: NUMERIC on PostgreSQL, on SQLite integers scaled by 10**4 whose sum is exact.
    base_max, base_sum = _query(store, "SELECT max(fair_value_yuan), sum(fair_value_yuan) FROM holdings "
                                       "WHERE kind = 'stock'")[0]
    scale = Decimal(10) ** SQLITE_SCALE if store.engine.dialect.name == "sqlite" else Decimal(1)
    assert (Decimal(base_max), Decimal(base_sum)) == (Decimal("8606704906.33") * scale, exact_sum * scale)


def test_reports_carry_their_facts_and_nav_rows_their_class_and_period(store: Store) -> None:
    store.add_discovered([ref(1, fund_code="016146")])
    store.save_report(item(1, document=document("016146", manager="某基金管理有限公司", custodian="某银行")), "x")

    facts = _query(store, "SELECT fund_code, fund_name, report_kind, period_start, period_end, send_date, manager, "
                          "custodian, total_net_assets FROM latest_reports")
    assert [(*row[:8], _exact(row[8])) for row in facts] == [(
        "016146", "测试证券投资基金", "q1", "2025-01-01", "2025-03-31", "2025-04-21",
        "某基金管理有限公司", "某银行", Decimal("1234567890123.55"))]
    nav = _query(store, "SELECT class_code, class_name, period_end, nav_per_unit FROM nav_history "
                        "ORDER BY class_code")
    assert [(*row[:3], _exact(row[3])) for row in nav] == [
        ("000001", "测试A", "2025-03-31", Decimal("1.0234")),
        ("000002", "测试C", "2025-03-31", Decimal("1.0199"))]
    holders = _query(store, "SELECT fund_code, list_scope, pct_of_nav FROM security_holders WHERE code = '0700'")
    assert [(*row[:2], _exact(row[2])) for row in holders] == [("016146", "top_n", Decimal("3.5"))]


def _sqlite_text_decimals(url: str) -> bool:
    return url.startswith("sqlite")


def test_an_existing_database_migrates_with_its_numbers_and_facts(engine_url: str) -> None:
    """A database at revision 0002 (SQLite amounts as text, NAV ``total`` rows) comes over intact."""
    engine = make_engine(engine_url)
    with engine.begin() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, "0002")
    doc = _holdings_document("016146", [Decimal("999312.0"), Decimal("450042352.8")], report_kind="annual")
    now = dt.datetime(2025, 4, 22, 8, 0)
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO reports (upload_info_id, fund_code, report_type_code, report_year, send_date, period_end, "
            "state, attempts, check_failures, discovered_at, updated_at, stored_at, parser_version, page_sha256) VALUES "
            "(1, '016146', 'FB010010', '2024', '2025-03-30', '2025-03-31', 'stored', 1, 0, :now, :now, :now, '1', "
            ":sha)"),
            {"now": now, "sha": "a" * 64})
        connection.execute(text("INSERT INTO report_documents (upload_info_id, schema, parser_version, document) "
                                "VALUES (1, 'fundcrawl.report/1', '1', :doc)"),
                           {"doc": json.dumps(doc, ensure_ascii=False)})
        for position, (value, pct) in enumerate([("999312.0", "0.1"), ("450042352.8", "45.0")]):
            connection.execute(text(
                "INSERT INTO holdings (upload_info_id, parser_version, kind, position, code, fair_value_yuan, "
                "pct_of_nav) VALUES (1, '1', 'stock', :position, :code, :value, :pct)"),
                {"position": position, "code": f"60000{position}", "value": value if _sqlite_text_decimals(
                    engine_url) else Decimal(value), "pct": pct if _sqlite_text_decimals(engine_url) else Decimal(pct)})
        connection.execute(text(
            "INSERT INTO nav_values (upload_info_id, parser_version, class_name, total_net_assets) VALUES "
            "(1, '1', 'total', :value)"), {"value": "1234567890123.55" if _sqlite_text_decimals(engine_url)
                                            else Decimal("1234567890123.55")})
        if _sqlite_text_decimals(engine_url):  # the trap this migration removes
            assert connection.execute(text("SELECT max(fair_value_yuan) FROM holdings")).scalar() == "999312.0"

    upgrade(engine_url)

    store = Store(make_engine(engine_url))
    assert _exact(_query(store, "SELECT max(fair_value_yuan) FROM fund_holdings")[0][0]) == Decimal("450042352.8")
    assert _query(store, "SELECT code, list_scope FROM fund_holdings ORDER BY fair_value_yuan DESC") == [
        ("600001", "complete"), ("600000", "complete")]
    facts = _query(store, "SELECT fund_name, report_kind, period_start, total_net_assets FROM reports")
    assert [(*row[:3], _exact(row[3])) for row in facts] == [
        ("测试证券投资基金", "annual", "2025-01-01", Decimal("1234567890123.55") * (
            Decimal(10) ** SQLITE_SCALE if _sqlite_text_decimals(engine_url) else 1))]
    assert _query(store, "SELECT class_code, class_name, period_end FROM nav_history ORDER BY class_code") == [
        ("000001", "测试A", "2025-03-31"), ("000002", "测试C", "2025-03-31")]


# --- exports while the daemon stores ---------------------------------------------------------------------------

def _writer(url: str, stop: Any, started: Any, seed: int) -> None:
    """Store and re-store reports until told to stop, at ids below and above the existing ones."""
    store = Store.from_url(url)
    rng = random.Random(seed)
    saves = 0
    while not stop.is_set():
        upload_info_id = rng.randrange(1, 2000)
        store.add_discovered([ref(upload_info_id, fund_code=f"{upload_info_id:06d}")])
        amounts = [Decimal(rng.randrange(1, 10**8)) / 100 for _ in range(rng.randrange(3, 15))]
        store.save_report(item(upload_info_id, document=_holdings_document(f"{upload_info_id:06d}", amounts),
                               version=f"1.0.{saves}"), "x")
        saves += 1
        if saves == 5:
            started.set()


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _keys(rows: list[dict[str, Any]], key: list[str]) -> list[tuple[str, ...]]:
    return [tuple(str(row[name]) for name in key) for row in rows]


def test_exports_taken_while_reports_are_stored_are_consistent_snapshots(
        store: Store, db_url: str, tmp_path: Path) -> None:
    for upload_info_id in range(1, 2000, 20):
        store.save_report(item(upload_info_id, document=_holdings_document(
            f"{upload_info_id:06d}", [Decimal(n) for n in range(1, 12)])), "x")
    context = multiprocessing.get_context("spawn")
    stop, started = context.Event(), context.Event()
    writer = context.Process(target=_writer, args=(db_url, stop, started, 7), daemon=True)
    writer.start()
    try:
        assert started.wait(60), "the writer process never stored a report"
        for round_ in range(3):
            before = store.counts()["stored"]
            out = tmp_path / f"csv{round_}"
            counts = export_csv(store, out, ExportFilter(), batch_size=25)
            pq_counts = export_parquet(store, tmp_path / f"pq{round_}", ExportFilter(), batch_size=25)
            jsonl = tmp_path / f"all{round_}.jsonl"
            export_jsonl(store, jsonl, ExportFilter())
            after = store.counts()["stored"]
            package = json.loads((out / "datapackage.json").read_text(encoding="utf-8"))
            reports = {row["upload_info_id"] for row in _read_csv(out / "reports.csv")}
            assert len(reports) == counts["reports"] and before <= len(reports) <= after
            for resource in package["resources"]:
                rows = _read_csv(out / resource["path"])
                keys = _keys(rows, resource["schema"]["primaryKey"])
                assert len(keys) == len(set(keys)), f"duplicate keys in {resource['path']}"
                assert {row["upload_info_id"] for row in rows} <= reports, f"orphans in {resource['path']}"
                if resource["name"] in ("holdings", "nav_values", "share_classes"):
                    # Every report has rows here: the table shows exactly the exported reports.
                    assert {row["upload_info_id"] for row in rows} == reports
            assert pq_counts["holdings"] >= counts["reports"] and pq_counts["reports"] >= before
            lines = jsonl.read_text(encoding="utf-8").splitlines()
            assert len({json.loads(line)["upload_info_id"] for line in lines}) == len(lines) >= before
        assert store.counts()["stored"] > before, "the writer stored nothing while the exports ran"
    finally:
        stop.set()
        writer.join(30)


# --- self-describing CSV -----------------------------------------------------------------------------------------

ARROW_TYPES = {"string": pa.string(), "integer": pa.int64(), "number": pa.decimal128(38, 8), "date": pa.date32(),
               "datetime": pa.timestamp("us", tz="UTC"), "boolean": pa.bool_(), "object": pa.string()}


def test_csv_read_back_with_only_the_shipped_schema_keeps_codes_and_exact_numbers(
        store: Store, tmp_path: Path) -> None:
    store.add_discovered([ref(1, fund_code="016146")])
    store.save_report(item(1, document=_holdings_document("016146", [Decimal("450042352.8")]) | {
        "top_stocks": [{"rank": 1, "code": "000001", "name": "平安银行", "quantity": 10,
                        "fair_value_yuan": 450042352.8, "pct_of_nav": 8.84},
                       {"rank": 2, "code": "0700", "name": "腾讯控股", "quantity": 3,
                        "fair_value_yuan": 999312.0, "pct_of_nav": 0.02}]}), "x")
    out = tmp_path / "csv"
    export_csv(store, out, ExportFilter())

    package = json.loads((out / "datapackage.json").read_text(encoding="utf-8"))
    tables = {}
    for resource in package["resources"]:
        fields = resource["schema"]["fields"]
        options = pacsv.ConvertOptions(column_types={f["name"]: ARROW_TYPES[f["type"]] for f in fields},
                                       strings_can_be_null=True)
        tables[resource["name"]] = pacsv.read_csv(out / resource["path"], convert_options=options).to_pylist()
    assert [row["fund_code"] for row in tables["reports"]] == ["016146"]
    assert [(row["code"], row["fair_value_yuan"]) for row in tables["holdings"] if row["kind"] == "stock"] == [
        ("000001", Decimal("450042352.8")), ("0700", Decimal(999312))]
    assert {row["class_code"] for row in tables["nav_values"]} == {"000001", "000002"}
    # What a reader guessing types would do: the schema is what keeps the leading zeros.
    assert pacsv.read_csv(out / "reports.csv").column("fund_code").to_pylist() == [16146]


def test_the_readme_data_dictionary_lists_every_exported_column() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    dictionary = readme.split("**Data dictionary**", 1)[1].split("\n\n", 2)[1]
    rows = {line.split("|")[1].strip().strip("`"): line for line in dictionary.splitlines()[2:]}
    for table in EXPORT_TABLES:
        missing = [column for column, _kind in export_columns(table) if f"`{column}`" not in rows[table]]
        assert missing == [], f"README data dictionary misses {table}.{missing}"


# --- a Hive-partitioned Parquet dataset that updates only what changed -------------------------------------------

def _files(root: Path) -> dict[str, int]:
    """Each file's inode: a rewritten file is a new file renamed into place (created while the old one exists)."""
    return {str(path.relative_to(root)): path.stat().st_ino for path in root.rglob("*.parquet")}


def _dataset_keys(root: Path, table: str) -> set[tuple[Any, ...]]:
    import pyarrow.dataset as ds

    rows = ds.dataset(root / table, format="parquet", partitioning="hive").to_table().to_pylist()
    return {(row["report_kind"], str(row["period_end"]), row["upload_info_id"], row.get("kind"), row.get("position"))
            for row in rows}


def test_partitioned_parquet_rewrites_only_the_partitions_that_changed(store: Store, tmp_path: Path) -> None:
    periods = {1: ("q1", "2025-03-31"), 2: ("q1", "2025-03-31"), 3: ("annual", "2024-12-31"), 4: ("q3", "2024-09-30")}
    for upload_info_id, (kind, period_end) in periods.items():
        store.save_report(item(upload_info_id, document=document(
            f"{upload_info_id:06d}", report_kind=kind, period_end=period_end)), "x")
    out = tmp_path / "lake"

    first = export_parquet_partitioned(store, out, ExportFilter())
    assert first == {"partitions": 3, "written": 3, "removed": 0}
    expected = {(kind, period_end, i, "stock", position)
                for i, (kind, period_end) in periods.items() for position in (0, 1)}
    assert {key for key in _dataset_keys(out, "holdings") if key[3] == "stock"} == expected
    files = _files(out)
    assert "holdings/report_kind=annual/period_end=2024-12-31/part-0.parquet" in files

    assert export_parquet_partitioned(store, out, ExportFilter()) == {"partitions": 3, "written": 0, "removed": 0}
    assert _files(out) == files

    store.save_report(item(5, document=document("000005", report_kind="annual", period_end="2024-12-31")), "x")
    store.save_report(item(4, document=document("000004", report_kind="q3", period_end="2024-09-30"),
                           version="2.0.0"), "x")
    assert export_parquet_partitioned(store, out, ExportFilter()) == {"partitions": 3, "written": 2, "removed": 0}
    changed = {path for path, inode in _files(out).items() if files.get(path) != inode}
    assert {path.split("/", 1)[1].rsplit("/", 1)[0] for path in changed} == {
        "report_kind=annual/period_end=2024-12-31", "report_kind=q3/period_end=2024-09-30"}
    assert ("annual", "2024-12-31", 5, "stock", 0) in _dataset_keys(out, "holdings")


def _page_rows(root: Path, table: str, *columns: str) -> set[tuple[Any, ...]]:
    import pyarrow.dataset as ds

    rows = ds.dataset(root / table, format="parquet").to_table().to_pylist()
    return {tuple(row[name] for name in ("upload_info_id", "page_sha256", *columns)) for row in rows}


def test_partitioned_parquet_of_every_version_keeps_each_page_and_follows_corrections(store: Store,
                                                                                      tmp_path: Path) -> None:
    out = tmp_path / "lake"
    every = ExportFilter(all_versions=True)
    store.save_report(item(1, sha="a" * 64), "x")
    assert export_parquet_partitioned(store, out, every) == {"partitions": 1, "written": 1, "removed": 0}
    assert export_parquet_partitioned(store, out, every) == {"partitions": 1, "written": 0, "removed": 0}

    # The site replaces the page behind the same id: the partition is rewritten with the rows of both pages.
    store.save_report(item(1, sha="c" * 64, document=document(nav_per_unit={"测试A": 1.5, "测试C": 1.0199})), "x")
    assert export_parquet_partitioned(store, out, every) == {"partitions": 1, "written": 1, "removed": 0}
    assert _page_rows(out, "reports", "is_current", "superseded_by", "superseded_by_sha256") == {
        (1, "a" * 64, False, 1, "c" * 64), (1, "c" * 64, True, None, None)}
    assert {(sha, nav) for _id, sha, name, nav in _page_rows(out, "nav_values", "class_name", "nav_per_unit")
            if name == "测试A"} == {("a" * 64, Decimal("1.0234")), ("c" * 64, Decimal("1.5"))}

    # A new id for the slot supersedes the id's latest page; the current export keeps only the new id.
    store.save_report(item(2, sha="d" * 64), "x")
    assert export_parquet_partitioned(store, out, every)["written"] == 1
    assert (1, "c" * 64, False, 2, "d" * 64) in _page_rows(out, "reports", "is_current", "superseded_by",
                                                          "superseded_by_sha256")
    assert export_parquet_partitioned(store, out, ExportFilter()) == {"partitions": 1, "written": 1, "removed": 0}
    assert _page_rows(out, "reports", "is_current") == {(2, "d" * 64, True)}
    assert {(i, sha) for i, sha in _page_rows(out, "holdings")} == {(2, "d" * 64)}


def test_every_partitioned_table_reads_back_as_the_readme_says_typed_like_the_flat_export(store: Store,
                                                                                       tmp_path: Path) -> None:
    import collections
    import re

    import pyarrow.parquet as pq

    from crawler.export import partitioning_schema

    periods = {1: ("q1", "2025-03-31"), 2: ("q1", "2025-03-31"), 3: ("annual", "2024-12-31"), 4: (None, None)}
    for upload_info_id, (kind, period_end) in periods.items():
        store.save_report(item(upload_info_id, document=document(
            f"{upload_info_id:06d}", report_kind=kind, period_end=period_end)), "x")
    export_parquet(store, tmp_path / "flat", ExportFilter())
    lake = tmp_path / "lake"
    export_parquet_partitioned(store, lake, ExportFilter())

    # The README's read, run as printed with its DIR: every table, the keys typed by an explicit schema.
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    lake_text = readme.split("**A data lake that stays current cheaply.**", 1)[1]
    found = re.search(r"```python\n(.*?)```", lake_text, re.DOTALL)
    assert found is not None, "README shows no partitioned read"
    namespace: dict[str, Any] = {"DIR": str(lake)}
    exec(found.group(1), namespace)  # noqa: S102 - the README's own example, run as a reader would
    assert namespace["keys"].schema == partitioning_schema()
    assert set(namespace["tables"]) == set(EXPORT_TABLES)

    for table in EXPORT_TABLES:
        flat = pq.read_table(tmp_path / "flat" / f"{table}.parquet")
        read = namespace["tables"][table]
        # The read adds both keys to every table; reports has both as columns, nav_values period_end.
        assert {"report_kind", "period_end"} <= set(read.column_names), table
        read = read.select(flat.column_names)
        assert read.schema == flat.schema, table
        assert flat.num_rows > 0, table
        rows = collections.Counter(tuple(row.values()) for row in read.to_pylist())
        assert rows == collections.Counter(tuple(row.values()) for row in flat.to_pylist()), table

    reports = namespace["tables"]["reports"].to_pylist()
    assert {(row["upload_info_id"], row["report_kind"], row["period_end"]) for row in reports} == {
        (i, kind, period_end and dt.date.fromisoformat(period_end)) for i, (kind, period_end) in periods.items()}
    # A part file holds no partition key, in any table.
    for part in lake.rglob("*.parquet"):
        assert not {"report_kind", "period_end"} & set(pq.read_schema(part).names), part


def test_a_lake_written_with_the_keys_in_its_files_is_rewritten_whole(store: Store, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    store.save_report(item(1), "x")
    lake = tmp_path / "lake"
    export_parquet_partitioned(store, lake, ExportFilter())
    # The manifest of a fundcrawl whose reports files held report_kind and period_end.
    manifest = json.loads((lake / "_fundcrawl_partitions.json").read_text(encoding="utf-8"))
    del manifest["scope"]["layout"]
    manifest["scope"]["columns"]["reports"] = [list(column) for column in export_columns("reports")]
    (lake / "_fundcrawl_partitions.json").write_text(json.dumps(manifest), encoding="utf-8")
    part = next((lake / "reports").rglob("part-0.parquet"))
    pq.write_table(pq.read_table(part).append_column("period_end", pa.array([dt.date(2025, 3, 31)])), part)

    assert export_parquet_partitioned(store, lake, ExportFilter()) == {"partitions": 1, "written": 1, "removed": 0}
    assert "period_end" not in pq.read_schema(part).names
    assert export_parquet_partitioned(store, lake, ExportFilter()) == {"partitions": 1, "written": 0, "removed": 0}
