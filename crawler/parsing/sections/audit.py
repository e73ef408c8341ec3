"""Audit facts of annual reports (审计报告基本信息): audited or not, opinion, report number.

The label 审计意见 also heads the full audit text later in the page, so only this section's key-value
table is read. REIT pages print 审计意见类型 instead of 审计意见.
"""

from __future__ import annotations

import re
from typing import TypedDict

from crawler.parsing.dom import Page
from crawler.parsing.sections.tables import first_table, key_values
from crawler.parsing.values import clean_text

SECTION = re.compile(r"^审计报告基本信息$")
HEADINGS: tuple[re.Pattern[str], ...] = (SECTION,)

_YES_NO = {"是": True, "否": False}


class AuditPart(TypedDict, total=False):
    """The document keys the audit section fills."""

    audited: bool | None
    audit_opinion: str
    audit_report_no: str


def parse_audit(page: Page) -> AuditPart:
    """``audited``, ``audit_opinion``, ``audit_report_no``; {} when the page has no such section."""
    table = first_table(page.find(SECTION))
    if table is None:
        return {}
    rows = {key: clean_text(values[0]) for key, values in key_values(table).items() if values}
    doc: AuditPart = {}
    if "财务报表是否经过审计" in rows:
        doc["audited"] = _YES_NO.get(rows["财务报表是否经过审计"])
    opinion = rows.get("审计意见") or rows.get("审计意见类型")
    if opinion:
        doc["audit_opinion"] = opinion
    if rows.get("审计报告编号"):
        doc["audit_report_no"] = rows["审计报告编号"]
    return doc
