"""Real pages in the normalized tables, on SQLite and PostgreSQL: a REIT's asset allocation keeps its printed
percentages with the basis they are shares of, and share changes are rows per share class with no ``total``
class; a database holding the old rows migrates to the same answers."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
import sqlalchemy as sa
from alembic import command

from crawler.export import ExportFilter, export_csv
from crawler.parsing import parse_report
from crawler.storage import Store, make_engine, upgrade
from crawler.storage.schema import alembic_config
from crawler.storage.tables import asset_allocation, nav_values, reports, share_changes
from crawler.storage.types import SQLITE_SCALE, ExactDecimal
from tests.constants import CORPUS_DIR
from tests.storage.helpers import item

REITS = ("508086_2024_annual", "508099_2024_annual", "180303_2024_annual", "180801_2024_annual")
ORDINARY = "013242_2024_annual"  # single class
MULTI_CLASS = "001643_2024_annual"  # classes A and C
PAGES = (*REITS, ORDINARY, MULTI_CLASS)


@cache
def _document(name: str) -> tuple[dict[str, Any], str]:
    parsed = parse_report((CORPUS_DIR.resolve() / f"{name}.html").read_bytes())
    return parsed.document, parsed.parser_version


def _id(name: str) -> int:
    return PAGES.index(name) + 1


def _exact(value: object) -> Decimal | None:
    return None if value is None else Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))


@pytest.fixture
def store(db_url: str) -> Store:
    store = Store.from_url(db_url)
    for name in PAGES:
        document, version = _document(name)
        store.save_report(item(_id(name), document=document, version=version, sha=f"{_id(name):064d}"), "x")
    return store


def _rows(store: Store, statement: Any) -> list[dict[str, Any]]:
    return store.read(lambda connection: [dict(row) for row in connection.execute(statement).mappings()])


def _allocation(store: Store, name: str) -> list[tuple[Any, ...]]:
    statement = (sa.select(asset_allocation.c.category, asset_allocation.c.pct, asset_allocation.c.pct_basis,
                           asset_allocation.c.pct_of_total_assets)
                 .where(asset_allocation.c.upload_info_id == _id(name)).order_by(asset_allocation.c.position))
    return [tuple(row.values()) for row in _rows(store, statement)]


def test_reit_allocation_rows_keep_the_printed_percentage_and_its_basis(store: Store) -> None:
    for name in REITS:
        document, _version = _document(name)
        printed = [(row["category"], _exact(row["pct_of_non_abs_portfolio"]), "non_abs_portfolio", None)
                   for row in document["asset_allocation"]]
        assert printed and any(row[1] for row in printed)
        assert _allocation(store, name) == printed, name
    # 508086 holds nothing but cash outside its infrastructure ABS: 100% of that sub-portfolio, not of the fund.
    assert _allocation(store, "508086_2024_annual") == [
        ("货币资金和结算备付金合计", Decimal(100), "non_abs_portfolio", None)]


def test_ordinary_allocation_rows_fill_pct_and_pct_of_total_assets_alike(store: Store) -> None:
    document, _version = _document(ORDINARY)
    printed = [(row["category"], _exact(row["pct_of_total_assets"]), "total_assets",
                _exact(row["pct_of_total_assets"])) for row in document["asset_allocation"]]
    assert any(row[1] for row in printed) and _allocation(store, ORDINARY) == printed


def test_percentages_order_and_add_up_exactly_in_sql_on_both_engines(store: Store) -> None:
    """The base table's numbers: NUMERIC on PostgreSQL, integers scaled by 10**4 on SQLite; a sum per basis is
    exact, and a REIT's shares of its sub-portfolio add up to 100."""
    scale = Decimal(10) ** SQLITE_SCALE if store.engine.dialect.name == "sqlite" else Decimal(1)
    sql = sa.text("SELECT upload_info_id, sum(pct) FROM asset_allocation WHERE pct_basis = 'non_abs_portfolio' "
                  "AND seq IS NOT NULL GROUP BY upload_info_id ORDER BY upload_info_id")
    sums = store.read(lambda connection: connection.execute(sql).all())
    expected = []
    for name in REITS:
        rows = _document(name)[0]["asset_allocation"]
        expected.append((_id(name), sum(_exact(r["pct_of_non_abs_portfolio"]) or Decimal(0)
                                        for r in rows if r["seq"] is not None)))
    assert [(upload_info_id, Decimal(total) / scale) for upload_info_id, total in sums] == expected
    assert {total for _id_, total in expected} == {Decimal(100)}
    assert store.read(lambda connection: connection.execute(sa.text(
        "SELECT count(*) FROM asset_allocation WHERE pct_basis = 'non_abs_portfolio' "
        "AND pct_of_total_assets IS NOT NULL")).scalar()) == 0


def test_share_changes_have_one_row_per_class_and_the_fund_total_on_the_report(store: Store) -> None:
    assert _rows(store, sa.select(share_changes.c.upload_info_id).where(share_changes.c.class_name == "total")) == []
    changes = _rows(store, sa.select(share_changes).order_by(share_changes.c.upload_info_id,
                                                             share_changes.c.class_name))
    by_report: dict[int, list[dict[str, Any]]] = {}
    for row in changes:
        by_report.setdefault(row["upload_info_id"], []).append(row)
    fields = ("beginning", "subscriptions", "redemptions", "split", "ending")

    document, _version = _document(MULTI_CLASS)
    codes = {c["name"]: c["code"] for c in document["share_classes"]}
    assert [(row["class_name"], row["class_code"], *(row[f] for f in fields)) for row in by_report[_id(MULTI_CLASS)]] == [
        (name, codes[name], *(_exact(document["share_changes"][name][f]) for f in fields)) for name in sorted(codes)]

    for name in (ORDINARY, *REITS):  # single-class: the fund's one class, as in nav_values
        document, _version = _document(name)
        total = document["share_changes"]["total"]
        assert [(row["class_name"], row["class_code"], *(row[f] for f in fields)) for row in by_report[_id(name)]] == [
            (document["fund_name"], document["fund_code"], *(_exact(total[f]) for f in fields))], name

    # The multi-class fund's fund-level column (only its ending is printed) is the reports row's ending_shares.
    ending = _rows(store, sa.select(reports.c.ending_shares).where(reports.c.upload_info_id == _id(MULTI_CLASS)))
    assert ending == [{"ending_shares": Decimal("826717603.63")}]
    assert _exact(_document(MULTI_CLASS)[0]["share_changes"]["total"]["ending"]) == Decimal("826717603.63")
    # Every share-change row names the same class as a NAV row of its report.
    joined = sa.select(sa.func.count()).select_from(share_changes.join(nav_values, sa.and_(
        nav_values.c.upload_info_id == share_changes.c.upload_info_id,
        nav_values.c.class_name == share_changes.c.class_name, nav_values.c.class_code == share_changes.c.class_code)))
    assert store.read(lambda connection: connection.execute(joined).scalar()) == len(changes) == 2 + 5


def test_csv_export_carries_the_basis_with_its_schema(store: Store, tmp_path: Path) -> None:
    export_csv(store, tmp_path, ExportFilter())
    package = json.loads((tmp_path / "datapackage.json").read_text(encoding="utf-8"))
    resource = next(r for r in package["resources"] if r["name"] == "asset_allocation")
    fields = {f["name"]: f for f in resource["schema"]["fields"]}
    assert (fields["pct"]["type"], fields["pct"]["unit"], fields["pct_basis"]["type"]) == ("number", "percent", "string")
    assert "non_abs_portfolio" in fields["pct_basis"]["description"]
    types = {"number": pa.decimal128(38, 8), "string": pa.string(), "integer": pa.int64()}
    options = pacsv.ConvertOptions(column_types={n: types[f["type"]] for n, f in fields.items()},
                                   strings_can_be_null=True)
    rows = pacsv.read_csv(tmp_path / "asset_allocation.csv", convert_options=options).to_pylist()
    reit = [(r["category"], r["pct"], r["pct_basis"], r["pct_of_total_assets"])
            for r in rows if r["upload_info_id"] == _id("508086_2024_annual")]
    assert reit == [("货币资金和结算备付金合计", Decimal(100), "non_abs_portfolio", None)]
    changes = (tmp_path / "share_changes.csv").read_text(encoding="utf-8")
    assert ",total," not in changes and "class_code" in changes.splitlines()[0]


# --- an existing database ----------------------------------------------------------------------------------------

_OLD_ALLOCATION = sa.table("asset_allocation", *(sa.column(n) for n in ("upload_info_id", "parser_version", "position",
                                                                        "seq", "category")),
                           sa.column("amount_yuan", ExactDecimal()), sa.column("pct_of_total_assets", ExactDecimal()))
_OLD_CHANGES = sa.table("share_changes", sa.column("upload_info_id"), sa.column("parser_version"),
                        sa.column("class_name"),
                        *(sa.column(n, ExactDecimal()) for n in ("beginning", "subscriptions", "redemptions", "split",
                                                                 "ending")))


def _store_the_old_way(connection: sa.Connection, name: str) -> None:
    """What the previous revision stored: REIT percentages NULL, a ``total`` share-change row."""
    document, version = _document(name)
    now = dt.datetime(2025, 4, 22, 8, 0)
    connection.execute(sa.text(
        "INSERT INTO reports (upload_info_id, fund_code, state, attempts, check_failures, discovered_at, updated_at, "
        "stored_at, parser_version, page_sha256, is_current, slot) "
        "VALUES (:id, :code, 'stored', 1, 0, :now, :now, :now, :version, :sha, true, :slot)"),
        {"id": _id(name), "code": document["fund_code"], "now": now, "version": version, "sha": "a" * 64,
         "slot": name})
    connection.execute(sa.text("INSERT INTO report_documents (upload_info_id, schema, parser_version, document) "
                               "VALUES (:id, 'fundcrawl.report/1', :version, :doc)"),
                       {"id": _id(name), "version": version, "doc": json.dumps(document, ensure_ascii=False)})
    connection.execute(sa.insert(_OLD_ALLOCATION), [
        {"upload_info_id": _id(name), "parser_version": version, "position": position, "seq": None if row["seq"] is None else str(row["seq"]),
         "category": row["category"], "amount_yuan": row["amount_yuan"],
         "pct_of_total_assets": row.get("pct_of_total_assets")}
        for position, row in enumerate(document["asset_allocation"])])
    connection.execute(sa.insert(_OLD_CHANGES), [
        {"upload_info_id": _id(name), "parser_version": version, "class_name": key, **values}
        for key, values in document["share_changes"].items()
        for values in [{f: values.get(f) for f in ("beginning", "subscriptions", "redemptions", "split", "ending")}]])


def test_an_existing_database_migrates_its_percentages_and_total_rows(engine_url: str) -> None:
    engine = make_engine(engine_url)
    with engine.begin() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, "0003")
    with engine.begin() as connection:
        for name in ("508099_2024_annual", MULTI_CLASS, ORDINARY):
            _store_the_old_way(connection, name)
        old = connection.execute(sa.text("SELECT count(*) FROM asset_allocation WHERE pct_of_total_assets IS NULL "
                                         f"AND upload_info_id = {_id('508099_2024_annual')}")).scalar()
        assert old == len(_document("508099_2024_annual")[0]["asset_allocation"])  # the percentages were lost

    upgrade(engine_url)

    store = Store(make_engine(engine_url))
    document, _version = _document("508099_2024_annual")
    assert _allocation(store, "508099_2024_annual") == [
        (row["category"], _exact(row["pct_of_non_abs_portfolio"]), "non_abs_portfolio", None)
        for row in document["asset_allocation"]]
    assert all(row[2] == "total_assets" and row[1] == row[3] for row in _allocation(store, ORDINARY))
    names = _rows(store, sa.select(share_changes.c.upload_info_id, share_changes.c.class_name,
                                   share_changes.c.class_code).order_by(share_changes.c.upload_info_id,
                                                                        share_changes.c.class_name))
    assert [tuple(row.values()) for row in names] == [
        (_id("508099_2024_annual"), document["fund_name"], "508099"),
        (_id(ORDINARY), _document(ORDINARY)[0]["fund_name"], "013242"),
        (_id(MULTI_CLASS), "汇丰晋信智造先锋股票A", "001643"),
        (_id(MULTI_CLASS), "汇丰晋信智造先锋股票C", "001644"),
    ]
    # These reports rows were written without their facts: the fund-level ending from the document lands there.
    assert _rows(store, sa.select(reports.c.ending_shares).where(reports.c.upload_info_id == _id(MULTI_CLASS))) == [
        {"ending_shares": Decimal("826717603.63")}]

    with engine.begin() as connection:  # and back: the previous revision's rows again
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, "0003")
        assert "pct" not in {c["name"] for c in sa.inspect(connection).get_columns("asset_allocation")}
        assert connection.execute(sa.text(
            f"SELECT count(*) FROM share_changes WHERE class_name = 'total' AND upload_info_id = {_id(MULTI_CLASS)}"
        )).scalar() == 1


def test_a_partitioned_lake_written_before_the_new_columns_is_rewritten_whole(store: Store, tmp_path: Path) -> None:
    """A lake from a fundcrawl whose asset_allocation had no ``pct``: every partition gets the new schema, none is
    left with the old one beside new ones."""
    import pyarrow.dataset as ds

    from crawler.export import MANIFEST, export_parquet_partitioned

    lake = tmp_path / "lake"
    first = export_parquet_partitioned(store, lake, ExportFilter())
    assert export_parquet_partitioned(store, lake, ExportFilter())["written"] == 0
    manifest = json.loads((lake / MANIFEST).read_text(encoding="utf-8"))
    del manifest["scope"]["columns"]  # what the previous release wrote
    (lake / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")

    assert export_parquet_partitioned(store, lake, ExportFilter())["written"] == first["partitions"] == first["written"]
    for path in (lake / "asset_allocation").rglob("*.parquet"):
        assert {"pct", "pct_basis"} <= set(ds.dataset(path, format="parquet").schema.names), path
