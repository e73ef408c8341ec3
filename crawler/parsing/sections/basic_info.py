"""Fund profile fields from 基金基本情况 / 基金产品基本情况 and 基金产品说明, including share classes.

The basic-info heading occurs twice in annual pages (the section and note 7.4.1); the first occurrence is
the section. Multi-class funds add ``下属N级基金的…`` rows where N is the number of classes.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal, TypedDict

from crawler.exceptions import ParseError
from crawler.models import ByClass, ShareClass
from crawler.parsing.dom import Page
from crawler.parsing.sections.tables import TOTAL, first_table, key_values
from crawler.parsing.values import clean_text, parse_date, parse_number

BASIC = re.compile(r"^(?:基金基本情况|基金产品基本情况)$")
PRODUCT = re.compile(r"^基金产品说明$")
HEADINGS: tuple[re.Pattern[str], ...] = (BASIC, PRODUCT)

_TextField = Literal[
    "fund_name_printed",
    "short_name",
    "exchange_short_name",
    "fund_code",
    "operation_mode",
    "contract_term",
    "listing_exchange",
    "front_end_code",
    "back_end_code",
    "abs_manager",
    "operating_manager",
    "manager_printed",
    "custodian_printed",
    "investment_objective",
    "investment_strategy",
    "benchmark",
    "risk_return_profile",
    "distribution_policy",
]
_TEXT_FIELDS: dict[_TextField, str] = {
    "fund_name_printed": "基金名称",
    "short_name": "基金简称",
    "exchange_short_name": "场内简称",
    "fund_code": "基金主代码",
    "operation_mode": "基金运作方式",
    "contract_term": "基金合同存续期",
    "listing_exchange": "基金份额上市的证券交易所",
    "front_end_code": "前端交易代码",
    "back_end_code": "后端交易代码",
    "abs_manager": "资产支持证券管理人",
    "operating_manager": "运营管理机构",
    "manager_printed": "基金管理人",
    "custodian_printed": "基金托管人",
    "investment_objective": "投资目标",
    "investment_strategy": "投资策略",
    "benchmark": "业绩比较基准",
    "risk_return_profile": "风险收益特征",
    "distribution_policy": "基金收益分配政策",
}
_DATE_FIELDS: dict[Literal["contract_effective_date", "listing_date"], str] = {"contract_effective_date": "基金合同生效日", "listing_date": "上市日期"}
_CLASS_ROW = re.compile(r"^(?:报告期末)?下属(?:\d级|分级)基金的(.+)$")


class BasicPart(TypedDict, total=False):
    """The document keys the basic-info table fills, and the fund name, manager and custodian as it prints them
    (the assembler weighs them against the banner's)."""

    fund_name_printed: str
    short_name: str
    exchange_short_name: str
    fund_code: str
    operation_mode: str
    contract_term: str
    listing_exchange: str
    front_end_code: str
    back_end_code: str
    abs_manager: str
    operating_manager: str
    manager_printed: str
    custodian_printed: str
    investment_objective: str
    investment_strategy: str
    benchmark: str
    risk_return_profile: str
    distribution_policy: str
    contract_effective_date: str | None
    listing_date: str | None
    share_classes: list[ShareClass]
    class_risk_profiles: dict[str, str]
    ending_shares: ByClass


def parse_basic_info(page: Page) -> BasicPart:
    """Profile fields, ``share_classes`` and basic-info ``ending_shares``; {} when the section is absent."""
    table = first_table(page.find(BASIC))
    if table is None:
        return {}
    rows = key_values(table)
    product = first_table(page.find(PRODUCT))
    if product is not None:
        for key, values in key_values(product).items():
            rows.setdefault(key, values)
    doc = _scalars(rows)
    classes = _share_classes(rows)
    if classes:
        doc["share_classes"] = classes
        risks = _risk_profiles(rows, classes)
        if risks:
            doc["class_risk_profiles"] = risks
    doc["ending_shares"] = _ending_shares(rows, classes)
    return doc


def _scalars(rows: dict[str, list[str]]) -> BasicPart:
    doc: BasicPart = {}
    for field, label in _TEXT_FIELDS.items():
        values = rows.get(label)
        if values and clean_text(values[0]) not in ("", "-"):
            doc[field] = clean_text(values[0])
    for date_field, label in _DATE_FIELDS.items():
        values = rows.get(label)
        if values:
            value = _date_or_none(values[0])
            doc[date_field] = value.isoformat() if value else None
    return doc


def _date_or_none(text: str) -> dt.date | None:
    """Dates such as ``上市日期`` may read ``暂未上市``: that is "no date", not an error."""
    try:
        return parse_date(text)
    except ValueError:
        return None


def _class_rows(rows: dict[str, list[str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key, values in rows.items():
        m = _CLASS_ROW.match(key)
        if m:
            out[m[1]] = values
    return out


def _share_classes(rows: dict[str, list[str]]) -> list[ShareClass]:
    """``[{name, code}]`` in printed order: the issue-3 shape; per-class figures live in keyed objects."""
    by_kind = _class_rows(rows)
    names = by_kind.get("基金简称", [])
    codes = by_kind.get("交易代码", [])
    if len(codes) != len(names):
        raise ParseError("share-class rows disagree in length", section="基金基本情况")
    return [
        {"name": clean_text(name), "code": clean_text(code)} for name, code in zip(names, codes, strict=True)
    ]


def _class_values(rows: dict[str, list[str]], kind: str, classes: list[ShareClass]) -> list[str]:
    """The ``下属N级基金的<kind>`` cells, one per class (blank when the row is missing)."""
    values = _class_rows(rows).get(kind, [])
    if values and len(values) != len(classes):
        raise ParseError(f"share-class row {kind} disagrees in length", section="基金基本情况")
    return values or [""] * len(classes)


def _ending_shares(rows: dict[str, list[str]], classes: list[ShareClass]) -> ByClass:
    """报告期末基金份额总额 as ``total`` plus 报告期末下属N级基金的份额总额 per class."""
    out: ByClass = {}
    total = rows.get("报告期末基金份额总额")
    value = parse_number(total[0]) if total else None
    if value is not None:
        out[TOTAL] = value
    for item, text in zip(classes, _class_values(rows, "份额总额", classes), strict=True):
        shares = parse_number(text)
        if shares is not None:
            out[item["name"]] = shares
    return out


def _risk_profiles(rows: dict[str, list[str]], classes: list[ShareClass]) -> dict[str, str]:
    """下属N级基金的风险收益特征 per class, where printed (blank in the whole corpus)."""
    texts = _class_values(rows, "风险收益特征", classes)
    return {
        item["name"]: clean_text(text) for item, text in zip(classes, texts, strict=True) if clean_text(text)
    }
