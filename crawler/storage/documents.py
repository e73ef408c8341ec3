"""From a ``fundcrawl.report/1`` document to rows of the normalized tables (pure functions, no I/O).

The document is the product and is stored whole; these rows make its core numbers queryable in SQL. The row
functions trust the document's types (:class:`crawler.models.ReportDocument`): the parser and the validate
pipeline keep a wrongly typed value from ever reaching a save, and :func:`require_document` guards the door
for a pipeline configuration that stores without validating, so a bad value is an error, never a guess.

NUL rule: PostgreSQL ``text`` and ``json`` cannot hold U+0000, and a NUL in a fund name is never meaningful,
so every string written to the database has its NUL characters removed (on both engines, so they agree).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any, Literal, TypeVar

from sqlalchemy import Table

from crawler.models import (
    AllocationRow,
    Holding,
    IndustryRow,
    ReportDocument,
    ShareChange,
    document_problems,
    is_report_document,
    problem_summary,
)
from crawler.storage.engine import to_json
from crawler.storage.tables import (
    asset_allocation,
    holdings,
    industry_allocation,
    nav_values,
    share_changes,
    share_classes,
)
from crawler.storage.types import to_decimal

Row = dict[str, Any]
_Item = TypeVar("_Item")

#: Document keys holding lists of holdings, and the ``holdings.kind`` their rows get. Trading activity
#: (``top_buys``/``top_sells``) and note tables are not holdings: they stay in the document only.
HoldingKey = Literal[
    "top_stocks", "top_bonds", "top_funds", "top_abs", "top_warrants", "top_derivatives", "precious_metals"
]
HOLDING_KINDS: dict[HoldingKey, str] = {
    "top_stocks": "stock",
    "top_bonds": "bond",
    "top_funds": "fund",
    "top_abs": "abs",
    "top_warrants": "warrant",
    "top_derivatives": "derivative",
    "precious_metals": "precious_metal",
}
#: Holding kinds whose annual and interim tables list every position (所有股票投资明细, the FOF fund table); every
#: other table, and every quarterly one, lists only the largest few.
COMPLETE_IN_FULL_REPORTS = frozenset({"stock", "fund"})
FULL_REPORT_KINDS = frozenset({"annual", "interim"})
#: The key under which a document prints a fund-level figure (all share classes together).
TOTAL = "total"
HOLDING_FIELDS = ("rank", "code", "name", "quantity", "fair_value_yuan", "pct_of_nav")
SHARE_CHANGE_FIELDS = ("beginning", "subscriptions", "redemptions", "split", "ending")
NAV_FIELDS = ("total_net_assets", "nav_per_unit", "ending_shares")
#: An asset-allocation row's percentage key is ``pct_of_<basis>``; ordinary funds print shares of total assets.
PCT_PREFIX = "pct_of_"
TOTAL_ASSETS_PCT = "pct_of_total_assets"


def storable(value: Any) -> Any:
    """``value`` made storable as JSON on both engines: NUL removed from every string (keys included, see the
    module docstring), non-finite numbers as null, decimals as numbers, dates as ISO text, tuples as lists.
    """
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, bool | int | None):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return float(value) if value.is_finite() else None
    if isinstance(value, Mapping):
        return {storable(str(key)): storable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [storable(item) for item in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    return storable(str(value))


#: How ``json.dumps`` writes U+0000 (it escapes every control character), so a text without it holds no NUL.
_NUL_ESCAPED = "\\u0000"


def storable_json(value: Any, *, sort_keys: bool = True) -> tuple[Any, str]:
    """``value`` made storable (see :func:`storable`) and its JSON text: keys sorted (what comparisons of small
    values use), or with ``sort_keys=False`` in the value's own order: the very text a JSON column stores for it.

    Serialized once, in C; walked in Python only when the text shows something :func:`storable` would change: a
    NUL, a value JSON cannot hold (a decimal, a date) or a non-finite number. A parsed report (nearly every value
    stored) has none, and walking a whole document in Python cost more than serializing it. Tuples stay tuples here
    and are written as lists, as the walk would make them.
    """
    try:
        text = to_json(value, sort_keys=sort_keys)
    except (TypeError, ValueError):
        text = _NUL_ESCAPED
    if _NUL_ESCAPED not in text:
        return value, text
    value = storable(value)
    return value, to_json(value, sort_keys=sort_keys)


def iso_date(value: object) -> dt.date | None:
    """An ISO ``YYYY-MM-DD`` string (or a date) as a date; None for anything else."""
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


class DocumentError(ValueError):
    """A document handed to storage does not fit ``fundcrawl.report/1``: a value of the wrong type or shape."""


def require_document(document: object, upload_info_id: int) -> ReportDocument:
    """``document`` as the typed report document it is, or :class:`DocumentError` naming its bad values."""
    if is_report_document(document):
        return document
    raise DocumentError(f"report {upload_info_id}: the document does not fit fundcrawl.report/1: "
                        f"{problem_summary(document_problems(document))}")


def document_date(value: str | None) -> dt.date | None:
    """A document date (ISO text, or None where the page prints none) as a date."""
    return None if value is None else dt.date.fromisoformat(value)


def normalized_rows(
    document: ReportDocument, upload_info_id: int, parser_version: str
) -> dict[Table, list[Row]]:
    """Every normalized row of one report, by table."""
    base = {"upload_info_id": upload_info_id, "parser_version": parser_version}
    produced = {
        share_classes: _share_classes(document),
        nav_values: nav_rows(document),
        share_changes: share_change_rows(document),
        asset_allocation: asset_allocation_rows(document),
        industry_allocation: _positioned(document.get("industry_allocation", []), _industry_row),
        holdings: list(_holdings(document)),
    }
    return {table: [{**base, **row} for row in rows] for table, rows in produced.items()}


def _share_classes(document: ReportDocument) -> list[Row]:
    return [
        {"position": position, "class_name": item["name"], "code": item.get("code")}
        for position, item in enumerate(document.get("share_classes", []))
    ]


def report_facts(document: ReportDocument) -> Row:
    """The report-level columns the parsed page fills: names, kind, period, parties and fund-level totals."""
    facts: Row = {
        "fund_name": document.get("fund_name"),
        "report_kind": document.get("report_kind"),
        "period_start": document_date(document.get("period_start")),
        "manager": document.get("manager"),
        "custodian": document.get("custodian"),
        "total_net_assets": to_decimal(document.get("total_net_assets", {}).get(TOTAL)),
        "ending_shares": to_decimal(document.get("ending_shares", {}).get(TOTAL)),
    }
    fund = document.get("share_changes", {}).get(TOTAL)
    if facts["ending_shares"] is None and fund is not None:
        # The share-change table's fund-level column is the same figure (its only one on a multi-class page).
        facts["ending_shares"] = to_decimal(fund.get("ending"))
    return facts


def list_scope(report_kind: str | None, holding_kind: str) -> str:
    """``complete`` when the report's table of this kind lists every holding, else ``top_n``."""
    complete = report_kind in FULL_REPORT_KINDS and holding_kind in COMPLETE_IN_FULL_REPORTS
    return "complete" if complete else "top_n"


def per_class(document: ReportDocument, by_key: Mapping[str, Row]) -> list[tuple[str, str | None, Row]]:
    """``(class name, class code, figures)`` of each share class, from figures keyed as the document keys them.

    The fund-level ``total`` of a multi-class fund is not a class: its figures are on the reports row
    (:func:`report_facts`). A fund that prints only a total and lists no classes has one class, the fund itself,
    named after it and coded with the fund code, so every table names that class alike.
    """
    codes = {row["class_name"]: row["code"] for row in _share_classes(document)}
    if TOTAL in by_key and len(by_key) == 1 and not codes:
        fund_code = document.get("fund_code")
        return [(document.get("fund_name") or fund_code or TOTAL, fund_code, by_key[TOTAL])]
    return [(name, codes.get(name), figures) for name, figures in by_key.items() if name != TOTAL]


def nav_rows(document: ReportDocument) -> list[Row]:
    """One row per share class (see :func:`per_class`), with its code and the period end."""
    by_field = {
        "total_net_assets": document.get("total_net_assets", {}),
        "nav_per_unit": document.get("nav_per_unit", {}),
        "ending_shares": document.get("ending_shares", {}),
    }
    by_key: dict[str, Row] = {}
    for field in NAV_FIELDS:
        for key, value in by_field[field].items():
            by_key.setdefault(key, {})[field] = to_decimal(value)
    period_end = document_date(document.get("period_end"))
    return [
        {
            "class_name": name,
            "class_code": code,
            "period_end": period_end,
            **{field: figures.get(field) for field in NAV_FIELDS},
        }
        for name, code, figures in per_class(document, by_key)
    ]


def share_change_rows(document: ReportDocument) -> list[Row]:
    """One row per share class (see :func:`per_class`): beginning, subscriptions, redemptions, split, ending."""
    by_key = {key: _share_change(values) for key, values in document.get("share_changes", {}).items()}
    return [
        {"class_name": name, "class_code": code, **figures} for name, code, figures in per_class(document, by_key)
    ]


def _share_change(values: ShareChange) -> Row:
    return {field: to_decimal(values.get(field)) for field in SHARE_CHANGE_FIELDS}


def _positioned(items: Sequence[_Item], make: Callable[[_Item], Row]) -> list[Row]:
    return [{"position": position, **make(item)} for position, item in enumerate(items)]


def asset_allocation_rows(document: ReportDocument) -> list[Row]:
    """The asset-allocation rows in printed order (see :func:`asset_row`)."""
    return _positioned(document.get("asset_allocation", []), asset_row)


def asset_row(item: AllocationRow) -> Row:
    """One asset-allocation row: the printed percentage under ``pct`` and its basis under ``pct_basis``.

    A row's percentage key names its basis (``pct_of_total_assets``, a REIT's ``pct_of_non_abs_portfolio``);
    the basis code is that key without ``pct_of_``, so a basis the parser learns later is stored as it names it.
    The printed sequence number is stored as text (``1``; sub-rows print none).
    """
    printed: Mapping[str, object] = item
    key = next((name for name in printed if name.startswith(PCT_PREFIX)), None)
    pct = to_decimal(printed[key]) if key else None
    seq = item.get("seq")
    return {
        "seq": None if seq is None else str(seq),
        "category": item.get("category"),
        "amount_yuan": to_decimal(item.get("amount_yuan")),
        "pct_of_total_assets": pct if key == TOTAL_ASSETS_PCT else None,
        "pct": pct,
        "pct_basis": key.removeprefix(PCT_PREFIX) if key else None,
    }


def _industry_row(item: IndustryRow) -> Row:
    return {
        "market": item.get("market"),
        "sleeve": item.get("sleeve"),
        "code": item.get("code"),
        "industry": item.get("industry"),
        "fair_value_yuan": to_decimal(item.get("fair_value_yuan")),
        "pct_of_nav": to_decimal(item.get("pct_of_nav")),
    }


def _holdings(document: ReportDocument) -> Iterator[Row]:
    for key, kind in HOLDING_KINDS.items():
        scope = list_scope(document.get("report_kind"), kind)
        for position, item in enumerate(document.get(key, [])):
            yield {"kind": kind, "position": position, "list_scope": scope, **_holding_row(item)}


def _holding_row(item: Holding) -> Row:
    extra = {key: value for key, value in item.items() if key not in HOLDING_FIELDS}
    return {
        "rank": item.get("rank"),
        "code": item.get("code"),
        "name": item.get("name"),
        "quantity": to_decimal(item.get("quantity")),
        "fair_value_yuan": to_decimal(item.get("fair_value_yuan")),
        "pct_of_nav": to_decimal(item.get("pct_of_nav")),
        "extra": extra or None,
    }
