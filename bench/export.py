"""Exports of a stored history: flat Parquet vs the Hive-partitioned dataset, full and incremental, plus the cost of
migrating such a SQLite database from revision 0002 (decimal text) to the scaled integers.

The history is synthetic (every report has 20 stocks, 2 share classes and the usual allocations) spread over
``--periods`` (report kind, period end) partitions. Prints one JSON object.

    .venv/bin/python bench/export.py [--reports 2000] [--periods 24]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from alembic import command
from sqlalchemy import text

from bench.common import machine
from crawler.export import ExportFilter, export_csv, export_parquet, export_parquet_partitioned
from crawler.storage import Store, dispose_engines, make_engine, upgrade
from crawler.storage.documents import normalized_rows
from crawler.storage.schema import alembic_config
from tests.storage.helpers import document, item

KINDS = ("q1", "q2", "q3", "q4", "interim", "annual")
PERIOD_ENDS = {"q1": "03-31", "q2": "06-30", "q3": "09-30", "q4": "12-31", "interim": "06-30", "annual": "12-31"}


def synthetic(upload_info_id: int, periods: int) -> dict[str, Any]:
    slot = upload_info_id % periods
    kind = KINDS[slot % len(KINDS)]
    year = 2024 - slot // len(KINDS)
    stocks = [{"rank": n + 1, "code": f"{600000 + (upload_info_id * 7 + n) % 3000:06d}", "name": f"股票{n}",
               "quantity": 1000 + n, "fair_value_yuan": round(1e6 + upload_info_id * 13.37 + n, 2),
               "pct_of_nav": round(0.5 + n / 10, 2)} for n in range(20)]
    return document(f"{upload_info_id:06d}", report_kind=kind, period_end=f"{year}-{PERIOD_ENDS[kind]}",
                    top_stocks=stocks)


def seconds(work: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    result = work()
    return round(time.perf_counter() - start, 3), result


def export_figures(store: Store, folder: Path, reports: int, periods: int) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    figures["csv_s"], _ = seconds(lambda: export_csv(store, folder / "csv", ExportFilter()))
    figures["parquet_flat_s"], _ = seconds(lambda: export_parquet(store, folder / "flat", ExportFilter()))
    lake = folder / "lake"
    figures["partitioned_full_s"], full = seconds(lambda: export_parquet_partitioned(store, lake, ExportFilter()))
    figures["partitioned_unchanged_s"], same = seconds(
        lambda: export_parquet_partitioned(store, lake, ExportFilter()))
    store.save_report(item(reports + 1, document=synthetic(reports + 1, periods)), "x")
    figures["partitioned_one_new_report_s"], one = seconds(
        lambda: export_parquet_partitioned(store, lake, ExportFilter()))
    figures["partitions"] = full["partitions"]
    figures["written"] = {"full": full["written"], "unchanged": same["written"], "one_new_report": one["written"]}
    return figures


def migration_figures(folder: Path, reports: int, periods: int) -> dict[str, Any]:
    """Build a 0002 SQLite database holding decimal text, then time ``db upgrade`` to head."""
    url = f"sqlite:///{folder / 'old.sqlite'}"
    engine = make_engine(url)
    with engine.begin() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, "0002")
    holdings = 0
    with engine.begin() as connection:
        for upload_info_id in range(1, reports + 1):
            doc = synthetic(upload_info_id, periods)
            connection.execute(text(
                "INSERT INTO reports (upload_info_id, fund_code, report_type_code, report_year, period_end, state, "
                "attempts, check_failures, discovered_at, updated_at, stored_at, parser_version, page_sha256) "
                "VALUES (:id, :fund, 'FB030010', :year, :period_end, 'stored', 1, 0, :now, :now, :now, '1', :sha)"),
                {"id": upload_info_id, "fund": doc["fund_code"], "year": doc["period_end"][:4],
                 "period_end": doc["period_end"], "now": dt.datetime(2025, 1, 1), "sha": f"{upload_info_id:064x}"})
            connection.execute(text("INSERT INTO report_documents (upload_info_id, schema, parser_version, "
                                    "document) VALUES (:id, 'fundcrawl.report/1', '1', :doc)"),
                               {"id": upload_info_id, "doc": json.dumps(doc, ensure_ascii=False)})
            for table, rows in normalized_rows(doc, upload_info_id, "1").items():
                if not rows:
                    continue
                later = ("list_scope", "class_code", "period_end", "pct", "pct_basis")  # columns 0002 lacks
                columns = [c for c in rows[0] if c in table.c and c not in later]
                values = [{c: (str(row[c]) if row[c] is not None and c not in ("upload_info_id", "position", "rank")
                               and not isinstance(row[c], str | dict) else row[c]) for c in columns} for row in rows]
                if table.name == "holdings":
                    holdings += len(rows)
                    for value in values:
                        value["extra"] = json.dumps(value.get("extra"))
                connection.execute(text(f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES "
                                        f"({', '.join(':' + c for c in columns)})"), values)
    dispose_engines()
    took, _ = seconds(lambda: upgrade(url))
    return {"reports": reports, "holdings_rows": holdings, "upgrade_s": took}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reports", type=int, default=2000)
    parser.add_argument("--periods", type=int, default=24)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="fundcrawl-bench-export-"))
    try:
        url = f"sqlite:///{folder / 'fundcrawl.sqlite'}"
        upgrade(url)
        store = Store(make_engine(url))
        for upload_info_id in range(1, args.reports + 1):
            store.save_report(item(upload_info_id, document=synthetic(upload_info_id, args.periods)), "x")
        result = {"machine": machine(), "reports": args.reports,
                  "sqlite": export_figures(store, folder, args.reports, args.periods),
                  "migration_0003_sqlite": migration_figures(folder, args.reports, args.periods)}
        print(json.dumps(result, indent=2, ensure_ascii=False))
    finally:
        dispose_engines()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
