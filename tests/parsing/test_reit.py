"""REIT-only sections: distributable and distributed amounts, the calculation, asset projects, and the
asset allocation with the basis its percentages are printed on."""

from __future__ import annotations

import pytest

from crawler.parsing.checks import run_checks
from tests.parsing.conftest import Parsed


def test_current_period_amounts(parsed: Parsed) -> None:
    reit = parsed("180801_2024_annual").document["reit"]
    assert (reit["distributable_amount"], reit["distributable_amount_per_unit"]) == (74959604.47, 0.7496)
    assert (reit["actual_distribution"], reit["actual_distribution_per_unit"]) == (85940584.73, 0.8594)


def test_distributable_calculation_keeps_group_rows_without_amount(parsed: Parsed) -> None:
    calc = parsed("508086_2024_annual").document["reit"]["distributable_calc"]
    assert calc[0] == {"item": "本期合并净利润", "amount": 49389439.91}
    assert {"item": "调增项", "amount": None} in calc
    assert calc[-1] == {"item": "本期可供分配金额", "amount": 589769823.08}
    assert len(calc) == 13


def test_asset_projects(parsed: Parsed) -> None:
    (project,) = parsed("508099_2024_annual").document["reit"]["projects"]
    assert project == {
        "name": "互联网创新中心5号楼项目、协同中心4号楼项目、孵化加速器项目",
        "company": "北京中发展壹号科技服务有限责任公司",
        "type": "产业园区",
        "operating_model": "园区管理服务",
        "location": "北京市海淀区",
    }


def test_consolidated_statements_are_read(parsed: Parsed) -> None:
    doc = parsed("508086_2024_annual").document
    assert doc["balance_sheet"]["资产总计"] == 5588431906.78
    assert doc["balance_sheet"]["所有者权益合计"] == 5341661746.1
    assert doc["income_statement"]["一、营业总收入"] == 542555532.26


def test_ordinary_funds_have_no_reit_key(parsed: Parsed) -> None:
    assert "reit" not in parsed("013242_2024_annual").document


def test_reit_total_assets_are_fund_total_assets_not_the_sub_portfolio(parsed: Parsed) -> None:
    doc = parsed("508086_2024_annual").document
    assert doc["total_assets"] == 5588431906.78  # 期末基金总资产
    assert doc["reit_portfolio_total"] == 186130386.26


def test_reit_audit_opinion_type_label(parsed: Parsed) -> None:
    doc = parsed("508086_2024_annual").document
    assert (doc["audited"], doc["audit_opinion"], doc["audit_report_no"]) == (
        True,
        "标准无保留意见",
        "德师报（审）字（25）第P03539号",
    )


#: Every REIT page of the corpus: the rows of its 报告期末基金的资产组合情况 table as printed (rows printed
#: ``-`` throughout are left out), its 合计 and the fund's 期末基金总资产 from 主要会计数据和财务指标.
REIT_ALLOCATIONS = {
    "508086_2024_annual": ([(3, "货币资金和结算备付金合计", 186_130_386.26, 100.0)], 186_130_386.26, 5_588_431_906.78),
    "508099_2024_annual": ([(3, "货币资金和结算备付金合计", 21_621_874.0, 100.0)], 21_621_874.0, 2_637_917_952.27),
    "180303_2024_annual": (
        [(3, "货币资金和结算备付金合计", 122_950.42, 6.3), (4, "其他资产", 1_829_433.01, 93.7)],
        1_952_383.43,
        1_244_450_206.4,
    ),
    "180801_2024_annual": ([(3, "货币资金和结算备付金合计", 34_258_325.94, 100.0)], 34_258_325.94, 1_062_676_742.57),
}


@pytest.mark.parametrize("name", sorted(REIT_ALLOCATIONS))
def test_every_reit_page_yields_its_asset_allocation_with_the_printed_basis(parsed: Parsed, name: str) -> None:
    rows, portfolio_total, total_assets = REIT_ALLOCATIONS[name]
    report = parsed(name)
    doc = report.document
    assert [
        (r["seq"], r["category"], r["amount_yuan"], r["pct_of_non_abs_portfolio"]) for r in doc["asset_allocation"]
    ] == rows
    assert all(r["parent"] is None and "pct_of_total_assets" not in r for r in doc["asset_allocation"])
    assert doc["asset_allocation_basis"] == "占基础设施资产支持证券之外的投资组合的比例（%）"
    assert doc["reit_portfolio_total"] == portfolio_total  # the 合计 of that table: the non-ABS portfolio
    assert doc["total_assets"] == total_assets  # 期末基金总资产, not the table's 合计
    checks = run_checks(doc, None)
    assert (checks["asset_total"], checks["asset_pct"]) == (None, None)
    assert report.section_errors == {}


def test_the_corpus_reit_pages_are_exactly_the_ones_listed(manifest: dict[str, dict[str, str]]) -> None:
    reits = {name for name in manifest if name.startswith(("508", "180"))}
    assert reits == set(REIT_ALLOCATIONS)


def test_ordinary_funds_state_their_total_assets_basis(parsed: Parsed) -> None:
    doc = parsed("013242_2024_annual").document
    assert doc["asset_allocation_basis"] == "占基金总资产的比例（％）"
    assert all("pct_of_total_assets" in r for r in doc["asset_allocation"])
    assert "reit_portfolio_total" not in doc
