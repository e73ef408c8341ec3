"""Exports of stored reports: JSON lines (the public document format), CSV and Parquet (one file per table).

Every writer streams in batches, so memory stays flat however many reports are stored, and writes to a temporary
name first so a failed export never leaves a half-written file under the final name.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import json
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crawler.storage import Store, operations
from crawler.storage.queries import document_filters


@dataclass(frozen=True)
class ExportFilter:
    fund_codes: list[str] | None = None
    report_types: list[str] | None = None
    period_from: dt.date | None = None
    period_to: dt.date | None = None


def json_default(value: object) -> Any:
    """JSON for what the standard encoder does not know: dates as ISO text, decimals as numbers."""
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def dumps_document(document: dict[str, Any]) -> str:
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
    """One stored report per line: its document plus ``upload_info_id``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with _atomic(out) as tmp, tmp.open("w", encoding="utf-8") as handle:
        for upload_info_id, document in store.iter_documents(
                fund_codes=where.fund_codes, report_types=where.report_types,
                period_from=where.period_from, period_to=where.period_to):
            handle.write(dumps_document({**document, "upload_info_id": upload_info_id}) + "\n")
            count += 1
            tick()
    return count


def _table_batches(store: Store, where: ExportFilter) -> Iterator[tuple[str, Iterable[list[dict[str, Any]]]]]:
    filters = document_filters(where.fund_codes, where.report_types, where.period_from, where.period_to)
    for name in operations.EXPORT_TABLES:
        yield name, operations.iter_table_rows(store.engine, name, filters)


def _cell(value: object) -> object:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, default=json_default)
    return value


def export_csv(store: Store, out_dir: Path, where: ExportFilter) -> dict[str, int]:
    """``<out_dir>/<table>.csv`` for each export table (UTF-8 with a header row)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    for name, batches in _table_batches(store, where):
        counts[name] = 0
        columns = [column for column, _kind in operations.export_columns(name)]
        with _atomic(out_dir / f"{name}.csv") as tmp, tmp.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            for batch in batches:
                writer.writerows({k: _cell(v) for k, v in row.items()} for row in batch)
                counts[name] += len(batch)
    return counts


def _arrow_schema(table_name: str) -> Any:
    import pyarrow as pa

    types = {"decimal": pa.decimal128(38, 8), "int": pa.int64(), "date": pa.date32(), "bool": pa.bool_(),
             "datetime": pa.timestamp("us", tz="UTC"), "json": pa.string(), "text": pa.string()}
    return pa.schema([(name, types[kind]) for name, kind in operations.export_columns(table_name)])


def export_parquet(store: Store, out_dir: Path, where: ExportFilter) -> dict[str, int]:
    """``<out_dir>/<table>.parquet`` for each export table; money and shares stay exact (decimal128(38, 8))."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out_dir.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    for name, batches in _table_batches(store, where):
        schema = _arrow_schema(name)
        counts[name] = 0
        with _atomic(out_dir / f"{name}.parquet") as tmp, pq.ParquetWriter(tmp, schema) as writer:
            for batch in batches:
                rows = [{k: _cell(v) for k, v in row.items()} for row in batch]
                writer.write_table(pa.Table.from_pylist(rows, schema=schema))
                counts[name] += len(batch)
    return counts
