"""Share changes over the period (开放式基金份额变动 / REIT 基金份额变动情况), per class and total.

Label wording varies by template (``报告期期初…`` / ``本报告期期初…``, a ``减：`` prefix, a trailing
``（份额减少以“-”填列）``), so rows are matched by anchored patterns. In class tables the fund-level column
holds only the ending total.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal, TypedDict

from crawler.exceptions import ParseError
from crawler.models import ShareChange
from crawler.parsing.dom import Page
from crawler.parsing.sections.tables import class_key, first_table, label
from crawler.parsing.values import parse_number

SECTION = re.compile(r"^(?:开放式基金份额变动|基金份额变动情况)$")
HEADINGS: tuple[re.Pattern[str], ...] = (SECTION,)

_Field = Literal["at_contract_effective", "beginning", "subscriptions", "redemptions", "split", "ending"]
FIELDS: tuple[tuple[_Field, re.Pattern[str]], ...] = (
    ("at_contract_effective", re.compile(r"^基金合同生效日.*基金份额总额$")),
    ("beginning", re.compile(r"^(?:本)?报告期期初基金份额总额")),
    ("subscriptions", re.compile(r"总申购份额")),
    ("redemptions", re.compile(r"总赎回份额")),
    ("split", re.compile(r"拆分变动份额")),
    ("ending", re.compile(r"^(?:本)?报告期期末基金份额总额")),
)


class SharesPart(TypedDict, total=False):
    """The document key the share-change table fills."""

    share_changes: dict[str, ShareChange]


def parse_share_changes(page: Page, class_names: Sequence[str]) -> SharesPart:
    """``{"share_changes": {key: {beginning, subscriptions, redemptions, split, ending}}}`` or {}."""
    section = page.find(SECTION)
    table = first_table(section)
    if section is None or table is None:
        return {}
    grid = table.grid()
    if not grid:
        raise ParseError("share changes: empty table", section=section.heading)
    keys = [class_key(text, class_names) for text in grid[0][1:]]
    # Several columns claiming one key means the class names are unknown: guessing could mis-map.
    columns = {j + 1: key for j, key in enumerate(keys) if keys.count(key) == 1}
    if len(columns) != len(keys):
        raise ParseError("share changes: class columns cannot be told apart", section=section.heading)
    out = {key: _unprinted() for key in columns.values()}
    try:
        for row in grid[1:]:
            field = _field(label(row[0]))
            if field is None:
                continue
            for j, key in columns.items():
                out[key][field] = parse_number(row[j]) if j < len(row) else None
    except ValueError as exc:
        raise ParseError(f"share changes: {exc}", section=section.heading) from exc
    return {"share_changes": out}


def _unprinted() -> ShareChange:
    """A class's changes before the table is read: the keys every class carries, None until the page prints a
    figure."""
    return {"beginning": None, "subscriptions": None, "redemptions": None, "split": None, "ending": None}


def _field(text: str) -> _Field | None:
    for name, rx in FIELDS:
        if rx.search(text):
            return name
    return None
