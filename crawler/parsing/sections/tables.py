"""Reading the shapes EID tables come in: key-value tables, label-by-column tables, class columns.

Section parsers share these so that "which column is the current period" and "which column is which share
class" are decided in one place.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from crawler.parsing.dom import Section, Table

#: Row labels in quarterly tables may carry a ``1.`` prefix (template change between 2024-Q2 and 2025-Q1).
_LABEL_PREFIX = re.compile(r"^(?:\d+\s*[.、．]\s*|[一二三四五六七八九十]+、\s*|减：)")
#: Column-header decorations after a class name: ``(元)``, a period on the next ``<p>``.
_HEADER_TAIL = re.compile(r"\s*[（(]元[）)].*$|\s+\d{4}-\d{2}-\d{2}.*$")

TOTAL = "total"


def label(text: str) -> str:
    """A row label without its ``1.`` / ``一、`` / ``减：`` prefix."""
    return _LABEL_PREFIX.sub("", text).strip()


def key_values(table: Table) -> dict[str, list[str]]:
    """A key-value table as ``label -> value cells`` (first occurrence wins; spans not expanded).

    Class rows such as ``下属2级基金的交易代码 | 970127 | 970128`` keep all their value cells.
    """
    out: dict[str, list[str]] = {}
    for row in table.rows:
        if len(row) >= 2:
            out.setdefault(row[0].text, [cell.text for cell in row[1:]])
    return out


def first_table(section: Section | None) -> Table | None:
    """The section's first data table, or None when the section is absent or prints only a note."""
    return section.tables[0] if section is not None and section.tables else None


def class_key(header: str, class_names: Sequence[str]) -> str:
    """Map a class column header to the class name as printed, or ``total`` for the fund-level column.

    Headers are ``<class>(元) <period>``, a class name, the fund short name or ``主基金(元)``. The longest
    class name that the header starts with wins (``…A`` must not swallow ``…AA``).
    """
    name = _HEADER_TAIL.sub("", header).strip()
    if name in class_names:
        return name
    matches = [c for c in class_names if c and name.startswith(c)]
    return max(matches, key=len) if matches else TOTAL


def suffix_class(suffix: str, class_names: Sequence[str]) -> str:
    """A heading's class suffix (``A``, `` E``, or the full class name) as the printed class name."""
    suffix = suffix.strip()
    if not suffix:
        return TOTAL
    if suffix in class_names:
        return suffix
    ends = [c for c in class_names if c.endswith(suffix)]
    return ends[0] if len(ends) == 1 else suffix
