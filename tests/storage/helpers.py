"""Small builders shared by the storage and pipeline tests."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select

from crawler.models import ReportItem, ReportRef
from crawler.storage import Store
from crawler.storage.tables import NORMALIZED, report_documents, reports


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
        "fund_code": fund_code,
        "fund_name": "测试证券投资基金",
        "report_kind": "q1",
        "period_start": "2025-01-01",
        "period_end": "2025-03-31",
        "send_date": "2025-04-21",
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
        "top_buys": [{"rank": 1, "code": "600519", "name": "贵州茅台", "amount_yuan": 5.0}],
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
