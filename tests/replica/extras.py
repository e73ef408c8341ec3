"""The site's optional endpoints: filter metadata, the home-page teaser and the default table."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.replica.catalogue import Report
from tests.replica.state import ReplicaState

FUND_TYPE_LABELS = {
    "6020-6010": "股票型", "6020-6020": "货币型", "6020-6030": "债券型", "6020-6040": "混合型", "6020-6050": "QDII",
    "6020-6060": "短期理财债券型", "6020-6084": "不动产投资信托基金", "6020-6094": "基金中基金", "6020-6104": "商品基金",
}
REPORT_TYPE_LABELS = {
    "FA": "【基金募集信息披露】", "FA010070": "基金产品资料概要", "FA010080": "基金产品资料概要更新",
    "FB": "【基金运作信息披露】", "FB010010": "年度报告", "FB020010": "中期报告", "FB030": "季度报告",
    "FB030010": "第一季度报告", "FB030020": "第二季度报告", "FB030030": "第三季度报告", "FB030040": "第四季度报告",
    "FB040020": "基金净值日报", "FC": "【基金临时信息披露】",
}
EXTRA_PATHS = {
    "/fund/disclose/xbrlAfficheSearchData.json",
    "/fund/disclose/indexXbrlData.json",
    "/fund/disclose/xbrlAfficheData.json",
}


def answer(state: ReplicaState, path: str, echo: str = "1") -> dict[str, Any]:
    """The JSON of one optional endpoint."""
    if path.endswith("xbrlAfficheSearchData.json"):
        return search_metadata()
    if path.endswith("indexXbrlData.json"):
        return teaser(state)
    rows = state.catalogue.all()
    # Paging is ignored here: always the same 20 rows.
    return {"iTotalRecords": len(rows), "iTotalDisplayRecords": len(rows),
            "sEcho": int(echo) if echo.isdigit() else 1, "aaData": [r.listing_row() for r in rows[:20]]}


def search_metadata() -> dict[str, Any]:
    return {
        "reportType": "", "fundCompanyShortName": "", "fundCode": "", "correctionAnnouncementCode": "",
        "netDate": dt.date.today().isoformat(),
        "fundTypeList": [{code: label} for code, label in FUND_TYPE_LABELS.items()],
        "reportTypeList": [{code: label} for code, label in REPORT_TYPE_LABELS.items()],
        "yearList": [str(year) for year in range(2026, 1996, -1)],
    }


def teaser(state: ReplicaState) -> dict[str, Any]:
    """Four lists of (up to) 5 newest rows; ids as strings, as the real teaser sends them."""
    groups = {"fAXBRLReportList": "FA", "halfyearXBRLReportList": "FB0", "noticeXBRLReportList": "FC",
              "seasonXBRLReportList": "FB030"}
    rows = state.catalogue.all()
    return {name: [_teaser_row(r) for r in rows if _in_group(r, prefix)][:5] for name, prefix in groups.items()}


def _in_group(report: Report, prefix: str) -> bool:
    if prefix == "FB0":
        return report.report_type_code in ("FB010010", "FB020010")
    return report.report_type_code.startswith(prefix)


def _teaser_row(report: Report) -> dict[str, Any]:
    return {
        "fundcode": report.fund_code, "fundidStr": str(report.fund_id), "fundshortName": report.fund_short_name,
        "idStr": str(report.upload_info_id), "reportYear": report.report_year,
        "reportTypereportDesp": report.report_desp, "reportSendDate": report.send_date.isoformat(),
        "newString": "", "reportCode": "",
    }
