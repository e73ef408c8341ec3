"""Assemble section results into the public ``fundcrawl.report/1`` document.

The rules that combine sections live here: the full fund name is 基金名称 when printed, else the title
minus its period suffix; the fund-level net assets of a class fund come from the balance sheet
(净资产合计) because the indicator table leaves that column blank; the period start comes from the
quarterly indicator header or the income-statement heading (``本报告期：…至…``).
"""

from __future__ import annotations

from typing import Any, cast

from crawler.models import ReportDocument
from crawler.parsing.sections.tables import TOTAL

#: Top-level keys in the order the document prints them (others follow in insertion order); every document has
#: them, None where the page does not print one.
LEADING_KEYS = (
    "schema",
    "parser_version",
    "fund_code",
    "fund_name",
    "report_title",
    "report_kind",
    "report_year",
    "period_start",
    "period_end",
    "send_date",
    "manager",
    "custodian",
)
#: Parts merged field by field above; every other part's keys go into the document as they are.
_COMBINED = ("metadata", "basic", "profile", "indicators")
_INTERNAL = (
    "fund_name_printed",
    "manager_printed",
    "custodian_printed",
    "indicator_period",
    "statement_period",
)


def assemble(parts: dict[str, dict[str, Any]], *, schema: str, parser_version: str) -> ReportDocument:
    """One document from the per-section results (absent sections simply add no keys).

    Each section parser returns its own part type, which mypy checks against the row types of
    :class:`ReportDocument`; the parser hands the parts over as plain dicts after checking each against the
    document's types at run time (and the whole document after), so the result is one.
    """
    meta, basic, profile = parts["metadata"], parts["basic"], parts["profile"]
    doc: dict[str, Any] = {"schema": schema, "parser_version": parser_version}
    doc.update(meta)
    for source in (basic, profile):
        for key, value in source.items():
            if key != "ending_shares" and doc.get(key) is None:
                doc[key] = value
    doc["fund_name"] = basic.get("fund_name_printed") or meta.get("fund_name")
    doc["manager"] = meta.get("manager") or basic.get("manager_printed") or profile.get("manager_printed")
    doc["custodian"] = (
        meta.get("custodian") or basic.get("custodian_printed") or profile.get("custodian_printed")
    )
    doc["period_start"] = _period_start(meta, parts["indicators"], parts["statements"])
    _figures(doc, parts)
    for key, part in parts.items():
        if key not in _COMBINED:
            doc.update(part)
    _reit_total_assets(doc)
    for key in _INTERNAL:
        doc.pop(key, None)
    ordered = {**{k: doc.get(k) for k in LEADING_KEYS}, **{k: v for k, v in doc.items() if k not in LEADING_KEYS}}
    return cast(ReportDocument, ordered)


def _reit_total_assets(doc: dict[str, Any]) -> None:
    """REIT total assets are 期末基金总资产 (their allocation table covers only the non-ABS portfolio)."""
    fund = (doc.get("indicators") or {}).get(TOTAL, {})
    if "total_assets" not in doc and doc.get("reit") is not None and "total_assets_end" in fund:
        doc["total_assets"] = fund["total_assets_end"]


def _period_start(meta: dict[str, Any], indicators: dict[str, Any], statements: dict[str, Any]) -> str | None:
    """Quarterly: the indicator header; annual/interim/REIT: the income-statement period."""
    for period in (statements.get("statement_period"), indicators.get("indicator_period")):
        if period and (meta.get("period_end") in (None, period[1])):
            return str(period[0])
    return None


def _figures(doc: dict[str, Any], parts: dict[str, dict[str, Any]]) -> None:
    """``total_net_assets``, ``nav_per_unit``, ``ending_shares`` and ``indicators`` keyed by class."""
    indicators = parts["indicators"]
    net_assets = dict(indicators.get("total_net_assets", {}))
    balance = parts["statements"].get("balance_sheet", {})
    if TOTAL not in net_assets and net_assets and balance.get("净资产合计") is not None:
        net_assets[TOTAL] = balance["净资产合计"]
    shares = dict(parts["basic"].get("ending_shares", {}))
    for key, change in parts["share_changes"].get("share_changes", {}).items():
        if change.get("ending") is not None:
            shares.setdefault(key, change["ending"])
    if net_assets:
        doc["total_net_assets"] = net_assets
    if indicators.get("nav_per_unit"):
        doc["nav_per_unit"] = indicators["nav_per_unit"]
    if shares:
        doc["ending_shares"] = shares
    if indicators.get("indicators"):
        doc["indicators"] = indicators["indicators"]
