"""The 投资组合报告 sections of a generated page and their expected values (asset allocation, industries,
top stocks, bond types, top bonds, other assets)."""

from __future__ import annotations

from typing import Any

from tests.replica import markup as m
from tests.replica.portfolio import BOND_KINDS, INDUSTRIES, OTHER_ASSET_ITEMS, Holding, Portfolio, pct

DASH = "-"
TOP_STOCKS = "报告期末按公允价值占基金资产净值比例大小排序的前十名股票投资明细"
TOP_BONDS = "报告期末按公允价值占基金资产净值比例大小排序的前五名债券投资明细"
NAV_PCT = "占基金资产净值比例（％）"


def _yuan(fen: int) -> float:
    return round(fen / 100, 2)


def asset_rows(p: Portfolio) -> list[tuple[int | None, str, int]]:
    """(seq, category, fen) of 报告期末基金资产组合情况; 0 prints as ``-``; the last row is 合计."""
    return [
        (1, "权益投资", p.stock_value), (None, "其中：股票", p.stock_value), (2, "基金投资", 0),
        (3, "固定收益投资", p.bond_value + p.abs_value), (None, "其中：债券", p.bond_value),
        (None, "其中：资产支持证券", p.abs_value), (4, "贵金属投资", 0), (5, "金融衍生品投资", 0),
        (6, "买入返售金融资产", p.reverse_repo), (None, "其中：买断式回购的买入返售金融资产", 0),
        (7, "银行存款和结算备付金合计", p.bank), (8, "其他资产", p.other_value), (9, "合计", p.total_assets),
    ]


def asset_allocation(p: Portfolio) -> str:
    rows = []
    for seq, label, fen in asset_rows(p):
        value = m.money(fen) if fen else DASH
        share = m.percent(pct(fen, p.total_assets)) if fen else DASH
        rows.append(m.data_row([m.cell("" if seq is None else str(seq), "center"), m.cell(m.text(label), "left"),
                                m.cell(value), m.cell(share)]))
    header = m.header_row(["序号", "项目", "金额（元）", "占基金总资产的比例（％）"])
    content = m.heading("报告期末基金资产组合情况", chart="create_assets_circs_charts") + m.unit() + \
        m.data_table(header, rows)
    return m.block(content, "tabItem4_assetsCircs", ["注：由于四舍五入的原因，分项之和与合计项之间可能存在尾差。"])


def asset_rows_expected(p: Portfolio) -> list[dict[str, Any]]:
    return [
        {"seq": seq, "category": label, "amount_yuan": _yuan(fen), "pct_of_total_assets": float(pct(fen, p.total_assets))}
        for seq, label, fen in asset_rows(p)[:-1] if fen
    ]


def _industry_totals(p: Portfolio, market: str) -> dict[str, int]:
    totals: dict[str, int] = {}
    for holding in p.stocks:
        if holding.market == market:
            totals[holding.sector] = totals.get(holding.sector, 0) + holding.value
    return totals


def industries(p: Portfolio) -> str:
    """境内 (all 19 CSRC rows, ``-`` when empty) and 港股通 tables under one wrapper heading."""
    domestic = _industry_totals(p, "domestic")
    rows = [_industry_row(code, name, domestic.get(code, 0), p.net_assets) for code, name in INDUSTRIES]
    rows.append(_industry_row("", "合计", sum(domestic.values()), p.net_assets))
    header = m.header_row(["代码", "行业类别", "公允价值（元）", NAV_PCT])
    content = m.heading("报告期末按行业分类的股票投资组合", chart="create_by_trade_stock_detal_new") + \
        m.heading("报告期末按行业分类的境内股票投资组合", level3=True) + m.unit() + m.data_table(header, rows)
    empty = [] if domestic else ["注：本基金本报告期末未持有境内股票。"]
    return m.block(content, "tabItem4_byTradeStockDetal", empty) + _hk_industries(p)


def _industry_row(code: str, name: str, fen: int, nav: int) -> str:
    value, share = (m.money(fen), m.percent(pct(fen, nav))) if fen else (DASH, DASH)
    return m.data_row([m.cell(code, "center"), m.cell(m.text(name), "left"), m.cell(value), m.cell(share)])


def _hk_industries(p: Portfolio) -> str:
    hk = _industry_totals(p, "hk_connect")
    rows = [m.data_row([m.cell(m.text(name), "left"), m.cell(m.money(fen)), m.cell(m.percent(pct(fen, p.net_assets)))])
            for name, fen in sorted(hk.items())]
    if hk:
        total = sum(hk.values())
        rows.append(m.data_row([m.cell("合计", "left"), m.cell(m.money(total)),
                                m.cell(m.percent(pct(total, p.net_assets)))]))
    header = m.header_row(["行业类别", "公允价值（元）", NAV_PCT])
    content = m.heading("报告期末按行业分类的港股通投资股票投资组合", level3=True) + m.unit() + m.data_table(header, rows)
    return m.block(content, "tabItem4_BGQMHGTTZGPTZZH", [] if hk else ["注：本基金本报告期末未持有港股通股票。"])


def industry_expected(p: Portfolio) -> list[dict[str, Any]]:
    names = dict(INDUSTRIES)
    domestic = _industry_totals(p, "domestic")
    rows = [{"market": "domestic", "code": code, "industry": names[code], "fair_value_yuan": _yuan(fen),
             "pct_of_nav": float(pct(fen, p.net_assets))} for code, fen in sorted(domestic.items())]
    rows += [{"market": "hk_connect", "code": None, "industry": name, "fair_value_yuan": _yuan(fen),
              "pct_of_nav": float(pct(fen, p.net_assets))} for name, fen in sorted(_industry_totals(p, "hk_connect").items())]
    return rows


def _holding_rows(holdings: list[Holding], nav: int) -> list[str]:
    return [
        m.data_row([m.cell(str(rank), "center"), m.cell(h.code, "left"), m.cell(m.text(h.name), "left"),
                    m.cell(m.count(h.quantity)), m.cell(m.money(h.value, drop_zero=h.quantity % 7 == 0)),
                    m.cell(m.percent(pct(h.value, nav)))])
        for rank, h in enumerate(holdings, 1)
    ]


def top_stocks(p: Portfolio) -> str:
    header = m.header_row(["序号", "股票代码", "股票名称", "数量（股）", "公允价值（元）", NAV_PCT])
    content = m.heading("期末按公允价值占基金资产净值比例大小排序的股票投资明细", chart="create_topten_stock_detal") + \
        m.heading(TOP_STOCKS, level3=True) + m.unit() + m.data_table(header, _holding_rows(p.stocks[:10], p.net_assets))
    return m.block(content, "tabItem4_topTenStockDetal", [] if p.stocks else ["注：本基金本报告期末未持有股票。"])


def bond_types(p: Portfolio) -> str:
    totals: dict[str, int] = {}
    for bond in p.bonds:
        kind = "金融债券" if bond.sector == "其中：政策性金融债" else bond.sector
        totals[kind] = totals.get(kind, 0) + bond.value
    policy = sum(b.value for b in p.bonds if b.sector == "其中：政策性金融债")
    labelled = [(str(i), kind, totals.get(kind, 0)) for i, kind in enumerate(BOND_KINDS, 1)]
    labelled.insert(3, ("", "其中：政策性金融债", policy))
    labelled.append((str(len(BOND_KINDS) + 1), "合计", p.bond_value))
    rows = [m.data_row([m.cell(seq, "center"), m.cell(m.text(label), "left"),
                        m.cell(m.money(fen) if fen else DASH), m.cell(m.percent(pct(fen, p.net_assets)) if fen else DASH)])
            for seq, label, fen in labelled]
    header = m.header_row(["序号", "债券品种", "公允价值（元）", NAV_PCT])
    content = m.heading("报告期末按债券品种分类的债券投资组合") + m.unit() + m.data_table(header, rows)
    return m.block(content, "tabItem4_bondCombination", [] if p.bonds else ["注：本基金本报告期末未持有债券。"])


def top_bonds(p: Portfolio) -> str:
    header = m.header_row(["序号", "债券代码", "债券名称", "数量（张）", "公允价值（元）", NAV_PCT])
    content = m.heading(TOP_BONDS, chart="create_topfive_bond_detail") + m.unit() + \
        m.data_table(header, _holding_rows(p.bonds[:5], p.net_assets))
    return m.block(content, "tabItem4_topFiveBondDetail", [] if p.bonds else ["注：本基金本报告期末未持有债券。"])


def holdings_expected(holdings: list[Holding], nav: int) -> list[dict[str, Any]]:
    return [{"rank": rank, "code": h.code, "name": h.name, "quantity": h.quantity, "fair_value_yuan": _yuan(h.value),
             "pct_of_nav": float(pct(h.value, nav))} for rank, h in enumerate(holdings, 1)]


def other_sections(p: Portfolio) -> str:
    """ABS and precious-metal sections (empty, as most quarterly pages print them) and 其他资产构成."""
    abs_block = m.block(m.heading("报告期末按公允价值占基金资产净值比例大小排序的前十名资产支持证券投资明细"),
                        "tabItem7_investAssembledReportZiChanZhiChi",
                        ["注：本基金本报告期末未持有资产支持证券。"] if not p.abs_value else [])
    metal_header = m.header_row(["序号", "贵金属代码", "贵金属名称", "数量（份）", "公允价值（元）", NAV_PCT])
    metals = m.block(m.heading("报告期末按公允价值占基金资产净值比例大小排序的前五名贵金属投资明细") + m.unit() +
                     m.data_table(metal_header, []), "tabItem4_investAssembledReportGuiJinShu",
                     ["注：本基金本报告期末未持有贵金属。"])
    items = [(str(i), name, p.other_items.get(name, 0)) for i, name in enumerate(OTHER_ASSET_ITEMS, 1)]
    items.append((str(len(items) + 1), "合计", p.other_value))
    rows = [m.data_row([m.cell(seq, "center"), m.cell(name, "left"), m.cell(m.money(fen) if fen else DASH)])
            for seq, name, fen in items]
    other = m.block(m.heading("投资组合报告附注") + m.heading("其他资产构成", level3=True) + m.unit() +
                    m.data_table(m.header_row(["序号", "名称", "金额（元）"]), rows), "tabItem4_QTZiChanGC")
    return abs_block + metals + other
