"""From a ``fundcrawl.report/1`` document to rows of the normalized tables (pure functions, no I/O).

The document is the product and is stored whole; these rows make its core numbers queryable in SQL. The
mapping is tolerant: a section with an unexpected shape yields no rows instead of failing the save, because
the full document is kept either way and the checks flag the anomaly.

NUL rule: PostgreSQL ``text`` and ``json`` cannot hold U+0000, and a NUL in a fund name is never meaningful,
so every string written to the database has its NUL characters removed (on both engines, so they agree).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import Table

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

#: Document keys holding lists of holdings, and the ``holdings.kind`` their rows get. Trading activity
#: (``top_buys``/``top_sells``) and note tables are not holdings: they stay in the document only.
HOLDING_KINDS = {
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


def normalized_rows(
    document: Mapping[str, Any], upload_info_id: int, parser_version: str
) -> dict[Table, list[Row]]:
    """Every normalized row of one report, by table."""
    base = {"upload_info_id": upload_info_id, "parser_version": parser_version}
    produced = {
        share_classes: _share_classes(document),
        nav_values: nav_rows(document),
        share_changes: share_change_rows(document),
        asset_allocation: asset_allocation_rows(document),
        industry_allocation: _positioned(document.get("industry_allocation"), _industry_row),
        holdings: list(_holdings(document)),
    }
    return {table: [{**base, **row} for row in rows] for table, rows in produced.items()}


def _text(value: object) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _dicts(value: object) -> list[Mapping[str, Any]]:
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def _share_classes(document: Mapping[str, Any]) -> list[Row]:
    return [
        {"position": position, "class_name": _text(item.get("name")) or "", "code": _text(item.get("code"))}
        for position, item in enumerate(_dicts(document.get("share_classes")))
    ]


def report_facts(document: Mapping[str, Any]) -> Row:
    """The report-level columns the parsed page fills: names, kind, period, parties and fund-level totals."""
    facts: Row = {
        "fund_name": _text(document.get("fund_name")),
        "report_kind": _text(document.get("report_kind")),
        "period_start": iso_date(document.get("period_start")),
        "manager": _text(document.get("manager")),
        "custodian": _text(document.get("custodian")),
    }
    for field in ("total_net_assets", "ending_shares"):
        values = document.get(field)
        facts[field] = to_decimal(values.get(TOTAL)) if isinstance(values, Mapping) else None
    if facts["ending_shares"] is None:
        # The share-change table's fund-level column is the same figure (its only one on a multi-class page).
        changes = document.get("share_changes")
        fund = changes.get(TOTAL) if isinstance(changes, Mapping) else None
        facts["ending_shares"] = to_decimal(fund.get("ending")) if isinstance(fund, Mapping) else None
    return facts


def list_scope(report_kind: object, holding_kind: str) -> str:
    """``complete`` when the report's table of this kind lists every holding, else ``top_n``."""
    complete = report_kind in FULL_REPORT_KINDS and holding_kind in COMPLETE_IN_FULL_REPORTS
    return "complete" if complete else "top_n"


def per_class(document: Mapping[str, Any], by_key: Mapping[str, Row]) -> list[tuple[str, str | None, Row]]:
    """``(class name, class code, figures)`` of each share class, from figures keyed as the document keys them.

    The fund-level ``total`` of a multi-class fund is not a class: its figures are on the reports row
    (:func:`report_facts`). A fund that prints only a total and lists no classes has one class, the fund itself,
    named after it and coded with the fund code, so every table names that class alike.
    """
    codes = {row["class_name"]: row["code"] for row in _share_classes(document)}
    if TOTAL in by_key and len(by_key) == 1 and not codes:
        fund_code = _text(document.get("fund_code"))
        return [(_text(document.get("fund_name")) or fund_code or TOTAL, fund_code, by_key[TOTAL])]
    return [(name, codes.get(name), figures) for name, figures in by_key.items() if name != TOTAL]


def nav_rows(document: Mapping[str, Any]) -> list[Row]:
    """One row per share class (see :func:`per_class`), with its code and the period end."""
    by_key: dict[str, Row] = {}
    for field in NAV_FIELDS:
        values = document.get(field)
        if not isinstance(values, Mapping):
            continue
        for key, value in values.items():
            by_key.setdefault(str(key), {})[field] = to_decimal(value)
    period_end = iso_date(document.get("period_end"))
    return [
        {
            "class_name": name,
            "class_code": code,
            "period_end": period_end,
            **{field: figures.get(field) for field in NAV_FIELDS},
        }
        for name, code, figures in per_class(document, by_key)
    ]


def share_change_rows(document: Mapping[str, Any]) -> list[Row]:
    """One row per share class (see :func:`per_class`): beginning, subscriptions, redemptions, split, ending."""
    changes = document.get("share_changes")
    if not isinstance(changes, Mapping):
        return []
    by_key = {
        str(key): {field: to_decimal(values.get(field)) for field in SHARE_CHANGE_FIELDS}
        for key, values in changes.items()
        if isinstance(values, Mapping)
    }
    return [
        {"class_name": name, "class_code": code, **figures} for name, code, figures in per_class(document, by_key)
    ]


def _positioned(items: object, make: Any) -> list[Row]:
    return [{"position": position, **make(item)} for position, item in enumerate(_dicts(items))]


def asset_allocation_rows(document: Mapping[str, Any]) -> list[Row]:
    """The asset-allocation rows in printed order (see :func:`asset_row`)."""
    return _positioned(document.get("asset_allocation"), asset_row)


def asset_row(item: Mapping[str, Any]) -> Row:
    """One asset-allocation row: the printed percentage under ``pct`` and its basis under ``pct_basis``.

    A row's percentage key names its basis (``pct_of_total_assets``, a REIT's ``pct_of_non_abs_portfolio``);
    the basis code is that key without ``pct_of_``, so a basis the parser learns later is stored as it names it.
    """
    key = next((str(name) for name in item if str(name).startswith(PCT_PREFIX)), None)
    pct = to_decimal(item.get(key)) if key else None
    return {
        "seq": _text(item.get("seq")),
        "category": _text(item.get("category")),
        "amount_yuan": to_decimal(item.get("amount_yuan")),
        "pct_of_total_assets": pct if key == TOTAL_ASSETS_PCT else None,
        "pct": pct,
        "pct_basis": key.removeprefix(PCT_PREFIX) if key else None,
    }


def _industry_row(item: Mapping[str, Any]) -> Row:
    return {
        "market": _text(item.get("market")),
        "sleeve": _text(item.get("sleeve")),
        "code": _text(item.get("code")),
        "industry": _text(item.get("industry")),
        "fair_value_yuan": to_decimal(item.get("fair_value_yuan")),
        "pct_of_nav": to_decimal(item.get("pct_of_nav")),
    }


def _holdings(document: Mapping[str, Any]) -> Iterator[Row]:
    for key, kind in HOLDING_KINDS.items():
        scope = list_scope(document.get("report_kind"), kind)
        for position, item in enumerate(_dicts(document.get(key))):
            yield {"kind": kind, "position": position, "list_scope": scope, **_holding_row(item)}


def _holding_row(item: Mapping[str, Any]) -> Row:
    extra = {key: value for key, value in item.items() if key not in HOLDING_FIELDS}
    return {
        "rank": _int(item.get("rank")),
        "code": _text(item.get("code")),
        "name": _text(item.get("name")),
        "quantity": to_decimal(item.get("quantity")),
        "fair_value_yuan": to_decimal(item.get("fair_value_yuan")),
        "pct_of_nav": to_decimal(item.get("pct_of_nav")),
        "extra": extra or None,
    }
