"""Synthetic report pages in the real EID markup (stub; replaced below)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PageSpec:
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


@dataclass(frozen=True)
class GeneratedPage:
    html: bytes
    expected: dict[str, Any]


def generate_page(spec: PageSpec) -> GeneratedPage:
    html = (f'<html><head><meta http-equiv="Content-Type" content="text/html; charset=UTF-8"/><title>XBRL</title></head>'
            f'<body><div id="banner"><p>{spec.fund_name}</p><p>基金管理人：{spec.manager}</p>'
            f'<p>报告送出日期：{spec.send_date}</p></div><div id="instance_navigation"></div>'
            f'<a name="tabItem1_fundIntro"></a><div class="text_area">x</div><table><tr class="dd"><td>1</td></tr></table></body></html>')
    return GeneratedPage(html.encode(), {"fund_code": spec.fund_code})
