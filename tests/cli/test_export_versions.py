"""``fundcrawl export --versions all`` through the real CLI, on SQLite and on PostgreSQL: the site replaces one
report's page behind the same id and publishes a new id correcting another; CSV and Parquet (flat and partitioned)
then hold the rows of every page stored, each naming its page, while the default export holds current ones only.

One module-scoped crawl per engine: two ``run --once`` (the second re-checks the stored pages and discovers the new
id) over 4 generated pages, about 40 s each.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from crawler.export import partitioning_schema
from crawler.storage.exports import EXPORT_TABLES
from tests.e2e.harness import CORRECTIONS_SCHEDULE, Daemon
from tests.replica import Replica
from tests.storage.fixtures import fresh_database_url, pg_database_url  # noqa: F401  (fixture)

REPORTS = 4
#: The version facts of a reports row: (upload_info_id, page_sha256, is_current, superseded_by,
#: superseded_by_sha256).
Facts = tuple[int, str, bool, int | None, str | None]


@dataclass(frozen=True)
class Corrected:
    """The crawled site after its corrections, and what each page should hold."""

    daemon: Daemon
    #: (upload_info_id, page_sha256) -> the generator's document of that page
    pages: dict[tuple[int, str], dict[str, Any]]
    #: the version facts every stored page should carry
    facts: set[Facts]
    in_place: int
    replaced_sha256: str


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def corrected(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Corrected]:
    tmp = tmp_path_factory.mktemp(f"export-versions-{request.param}")
    url = fresh_database_url(request.param, request, tmp)
    with Replica(generate=REPORTS, seed=29, partitions=["FB030010:2025"]) as replica:
        daemon = Daemon(tmp, replica.url, url, schedule=CORRECTIONS_SCHEDULE)
        daemon.command("db", "upgrade")
        daemon.command("run", "--once", timeout=300)
        originals = sorted(replica.oracle())
        before = replica.oracle()
        pages = {(i, before[i]["sha256"]): replica.expected(i) for i in originals}

        in_place, replaced = originals[0], originals[1]
        replica.correct(in_place, "in_place")
        new_id = replica.correct(replaced, "new_id", days_later=2)
        daemon.command("run", "--once", timeout=300)

        after = replica.oracle()
        assert after[in_place]["sha256"] != before[in_place]["sha256"]
        pages[(in_place, after[in_place]["sha256"])] = replica.expected(in_place)
        pages[(new_id, after[new_id]["sha256"])] = replica.expected(new_id)
        sha = {i: after[i]["sha256"] for i in after}
        facts: set[Facts] = {(i, sha[i], True, None, None) for i in originals if i not in (in_place, replaced)}
        facts |= {(in_place, before[in_place]["sha256"], False, in_place, sha[in_place]),
                  (in_place, sha[in_place], True, None, None),
                  (replaced, sha[replaced], False, new_id, sha[new_id]),
                  (new_id, sha[new_id], True, None, None)}
        yield Corrected(daemon, pages, facts, in_place, before[in_place]["sha256"])


def _csv(folder: Path, table: str) -> list[dict[str, str]]:
    with (folder / f"{table}.csv").open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _csv_facts(rows: list[dict[str, str]]) -> set[Facts]:
    return {(int(r["upload_info_id"]), r["page_sha256"], r["is_current"] == "True",
             int(r["superseded_by"]) if r["superseded_by"] else None, r["superseded_by_sha256"] or None)
            for r in rows}


def _arrow_facts(rows: list[dict[str, Any]]) -> set[Facts]:
    return {(r["upload_info_id"], r["page_sha256"], r["is_current"], r["superseded_by"], r["superseded_by_sha256"])
            for r in rows}


def _stocks(rows: list[dict[str, Any]]) -> dict[tuple[int, str], list[tuple[int, str]]]:
    """Each page's stock holdings as (position, code), from CSV or Parquet rows."""
    found: dict[tuple[int, str], list[tuple[int, str]]] = {}
    for row in rows:
        if row["kind"] == "stock":
            found.setdefault((int(row["upload_info_id"]), row["page_sha256"]), []).append(
                (int(row["position"]), row["code"]))
    return {page: sorted(stocks) for page, stocks in found.items()}


def _printed_stocks(pages: dict[tuple[int, str], dict[str, Any]]) -> dict[tuple[int, str], list[tuple[int, str]]]:
    return {page: [(position, stock["code"]) for position, stock in enumerate(document["top_stocks"])]
            for page, document in pages.items() if document.get("top_stocks")}


def _lake(root: Path, table: str) -> list[dict[str, Any]]:
    """Every row of one table of a partitioned export, its partition keys read from the path and typed."""
    keys = ds.partitioning(partitioning_schema(), flavor="hive")
    return ds.dataset(root / table, format="parquet", partitioning=keys).to_table().to_pylist()


def _keys(rows: list[dict[str, Any]], key: list[str]) -> list[tuple[str, ...]]:
    return [tuple(str(row[name]) for name in key) for row in rows]


def test_csv_with_every_version_has_the_rows_of_every_page(corrected: Corrected, tmp_path: Path) -> None:
    daemon = corrected.daemon
    daemon.command("export", "--format", "csv", "--versions", "all", "--out", str(tmp_path / "all"))
    reports = _csv(tmp_path / "all", "reports")
    assert len(reports) == len(corrected.pages) == REPORTS + 2
    assert _csv_facts(reports) == corrected.facts
    earlier = next(r for r in reports if r["page_sha256"] == corrected.replaced_sha256)
    assert earlier["superseded_at"] and earlier["check_failures"] == ""

    # The replaced page's rows are its own (rebuilt from its kept document), not a copy of the page after it.
    stocks = _stocks(_csv(tmp_path / "all", "holdings"))
    assert stocks == _printed_stocks(corrected.pages)
    assert stocks[(corrected.in_place, corrected.replaced_sha256)] != next(
        rows for (i, sha), rows in stocks.items() if i == corrected.in_place and sha != corrected.replaced_sha256)
    for table in ("nav_values", "share_changes", "asset_allocation"):
        assert {(int(r["upload_info_id"]), r["page_sha256"]) for r in _csv(tmp_path / "all", table)} == set(
            corrected.pages), table

    # The data package keys every table by page, and no two rows share a key.
    package = json.loads((tmp_path / "all" / "datapackage.json").read_text(encoding="utf-8"))
    for resource in package["resources"]:
        key = resource["schema"]["primaryKey"]
        assert key[:2] == ["upload_info_id", "page_sha256"]
        rows = _csv(tmp_path / "all", resource["name"])
        assert len(set(_keys(rows, key))) == len(rows) == resource["rows"], resource["name"]

    # The JSON lines of the same export say the same versions.
    daemon.command("export", "--format", "jsonl", "--versions", "all", "--out", str(tmp_path / "all.jsonl"))
    lines = [json.loads(line) for line in (tmp_path / "all.jsonl").read_text(encoding="utf-8").splitlines()]
    assert {(line["upload_info_id"], line["page_sha256"], line["is_current"],
             (line["superseded_by"] or {}).get("upload_info_id"), (line["superseded_by"] or {}).get("page_sha256"))
            for line in lines} == corrected.facts


def test_parquet_flat_and_partitioned_with_every_version_have_every_page(corrected: Corrected,
                                                                       tmp_path: Path) -> None:
    daemon = corrected.daemon
    daemon.command("export", "--format", "parquet", "--versions", "all", "--out", str(tmp_path / "pq"))
    assert _arrow_facts(pq.read_table(tmp_path / "pq" / "reports.parquet").to_pylist()) == corrected.facts
    holdings = pq.read_table(tmp_path / "pq" / "holdings.parquet").to_pylist()
    assert _stocks(holdings) == _printed_stocks(corrected.pages)

    daemon.command("export", "--format", "parquet", "--partitioned", "--versions", "all",
                   "--out", str(tmp_path / "lake"))
    lake = {table: _lake(tmp_path / "lake", table) for table in EXPORT_TABLES}
    assert _arrow_facts(lake["reports"]) == corrected.facts
    assert _stocks(lake["holdings"]) == _printed_stocks(corrected.pages)
    assert sorted(_keys(lake["nav_values"], ["upload_info_id", "page_sha256", "class_name"])) == sorted(
        _keys(pq.read_table(tmp_path / "pq" / "nav_values.parquet").to_pylist(),
              ["upload_info_id", "page_sha256", "class_name"]))

    # The same lake exported with current versions only is rewritten to hold only those.
    daemon.command("export", "--format", "parquet", "--partitioned", "--out", str(tmp_path / "lake"))
    assert _arrow_facts(_lake(tmp_path / "lake", "reports")) == {fact for fact in corrected.facts if fact[2]}


def test_the_default_export_has_only_current_versions(corrected: Corrected, tmp_path: Path) -> None:
    daemon = corrected.daemon
    current = {fact for fact in corrected.facts if fact[2]}
    current_pages = {(fact[0], fact[1]) for fact in current}
    daemon.command("export", "--format", "csv", "--out", str(tmp_path / "csv"))
    assert _csv_facts(_csv(tmp_path / "csv", "reports")) == current
    assert _stocks(_csv(tmp_path / "csv", "holdings")) == {
        page: stocks for page, stocks in _printed_stocks(corrected.pages).items() if page in current_pages}
    for table in EXPORT_TABLES[1:]:
        assert {(int(r["upload_info_id"]), r["page_sha256"]) for r in _csv(tmp_path / "csv", table)} <= current_pages

    daemon.command("export", "--format", "parquet", "--out", str(tmp_path / "pq"))
    assert _arrow_facts(pq.read_table(tmp_path / "pq" / "reports.parquet").to_pylist()) == current
    assert {(row["upload_info_id"], row["page_sha256"])
            for row in pq.read_table(tmp_path / "pq" / "nav_values.parquet").to_pylist()} == current_pages
