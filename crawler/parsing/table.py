"""Data tables (``table.bb``) read lazily into cells, and the cell text rules.

Split from ``dom`` so that the page walk and the table reading each stay small; ``crawler.parsing.dom``
re-exports ``Cell`` and ``Table`` (the public API).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from lxml import etree

#: U+FEFF appears as a stray byte-order mark in the body of some quarterly pages.
_BOM = "\ufeff"
#: Memo of plain cells by raw text, bounded so a long-running worker does not grow without limit.
_CELLS: dict[str, Cell] = {}
_CELL_MEMO_SIZE = 20_000


def normalise(text: str) -> str:
    """Collapse whitespace runs (ASCII, NBSP, U+3000) to one space, drop BOMs, trim."""
    return " ".join(text.replace(_BOM, "").split())


@dataclass(frozen=True, slots=True)
class Cell:
    """One table cell: normalised text plus its spans (``rowspan="1.00"`` read leniently)."""

    text: str
    colspan: int = 1
    rowspan: int = 1


class Table:
    """A ``table.bb`` data table; ``row_classes`` holds ``cc`` (header), ``dd`` (data) or ``''``.

    Built from markup, the rows are read on first access: an annual page has ~130 tables of which the
    section parsers read about twenty, and reading cells dominates parse time. ``Table(rows, row_classes)``
    builds one directly (tests, synthetic pages).
    """

    __slots__ = ("_classes", "_element", "_rows")

    def __init__(
        self,
        rows: list[list[Cell]] | None = None,
        row_classes: list[str] | None = None,
        *,
        element: etree._Element | None = None,
    ) -> None:
        self._rows = rows
        self._classes = row_classes if row_classes is not None else ([""] * len(rows) if rows else None)
        self._element = element

    @property
    def rows(self) -> list[list[Cell]]:
        if self._rows is None:
            self._rows, self._classes = _read_rows(self._element)
            self._element = None
        return self._rows

    @property
    def row_classes(self) -> list[str]:
        if self._classes is None:
            self.rows  # noqa: B018 - materialises both lists
        return self._classes or []

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Table):
            return NotImplemented
        return self.rows == other.rows and self.row_classes == other.row_classes

    def __repr__(self) -> str:
        return f"Table(rows={self.rows!r}, row_classes={self.row_classes!r})"

    def grid(self) -> list[list[str]]:
        """Expand colspan/rowspan into a rectangular grid of texts (spanned positions repeat the text)."""
        rows = self.rows
        if all(c.colspan == 1 and c.rowspan == 1 for row in rows for c in row):
            width = max((len(row) for row in rows), default=0)
            return [[c.text for c in row] + [""] * (width - len(row)) for row in rows]
        return _expand_spans(rows)

    def header_rows(self) -> list[list[Cell]]:
        """Rows marked ``tr.cc`` (some tables start with a ``tr.dd`` that is really a header)."""
        return [row for row, cls in zip(self.rows, self.row_classes, strict=True) if cls == "cc"]

    def data_rows(self) -> list[list[Cell]]:
        """Rows not marked ``tr.cc``."""
        return [row for row, cls in zip(self.rows, self.row_classes, strict=True) if cls != "cc"]


def _expand_spans(rows: list[list[Cell]]) -> list[list[str]]:
    """The general grid: a cell with rowspan reserves its column in the rows below."""
    pending: dict[tuple[int, int], str] = {}
    out: list[list[str]] = []
    for r, row in enumerate(rows):
        line: list[str] = []
        cells = iter(row)
        col = 0
        while True:
            if (r, col) in pending:
                line.append(pending.pop((r, col)))
                col += 1
                continue
            cell = next(cells, None)
            if cell is None:
                break
            for dc in range(cell.colspan):
                line.append(cell.text)
                for dr in range(1, cell.rowspan):
                    pending[(r + dr, col + dc)] = cell.text
            col += cell.colspan
        out.append(line)
    width = max((len(line) for line in out), default=0)
    return [line + [""] * (width - len(line)) for line in out]


def clear_cell_memo() -> None:
    """Forget memoised cells (benchmarks use it to time a page as if it were the first one parsed)."""
    _CELLS.clear()


def _read_rows(table: etree._Element | None) -> tuple[list[list[Cell]], list[str]]:
    """Rows of ``./tr | ./tbody/tr`` (the profile's tables have no tbody); empty rows dropped."""
    rows: list[list[Cell]] = []
    classes: list[str] = []
    if table is None:
        return rows, classes
    for tr in _table_rows(table):
        cells = [_read_cell(td) for td in tr if td.tag in ("td", "th")]
        if cells:
            rows.append(cells)
            classes.append(tr.get("class") or "")
    return rows, classes


def _table_rows(table: etree._Element) -> Iterator[etree._Element]:
    for child in table:
        if child.tag == "tr":
            yield child
        elif child.tag in ("tbody", "thead", "tfoot"):
            yield from (tr for tr in child if tr.tag == "tr")


def _read_cell(td: etree._Element) -> Cell:
    """A cell's text: child-element boundaries (``<p>``, ``<br/>``) become one space, whitespace collapsed.

    The common cell is ``td > p`` with plain text and no spans; those are memoised by their raw text
    (``-``, ``0.00``, row labels repeat within and across pages). Cells are immutable, so sharing is safe.
    """
    colspan, rowspan = td.get("colspan"), td.get("rowspan")
    raw = _plain_text(td)
    if raw is None:
        raw = " ".join(td.itertext())
    elif colspan is None and rowspan is None:
        cell = _CELLS.get(raw)
        if cell is None:
            if len(_CELLS) >= _CELL_MEMO_SIZE:
                _CELLS.clear()
            cell = _CELLS[raw] = Cell(normalise(raw))
        return cell
    return Cell(
        normalise(raw), 1 if colspan is None else _span(colspan), 1 if rowspan is None else _span(rowspan)
    )


def _plain_text(td: etree._Element) -> str | None:
    """Text of a ``td`` holding one childless ``<p>`` and only whitespace around it; else None."""
    if len(td) != 1:
        return None
    p = td[0]
    lead, tail = td.text, p.tail
    if len(p) or p.tag != "p" or (lead and not lead.isspace()) or (tail and not tail.isspace()):
        return None
    return p.text or ""


def _span(value: str | None) -> int:
    """Lenient span: ``"1.00"`` -> 1, junk or missing -> 1."""
    if not value:
        return 1
    try:
        return max(1, int(float(value)))
    except ValueError:
        return 1
