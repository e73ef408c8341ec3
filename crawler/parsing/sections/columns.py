"""Header signatures: which column of a portfolio table holds which field.

Portfolio tables change shape by fund kind (6-column A-share tables, 9-column QDII tables, 8-column FOF
fund tables, 7-column QDII fund tables without a code, money-market ``摊余成本`` columns), and some start
with a header row marked ``tr.dd``. So a table is never read by column
position: its header row is found by matching header texts against named column patterns, and each data
row is then read into a dict keyed by field name.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from crawler.exceptions import ParseError
from crawler.parsing.dom import Section, Table
from crawler.parsing.values import EMPTY_MARKERS, clean_text, parse_int, parse_number

#: Label cells of total and adjustment rows, which are not holdings: ``合计``, ``减：可抵销期货暂收款``
#: and the futures summary lines ``公允价值变动总额合计(元)``, ``股指期货投资本期收益(元)``. Matched once
#: per row against the cells joined by ``_SEP``, so a cell start is ``^`` or ``_SEP``.
_SEP = "\x1f"
_TOTAL_ROW = re.compile(r"(?:^|\x1f)(?:合计|总计|小计|净额|减：)|总额合计|本期收益|本期公允价值变动")
_SLEEVE = re.compile(r"指数投资|积极投资")


@dataclass(frozen=True, slots=True)
class Column:
    """A field and the header text that announces it; ``kind`` picks the value reader."""

    key: str
    header: re.Pattern[str]
    kind: str = "text"  # text | number | int | flag


def col(key: str, header: str, kind: str = "text") -> Column:
    """Shorthand for a :class:`Column` whose header pattern is matched with ``re.search``."""
    return Column(key, re.compile(header), kind)


@dataclass(frozen=True, slots=True)
class Layout:
    """A located header: the row it sits on and the column index of each field."""

    header_row: int
    fields: dict[int, Column]


def sleeve_of(heading: str) -> str | None:
    """``index`` or ``active`` for the 指数投资/积极投资 split tables of index-enhanced funds."""
    m = _SLEEVE.search(heading)
    if m is None:
        return None
    return "index" if m.group() == "指数投资" else "active"


def locate(grid: list[list[str]], columns: Sequence[Column], required: Iterable[str]) -> Layout | None:
    """The first row (of either ``cc`` or ``dd`` class) whose cells name every required field."""
    needed = frozenset(required)
    for r, row in enumerate(grid[:4]):
        fields = _match_row(row, columns)
        if needed <= {c.key for c in fields.values()}:
            return Layout(r, fields)
    return None


def _match_row(row: list[str], columns: Sequence[Column]) -> dict[int, Column]:
    """Map each header cell to the first unused column whose pattern matches its text."""
    fields: dict[int, Column] = {}
    used: set[str] = set()
    for i, text in enumerate(row):
        compact = "".join(text.split())
        for column in columns:
            if column.key not in used and column.header.search(compact):
                fields[i] = column
                used.add(column.key)
                break
    return fields


def read_text(text: str) -> str | None:
    """Trimmed text; an empty marker (``-`` for a missing Chinese name, blank) is None."""
    value = clean_text(text)
    return None if value in EMPTY_MARKERS else value


def read_flag(text: str) -> bool | str | None:
    """``是``/``否`` as a bool; anything else as printed."""
    value = read_text(text)
    return {"是": True, "否": False}.get(value, value) if value is not None else None


_READERS: dict[str, Callable[[str], Any]] = {
    "text": read_text,
    "flag": read_flag,
    "number": parse_number,
    "int": parse_int,
}


def is_total(row: list[str]) -> bool:
    """True for 合计 and similar summary rows, whichever column carries the label."""
    return _TOTAL_ROW.search(_SEP.join(row)) is not None


def read_records(
    section: Section, grid: list[list[str]], layout: Layout, *, totals: bool = False
) -> list[dict[str, Any]]:
    """Data rows below the header as dicts (summary rows only with ``totals``); a cell that is not what
    its header promises is an error, never a silently wrong number."""
    records = []
    readers = [(i, col.key, _READERS[col.kind]) for i, col in layout.fields.items()]
    width = max(layout.fields) + 1
    for row in grid[layout.header_row + 1 :]:
        if len(row) < width:  # a short row (no spans to expand) reads as blank cells
            row = row + [""] * (width - len(row))
        if not totals and is_total(row):
            continue
        try:
            record = {key: read(row[i]) for i, key, read in readers}
        except ValueError as exc:
            raise ParseError(f"unreadable cell: {exc}", section=section.heading) from exc
        records.append(record)
    return records


def tables_with(
    section: Section, columns: Sequence[Column], required: Iterable[str]
) -> list[tuple[list[list[str]], Layout]]:
    """Every table of the section that has the signature; ParseError when the section has tables but
    none of them does (a layout this parser does not know, better reported than mis-mapped)."""
    found = []
    needed = tuple(required)
    for table in section.tables:
        grid = _texts(table)
        layout = locate(grid, columns, needed)
        if layout is not None:
            found.append((grid, layout))
    if section.tables and not found and not all(_is_blank(t) for t in section.tables):
        raise ParseError("no table with a known header", section=section.heading)
    return found


def _texts(table: Table) -> list[list[str]]:
    """The cell texts by row; only tables with merged cells pay for span expansion."""
    rows = table.rows
    if any(cell.colspan > 1 or cell.rowspan > 1 for row in rows for cell in row):
        return table.grid()
    return [[cell.text for cell in row] for row in rows]


def _is_blank(table: Table) -> bool:
    return all(not cell.text for row in table.rows for cell in row)


def has_values(record: Mapping[str, object], keys: Iterable[str]) -> bool:
    """True when at least one of ``keys`` holds a value (rows printed as ``-`` throughout are dropped)."""
    return any(record.get(k) is not None for k in keys)
