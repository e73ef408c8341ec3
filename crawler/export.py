"""Exports of stored reports: JSON lines (the public document format), CSV and Parquet (one file per table).

Every writer streams in batches, so memory stays flat however many reports are stored, reads one snapshot of the
database (reports stored while it runs are in no table or in all of them), and writes to a temporary name first so
a failed export never leaves a half-written file under the final name. A CSV folder describes itself with a
Frictionless ``datapackage.json``.

Each writes the current version of each report slot, or every version stored with ``ExportFilter.all_versions``;
every CSV and Parquet row names its page (``upload_info_id``, ``page_sha256``), and a reports row says whether that
page is current and what superseded it, as a JSON line does.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import json
import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crawler.models import ReportDocument
from crawler.storage import Store
from crawler.storage.exports import EXPORT_TABLES, ExportSnapshot, export_columns, primary_key
from crawler.storage.types import tidy


@dataclass(frozen=True)
class ExportFilter:
    fund_codes: list[str] | None = None
    report_types: list[str] | None = None
    period_from: dt.date | None = None
    period_to: dt.date | None = None
    #: every version of each report slot, not only the current one
    all_versions: bool = False


def json_default(value: object) -> Any:
    """JSON for what the standard encoder does not know: dates as ISO text, decimals as numbers."""
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def dumps_document(document: ReportDocument) -> str:
    return json.dumps(document, ensure_ascii=False, default=json_default)


@contextmanager
def _atomic(path: Path) -> Iterator[Path]:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def export_jsonl(store: Store, out: Path, where: ExportFilter, tick: Callable[[], None] = lambda: None) -> int:
    """One stored report per line: its document plus ``upload_info_id``, ``page_sha256``, ``is_current`` and
    ``superseded_by``; the current version of each slot only, or every version with ``where.all_versions``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with _atomic(out) as tmp, tmp.open("w", encoding="utf-8") as handle:
        for _key, document in store.iter_documents(
                fund_codes=where.fund_codes, report_types=where.report_types,
                period_from=where.period_from, period_to=where.period_to, all_versions=where.all_versions):
            handle.write(dumps_document(document) + "\n")
            count += 1
            tick()
    return count


def _snapshot(store: Store, where: ExportFilter) -> AbstractContextManager[ExportSnapshot]:
    """One snapshot of the stored reports ``where`` selects: the current version of each slot, or every version
    (each page of each report) with ``where.all_versions``."""
    return store.exports.snapshot(fund_codes=where.fund_codes, report_types=where.report_types,
                                  period_from=where.period_from, period_to=where.period_to,
                                  all_versions=where.all_versions)


def _table_batches(snapshot: ExportSnapshot, batch_size: int
                   ) -> Iterator[tuple[str, Iterator[list[dict[str, Any]]]]]:
    for name in EXPORT_TABLES:
        yield name, snapshot.table_rows(name, batch_size=batch_size)


def _cell(value: object) -> object:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, default=json_default)
    if isinstance(value, decimal.Decimal):
        # Plain digits, never exponent notation, and no trailing zeros: 100, 8.84, 0.0001.
        return format(tidy(value), "f")
    return value


#: Frictionless Table Schema field types of the export kinds (https://specs.frictionlessdata.io/table-schema/).
FRICTIONLESS_TYPES = {"decimal": "number", "int": "integer", "text": "string", "date": "date",
                      "datetime": "datetime", "bool": "boolean", "json": "object"}


def datapackage(counts: dict[str, int]) -> dict[str, Any]:
    """The Frictionless Data Package describing a CSV export: every column's type (codes are strings, so
    ``016146`` and ``0700`` stay text), each table's key and its link to ``reports``."""
    resources = []
    for name in EXPORT_TABLES:
        fields = [{"name": column, "type": FRICTIONLESS_TYPES[kind], **_describe(column)}
                  for column, kind in export_columns(name)]
        schema: dict[str, Any] = {"fields": fields, "primaryKey": primary_key(name),
                                  "missingValues": [""]}
        if name != "reports":
            # A row belongs to one page of a report: with every version exported, a report has a row per page.
            schema["foreignKeys"] = [{"fields": ["upload_info_id", "page_sha256"],
                                      "reference": {"resource": "reports",
                                                    "fields": ["upload_info_id", "page_sha256"]}}]
        resources.append({"name": name, "path": f"{name}.csv", "profile": "tabular-data-resource",
                          "format": "csv", "mediatype": "text/csv", "encoding": "utf-8",
                          "dialect": {"delimiter": ",", "header": True, "doubleQuote": True},
                          "rows": counts.get(name, 0), "schema": schema})
    return {"profile": "tabular-data-package", "name": "fundcrawl-export",
            "title": "Chinese public-fund reports (CSRC EID), exported by fundcrawl",
            "created": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(), "resources": resources}


def _describe(column: str) -> dict[str, str]:
    unit = UNITS.get(column) or next((u for suffix, u in UNIT_SUFFIXES if column.endswith(suffix)), None)
    described = {"unit": unit} if unit else {}
    if column in DESCRIPTIONS:
        described["description"] = DESCRIPTIONS[column]
    return described


#: Units of the numeric columns (the README's data dictionary lists them too).
UNITS = {"nav_per_unit": "yuan per share", "ending_shares": "shares", "beginning": "shares",
         "subscriptions": "shares", "redemptions": "shares", "split": "shares", "ending": "shares",
         "total_net_assets": "yuan", "quantity": "shares, units or bonds as printed", "pct": "percent"}
UNIT_SUFFIXES = (("_yuan", "yuan"), ("pct_of_nav", "percent"), ("pct_of_total_assets", "percent"))
#: Columns whose meaning their name does not carry.
DESCRIPTIONS = {
    "pct": "the printed percentage; pct_basis says what it is a share of",
    "pct_basis": "total_assets (the fund's total assets) or non_abs_portfolio (REITs: the portfolio held "
                 "outside the infrastructure ABS)",
    "page_sha256": "sha256 of the page the row was read from; with upload_info_id it names one version",
    "is_current": "true when this page is the current version of its report slot (fund, type, period)",
    "superseded_by": "upload_info_id of the version that superseded this one (the same id when the site "
                     "replaced the page behind it); empty while current",
    "superseded_by_sha256": "page_sha256 of the version that superseded this one; empty while current",
    "superseded_at": "when this version was superseded (UTC); empty while current",
}


def export_csv(store: Store, out_dir: Path, where: ExportFilter, *, batch_size: int = 5000) -> dict[str, int]:
    """``<out_dir>/<table>.csv`` for each export table (UTF-8 with a header row) and ``datapackage.json``, all
    read from one snapshot of the database."""
    out_dir.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    with _snapshot(store, where) as snapshot:
        for name, batches in _table_batches(snapshot, batch_size):
            counts[name] = 0
            columns = [column for column, _kind in export_columns(name)]
            with _atomic(out_dir / f"{name}.csv") as tmp, tmp.open("w", encoding="utf-8", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=columns)
                writer.writeheader()
                for batch in batches:
                    writer.writerows({k: _cell(v) for k, v in row.items()} for row in batch)
                    counts[name] += len(batch)
    with _atomic(out_dir / "datapackage.json") as tmp:
        tmp.write_text(json.dumps(datapackage(counts), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return counts


def _arrow_type(kind: str) -> Any:
    import pyarrow as pa

    types = {"decimal": pa.decimal128(38, 8), "int": pa.int64(), "date": pa.date32(), "bool": pa.bool_(),
             "datetime": pa.timestamp("us", tz="UTC"), "json": pa.string(), "text": pa.string()}
    return types[kind]


def _arrow_schema(table_name: str, *, leave_out: tuple[str, ...] = ()) -> Any:
    import pyarrow as pa

    return pa.schema([(name, _arrow_type(kind)) for name, kind in export_columns(table_name)
                      if name not in leave_out])


def export_parquet(store: Store, out_dir: Path, where: ExportFilter, *, batch_size: int = 5000
                   ) -> dict[str, int]:
    """``<out_dir>/<table>.parquet`` for each export table, all from one snapshot; money and shares stay exact
    (decimal128(38, 8))."""
    import pyarrow.parquet as pq

    out_dir.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    with _snapshot(store, where) as snapshot:
        for name, batches in _table_batches(snapshot, batch_size):
            schema = _arrow_schema(name)
            counts[name] = 0
            with _atomic(out_dir / f"{name}.parquet") as tmp, pq.ParquetWriter(tmp, schema) as writer:
                for batch in batches:
                    _write_batch(writer, schema, batch)
                    counts[name] += len(batch)
    return counts


def _json_cell(value: object) -> object:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, default=json_default)
    return value


#: Hive's name for a partition whose value is NULL (pyarrow and Spark read it back as null).
HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"
MANIFEST = "_fundcrawl_partitions.json"
#: The partition keys of the dataset, in path order. Per Hive convention a part file does not hold them: a reader
#: takes them from the path, typed by ``partitioning_schema()``.
PARTITION_KEYS = ("report_kind", "period_end")


def partitioning_schema() -> Any:
    """The Arrow schema of the partition keys (the types the flat export gives those columns of ``reports``):
    ``pyarrow.dataset.partitioning(partitioning_schema(), flavor="hive")`` reads the keys back typed."""
    import pyarrow as pa

    kinds = dict(export_columns("reports"))
    return pa.schema([(key, _arrow_type(kinds[key])) for key in PARTITION_KEYS])


def _file_columns(table_name: str) -> list[list[str]]:
    """The columns a part file of ``table_name`` holds: all but the partition keys."""
    return [[name, kind] for name, kind in export_columns(table_name) if name not in PARTITION_KEYS]


def _partition_path(report_kind: str | None, period_end: dt.date | None) -> str:
    kind = report_kind if report_kind else HIVE_NULL
    period = period_end.isoformat() if period_end else HIVE_NULL
    return f"report_kind={kind}/period_end={period}"


def export_parquet_partitioned(store: Store, out_dir: Path, where: ExportFilter, *, batch_size: int = 5000
                               ) -> dict[str, int]:
    """A Hive-partitioned Parquet dataset, ``<out_dir>/<table>/report_kind=K/period_end=D/part-0.parquet``, that
    a rerun brings up to date by rewriting only the partitions whose reports changed. The part files hold every
    column but the keys, which a Hive reader takes from the path (typed by ``partitioning_schema()``).

    ``_fundcrawl_partitions.json`` keeps a fingerprint of each partition's reports (id, page, parser version,
    current flag, last update; with every version, those of each version and what superseded it) and the
    export's scope (filters, versions, tables and their columns); a partition whose
    fingerprint is unchanged is left as it is, a partition that is gone is removed, and a changed scope rewrites
    everything. Every run reads one snapshot. Returns the number of partitions, written and removed.
    """
    import hashlib
    import shutil

    import pyarrow.parquet as pq

    out_dir.mkdir(parents=True, exist_ok=True)
    manifest_file = out_dir / MANIFEST
    scope = {"fund_codes": where.fund_codes, "report_types": where.report_types,
             "period_from": str(where.period_from), "period_to": str(where.period_to),
             "versions": "all" if where.all_versions else "current",
             "tables": list(EXPORT_TABLES),
             # A fundcrawl whose part files gained, lost or changed columns (a partition key left out of them,
             # too) rewrites every partition, so no dataset mixes files of two layouts.
             "layout": "hive",
             "columns": {name: _file_columns(name) for name in EXPORT_TABLES}}
    before: dict[str, str] = {}
    # Every partition the last run wrote: one this run has no reports for is removed even when the scope changed.
    written_before: dict[str, str] = {}
    if manifest_file.exists():
        manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
        written_before = manifest.get("partitions", {})
        if manifest.get("scope") == scope:
            before = written_before
    written = 0
    with _snapshot(store, where) as snapshot:
        digests: dict[str, Any] = {}
        keys: dict[str, tuple[str | None, dt.date | None]] = {}
        for row in snapshot.partition_reports():
            path = _partition_path(row["report_kind"], row["period_end"])
            keys[path] = (row["report_kind"], row["period_end"])
            digests.setdefault(path, hashlib.sha256()).update(json.dumps(list(row.values()), default=str).encode())
        after = {path: digest.hexdigest() for path, digest in digests.items()}
        for path, fingerprint in after.items():
            if before.get(path) == fingerprint and (out_dir / "reports" / path / "part-0.parquet").exists():
                continue
            for name in EXPORT_TABLES:
                target = out_dir / name / path / "part-0.parquet"
                target.parent.mkdir(parents=True, exist_ok=True)
                schema = _arrow_schema(name, leave_out=PARTITION_KEYS)
                with _atomic(target) as tmp, pq.ParquetWriter(tmp, schema) as writer:
                    for batch in snapshot.table_rows(name, batch_size=batch_size, partition=keys[path]):
                        _write_batch(writer, schema, batch)
            written += 1
    removed = [path for path in written_before if path not in after]
    for path in removed:
        for name in EXPORT_TABLES:
            shutil.rmtree(out_dir / name / path, ignore_errors=True)
    with _atomic(manifest_file) as tmp:
        tmp.write_text(json.dumps({"scope": scope, "partitions": after}, indent=1) + "\n", encoding="utf-8")
    return {"partitions": len(after), "written": written, "removed": len(removed)}


def _write_batch(writer: Any, schema: Any, batch: list[dict[str, Any]]) -> None:
    import pyarrow as pa

    rows = [{k: _json_cell(v) for k, v in row.items()} for row in batch]
    writer.write_table(pa.Table.from_pylist(rows, schema=schema))
