"""Small builders shared by the storage and pipeline tests."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select

from crawler.models import ReportItem, ReportRef
from crawler.storage import PartitionKey, Store
from crawler.storage.tables import NORMALIZED, report_documents, reports
from tests.constants import PARTITION

#: The partition most tests publish into, as storage keys it.
Q1 = PartitionKey(*PARTITION)
#: A fixed "now" for tests of runs, checkpoints and health figures.
NOW = dt.datetime(2025, 4, 21, 9, 30, tzinfo=dt.UTC)


def ref(
    upload_info_id: int, *, fund_code: str = "000001", name: str = "测试基金", **changes: Any
) -> ReportRef:
    values: dict[str, Any] = {
        "upload_info_id": upload_info_id,
        "report_type_code": "FB030010",
        "fund_code": fund_code,
        "fund_short_name": name,
        "organ_name": "测试基金管理有限公司",
        "report_year": "2025",
        "report_desp": "第一季度报告",
        "send_date": dt.date(2025, 4, 21),
        "upload_date": dt.date(2025, 4, 21),
        "fund_id": 42,
    }
    values.update(changes)
    return ReportRef(**values)


def document(fund_code: str = "000001", **changes: Any) -> dict[str, Any]:
    """A fundcrawl.report/1 document with one value of every normalized kind."""
    doc: dict[str, Any] = {
        "schema": "fundcrawl.report/1",
        "parser_version": "1.0.0",
        "fund_code": fund_code,
        "fund_name": "测试证券投资基金",
        "report_title": "测试证券投资基金2025年第1季度报告",
        "report_kind": "q1",
        "report_year": 2025,
        "period_start": "2025-01-01",
        "period_end": "2025-03-31",
        "send_date": "2025-04-21",
        "manager": "测试基金管理有限公司",
        "custodian": "测试银行股份有限公司",
        "share_classes": [{"name": "测试A", "code": "000001"}, {"name": "测试C", "code": "000002"}],
        "total_net_assets": {"测试A": 1234567890123.45, "测试C": 0.1, "total": 1234567890123.55},
        "nav_per_unit": {"测试A": 1.0234, "测试C": 1.0199},
        "ending_shares": {"测试A": 98765.43, "测试C": 10.0},
        "share_changes": {
            "测试A": {
                "beginning": 100.0,
                "subscriptions": 20.5,
                "redemptions": 21.07,
                "split": None,
                "ending": 99.43,
            }
        },
        "asset_allocation": [
            {"seq": 1, "category": "权益投资", "amount_yuan": 8840.12, "pct_of_total_assets": 8.84},
            {"seq": None, "category": "其中：股票", "amount_yuan": 8840.12, "pct_of_total_assets": 8.84},
        ],
        "total_assets": 100000.0,
        "industry_allocation": [
            {
                "market": "domestic",
                "code": "C",
                "industry": "制造业",
                "fair_value_yuan": 5.5,
                "pct_of_nav": 0.01,
            }
        ],
        "top_stocks": [
            {
                "rank": 1,
                "code": "600519",
                "name": "贵州茅台",
                "quantity": 100,
                "fair_value_yuan": 170000.0,
                "pct_of_nav": 5.23,
            },
            {
                "rank": 2,
                "code": "0700",
                "name": "腾讯控股",
                "quantity": 300,
                "fair_value_yuan": 120000.0,
                "pct_of_nav": 3.5,
                "name_en": "Tencent",
                "exchange": "HKEX",
            },
        ],
        "top_bonds": [],
        "top_buys": [{"rank": 1, "code": "600519", "name": "贵州茅台", "amount_yuan": 5.0, "pct_of_beginning_nav": 0.01}],
        "precious_metals": [
            {
                "rank": 1,
                "code": "Au99.99",
                "name": "黄金",
                "quantity": 1000,
                "fair_value_yuan": 600000.0,
                "pct_of_nav": 90.1,
            }
        ],
    }
    doc.update(changes)
    return doc


def holding(**fields: Any) -> dict[str, Any]:
    """A holdings row: the six keys every row carries (None unless given), plus ``fields``."""
    return {**dict.fromkeys(("rank", "code", "name", "quantity", "fair_value_yuan", "pct_of_nav")), **fields}


#: Wrong values a document could carry, each with what the type check says about it. Storage once turned each
#: into something else without a word (text from a number, a rank from digits, no rows from a bad section, no
#: date from bad text); now validation drops such a document and storage refuses it.
BAD_VALUES: list[tuple[dict[str, Any], str]] = [
    ({"fund_name": 5}, "document.fund_name: int where str was expected"),
    ({"period_end": "31/03/2025"}, "document.period_end: '31/03/2025' is not an ISO date"),
    ({"share_classes": None}, "document.share_classes: null where a list was expected"),
    ({"share_classes": [{"name": 7, "code": "000001"}]}, r"document.share_classes\[0\].name: int where str"),
    ({"top_stocks": "none"}, "document.top_stocks: str where a list was expected"),
    ({"top_stocks": [None]}, r"document.top_stocks\[0\]: null where an object was expected"),
    ({"top_stocks": [holding(rank=True)]}, r"document.top_stocks\[0\].rank: bool where int was expected"),
    ({"top_stocks": [holding(rank="3")]}, r"document.top_stocks\[0\].rank: str where int was expected"),
    ({"top_stocks": [holding(code=600519)]}, r"document.top_stocks\[0\].code: int where str was expected"),
    ({"top_stocks": [holding(fair_value_yuan="1,234.5")]},
     r"document.top_stocks\[0\].fair_value_yuan: str where float was expected"),
    ({"total_net_assets": [1, 2]}, "document.total_net_assets: list where an object was expected"),
    ({"share_changes": {"A": 5}}, "document.share_changes.A: int where an object was expected"),
    ({"asset_allocation": {"seq": 1}}, "document.asset_allocation: dict where a list was expected"),
    ({"industry_allocation": [{"market": "domestic", "code": 3, "industry": "制造业", "fair_value_yuan": 1.0,
                               "pct_of_nav": 1.0}]},
     r"document.industry_allocation\[0\].code: int where str was expected"),
]


def item(upload_info_id: int, *, sha: str = "a" * 64, version: str = "1.0.0", **changes: Any) -> ReportItem:
    doc = changes.pop("document", None) or document()
    return ReportItem(
        upload_info_id=upload_info_id, document=doc, parser_version=version, page_sha256=sha, **changes
    )


def row_counts(store: Store) -> dict[str, int]:
    """Rows per table: what a user would see duplicated if a write were not idempotent."""
    tables = (reports, report_documents, *NORMALIZED)

    def count(connection: Any) -> dict[str, int]:
        return {
            table.name: connection.execute(select(func.count()).select_from(table)).scalar_one()
            for table in tables
        }

    return store.read(count)
