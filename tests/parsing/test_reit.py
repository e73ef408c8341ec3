"""REIT-only sections: distributable and distributed amounts, the calculation, asset projects."""

from __future__ import annotations

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
