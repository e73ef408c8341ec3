"""Report metadata and fund profile fields, against the banner facts in MANIFEST.csv and hand-read pages."""

from __future__ import annotations

import pytest

from crawler.exceptions import ParseError
from crawler.parsing.sections.metadata import report_kind
from tests.parsing.conftest import Parsed

PAGES = [
    "001056_2024_annual", "001643_2024_annual", "001691_2024_annual", "001829_2024_annual",
    "002379_2024_annual", "003016_2024_interim", "004352_2024_annual", "007910_2024_annual",
    "009477_2024_annual", "009573_2024_annual", "009954_2024_annual", "013060_2024_annual",
    "013242_2024_annual", "013242_2025_q1", "015975_2024_annual", "016146_2024_annual",
    "017198_2024_annual", "017822_2024_annual", "018045_2024_annual", "018687_2024_annual",
    "019608_2024_annual", "020988_2024_annual", "159255_profile", "159980_2024_annual",
    "168501_2024_annual", "168501_2025_q1", "180303_2024_annual", "180801_2024_annual",
    "202801_2024_annual", "508086_2024_annual", "508099_2024_annual", "518890_2024_annual",
    "900015_2024_q2", "900020_2024_q2", "900026_2024_q2", "970006_2024_annual",
    "970086_2025_q1", "970127_2024_q2", "970127_2025_q1",
]  # fmt: skip
_MANIFEST_FIELDS = {
    "fund_code": "fund_code",
    "title": "report_title",
    "period_end": "period_end",
    "report_kind": "report_kind",
    "sent_on": "send_date",
    "manager": "manager",
    "custodian": "custodian",
}


@pytest.mark.parametrize("name", PAGES)
def test_banner_metadata_equals_manifest(
    name: str, parsed: Parsed, manifest: dict[str, dict[str, str]]
) -> None:
    doc = parsed(name).document
    expected = {field: manifest[name][col] for col, field in _MANIFEST_FIELDS.items() if manifest[name][col]}
    assert {field: doc[field] for field in expected} == expected


def test_manifest_lists_every_corpus_page(manifest: dict[str, dict[str, str]]) -> None:
    assert sorted(manifest) == PAGES


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("北信瑞丰优势行业股票型证券投资基金2025年第1季度报告", ("q1", 2025, "北信瑞丰优势行业股票型证券投资基金")),
        ("中信证券中短债债券型集合资产管理计划2024年第2季度报告", ("q2", 2024, "中信证券中短债债券型集合资产管理计划")),
        ("中金中证500指数增强型发起式证券投资基金2024年中期报告", ("interim", 2024, "中金中证500指数增强型发起式证券投资基金")),
        ("工银瑞信安裕积极一年持有期混合型基金中基金(FOF)2024年年度报告", ("annual", 2024, "工银瑞信安裕积极一年持有期混合型基金中基金(FOF)")),
        ("易方达国证通用航空产业交易型开放式指数证券投资基金基金产品资料概要", ("profile", None, "易方达国证通用航空产业交易型开放式指数证券投资基金")),
        ("某某基金2024年度报告", ("annual", 2024, "某某基金")),
        ("某某基金2024年第四季度报告", ("q4", 2024, "某某基金")),
        ("某某基金2024年半年度报告", ("interim", 2024, "某某基金")),
        ("某某基金基金产品资料概要（更新）", ("profile", None, "某某基金")),
    ],
)  # fmt: skip
def test_report_kind_year_and_name_from_title(title: str, expected: tuple[str, int | None, str]) -> None:
    assert report_kind(title) == expected


def test_unknown_title_is_a_parse_error() -> None:
    with pytest.raises(ParseError):
        report_kind("某基金临时公告")


def test_quarterly_single_class_profile(parsed: Parsed) -> None:
    doc = parsed("013242_2025_q1").document
    assert {k: doc[k] for k in ("fund_name", "report_year", "period_start", "period_end", "short_name")} == {
        "fund_name": "北信瑞丰优势行业股票型证券投资基金",
        "report_year": 2025,
        "period_start": "2025-01-01",
        "period_end": "2025-03-31",
        "short_name": "北信瑞丰优势行业股票",
    }
    assert doc["operation_mode"] == "契约型开放式"
    assert doc["contract_effective_date"] == "2021-09-27"
    assert doc["benchmark"] == "沪深300指数收益率×80%＋中证综合债券指数收益率×20%"
    assert "share_classes" not in doc


def test_quarterly_multi_class_share_classes(parsed: Parsed) -> None:
    doc = parsed("970127_2025_q1").document
    assert doc["share_classes"] == [
        {"name": "德邦资管月月鑫30天滚动债A", "code": "970127"},
        {"name": "德邦资管月月鑫30天滚动债C", "code": "970128"},
    ]
    assert doc["period_start"] == "2025-01-01"  # read from the class column header, not 主基金(元)


def test_annual_uses_printed_full_name_and_statement_period(parsed: Parsed) -> None:
    doc = parsed("009573_2024_annual").document
    assert doc["fund_name"] == "南方养老目标日期2045三年持有期混合型发起式基金中基金(FOF)"
    assert doc["short_name"] == "南方养老目标日期2045三年持有混合发起（FOF）"
    assert (doc["period_start"], doc["period_end"]) == ("2024-01-01", "2024-12-31")
    assert [c["code"] for c in doc["share_classes"]] == ["009573", "017242"]


def test_young_fund_period_starts_at_contract_effective_date(parsed: Parsed) -> None:
    doc = parsed("020988_2024_annual").document
    assert (doc["period_start"], doc["contract_effective_date"]) == ("2024-05-21", "2024-05-21")


def test_etf_listing_fields(parsed: Parsed) -> None:
    doc = parsed("518890_2024_annual").document
    assert (doc["short_name"], doc["exchange_short_name"]) == ("中银黄金", "中银上海金ETF")
    assert (doc["listing_exchange"], doc["listing_date"]) == ("上海证券交易所", "2020-09-28")


def test_reit_profile_fields(parsed: Parsed) -> None:
    doc = parsed("508086_2024_annual").document
    assert doc["exchange_short_name"] == "河北高速、工银河北高速REIT"
    assert doc["abs_manager"] == "工银瑞信投资管理有限公司"
    assert doc["operating_manager"] == "河北高速公路集团有限公司"
    assert doc["benchmark"] == "本基金暂不设立业绩比较基准。"
    assert doc["period_start"] == "2024-06-18"


def test_fund_profile_page(parsed: Parsed) -> None:
    doc = parsed("159255_profile").document
    assert {k: doc[k] for k in ("fund_code", "report_kind", "send_date", "compile_date", "fund_type")} == {
        "fund_code": "159255",
        "report_kind": "profile",
        "send_date": "2025-07-14",
        "compile_date": "2025-07-11",
        "fund_type": "股票型",
    }
    assert (doc["manager"], doc["custodian"]) == ("易方达基金管理有限公司", "兴业证券股份有限公司")
    assert (doc["period_start"], doc["period_end"], doc["contract_effective_date"]) == (None, None, None)
    assert doc["listing_date"] is None  # printed 暂未上市
    assert doc["profile_manager"] == {
        "name": "张泽峰",
        "start_date": None,
        "industry_start_date": "2021-05-10",
    }
    fees = {(f["kind"], f.get("费用类别") or f.get("费用类型")): f for f in doc["fees"]}
    assert fees[("running", "管理费")]["收费方式/年费率或金额"] == "年费率0.50%"
    assert [f["收费方式/费率"] for f in doc["fees"] if f["kind"] == "sale"] == [
        "0.0080",
        "0.0050",
        "按笔收取，1000元/笔",
    ]


def test_annual_audit_facts_and_none_for_quarterly(parsed: Parsed) -> None:
    annual = parsed("013242_2024_annual").document
    assert (annual["audited"], annual["audit_opinion"], annual["audit_report_no"]) == (
        True,
        "标准无保留意见",
        "上会师报字(2025)第2560号",
    )
    assert "audited" not in parsed("013242_2025_q1").document
