"""Synthetic report pages in the real EID markup, with the values they must parse to (an oracle).

``generate_page(spec)`` is pure and deterministic from ``spec.seed``: the replica makes pages on demand and
never holds them. The page follows the 2025 quarterly template of the real site:
banner, navigation tree, 基金基本情况, 主要财务指标, NAV growth, managers, 投资组合报告 (asset allocation,
industry, top-10 stocks, bond types, top-5 bonds, other assets) and 开放式基金份额变动. Annual and interim
specs get their own title and period on the same layout. ``expected`` is the ``fundcrawl.report/1`` document.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Any

from tests.replica import holdings, sections
from tests.replica import markup as m
from tests.replica.portfolio import MONEY_MARKET, MONEY_MARKET_NAV, Portfolio, make_portfolio
from tests.replica.profile import profile_page

PERIODS = {"q1": ((1, 1), (3, 31)), "q2": ((4, 1), (6, 30)), "q3": ((7, 1), (9, 30)), "q4": ((10, 1), (12, 31)),
           "interim": ((1, 1), (6, 30)), "annual": ((1, 1), (12, 31))}
QUARTER_NO = {"q1": 1, "q2": 2, "q3": 3, "q4": 4}


@dataclass(frozen=True)
class PageSpec:
    """Who and what a generated report is about; ``seed`` fixes every number on the page."""

    fund_code: str
    fund_name: str
    short_name: str
    manager: str
    custodian: str
    report_kind: str
    report_year: int
    send_date: dt.date
    fund_type: str = "6020-6040"
    classes: int = 0
    inception: str = "2015-06-01"
    seed: int = 0

    @property
    def period(self) -> tuple[dt.date, dt.date]:
        (m1, d1), (m2, d2) = PERIODS.get(self.report_kind, PERIODS["q1"])
        return dt.date(self.report_year, m1, d1), dt.date(self.report_year, m2, d2)

    @property
    def title(self) -> str:
        if self.report_kind in QUARTER_NO:
            return f"{self.fund_name}{self.report_year}年第{QUARTER_NO[self.report_kind]}季度报告"
        suffix = "年度报告" if self.report_kind == "annual" else "中期报告"
        return f"{self.fund_name}{self.report_year}年{suffix}"

    def class_names(self) -> list[tuple[str, str]]:
        """[(class name, trading code)]; a single unnamed entry for a single-class fund."""
        if self.classes < 2:
            return [("", self.fund_code)]
        letters = "ACEY"[: self.classes]
        return [(f"{self.short_name}{letter}", f"{int(self.fund_code) + i:06d}") for i, letter in enumerate(letters)]


@dataclass(frozen=True)
class GeneratedPage:
    """A page's bytes (UTF-8 HTML) and the document the parser should make of it."""

    html: bytes
    expected: dict[str, Any]


def generate_page(spec: PageSpec) -> GeneratedPage:
    """Write ``spec``'s page and its expected ``fundcrawl.report/1`` document."""
    if spec.report_kind in ("profile", "profile_update"):
        html, expected = profile_page(spec)
        return GeneratedPage(html.encode("utf-8"), expected)
    rng = random.Random(spec.seed)
    portfolio = make_portfolio(rng, spec.fund_type, spec.class_names())
    start, end = spec.period
    chapters, body = sections.body(spec, portfolio, rng, start, end)
    cover = [end.isoformat(), f"基金管理人：{spec.manager}", f"基金托管人：{spec.custodian}",
             f"报告送出日期：{spec.send_date.isoformat()}"]
    html = "".join((m.head(), m.banner(spec.title, cover), "<!-- 主体内容开始 -->\n\n", m.navigation(chapters),
                    body, m.FOOT))
    return GeneratedPage(html.encode("utf-8"), expected_document(spec, portfolio))


def _yuan(fen: int) -> float:
    return round(fen / 100, 2)


def expected_document(spec: PageSpec, portfolio: Portfolio) -> dict[str, Any]:
    """The ``fundcrawl.report/1`` keys the page carries."""
    start, end = spec.period
    document: dict[str, Any] = {
        "schema": "fundcrawl.report/1",
        "fund_code": spec.fund_code,
        "fund_name": spec.fund_name,
        "report_title": spec.title,
        "report_kind": spec.report_kind,
        "period_start": start.isoformat(),
        "period_end": end.isoformat(),
        "send_date": spec.send_date.isoformat(),
        "manager": spec.manager,
        "custodian": spec.custodian,
        **_class_figures(portfolio),
        "asset_allocation": holdings.asset_rows_expected(portfolio),
        "total_assets": _yuan(portfolio.total_assets),
        "industry_allocation": holdings.industry_expected(portfolio),
        "top_stocks": holdings.holdings_expected(portfolio.stocks[:10], portfolio.net_assets),
        "top_bonds": holdings.holdings_expected(portfolio.bonds[:5], portfolio.net_assets),
    }
    if len(portfolio.classes) > 1:
        document["share_classes"] = [{"name": c.name, "code": c.code} for c in portfolio.classes]
    if spec.fund_type == MONEY_MARKET:
        # No NAV row: the fund-level value the text states, and where it states it.
        document["nav_per_unit"] = {"total": float(MONEY_MARKET_NAV)}
        document["nav_per_unit_source"] = {
            "total": {"from": "text", "section": sections.PERFORMANCE, "text": sections.MONEY_MARKET_STATEMENT}
        }
    return document


def _class_figures(portfolio: Portfolio) -> dict[str, Any]:
    single = len(portfolio.classes) == 1
    net, nav, shares, changes = {}, {}, {}, {}
    for share_class in portfolio.classes:
        key = "total" if single else share_class.name
        net[key] = _yuan(share_class.net_assets)
        nav[key] = float(share_class.nav)
        shares[key] = _yuan(share_class.shares)
        changes[key] = {
            "beginning": _yuan(share_class.beginning),
            "subscriptions": _yuan(share_class.subscriptions),
            "redemptions": _yuan(share_class.redemptions),
            "split": 0.0,
            "ending": _yuan(share_class.shares),
        }
    if not single:
        shares["total"] = _yuan(portfolio.shares)
        changes["total"] = {"ending": _yuan(portfolio.shares)}
    return {"total_net_assets": net, "nav_per_unit": nav, "ending_shares": shares, "share_changes": changes}
