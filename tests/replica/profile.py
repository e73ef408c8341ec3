"""Generated 基金产品资料概要 (fund profile, FA010070/FA010080) pages: the site's profile template
(banner with 编制日期/送出日期, a 4-column 产品概况 table, prose and a fee table)."""

from __future__ import annotations

import datetime as dt
import random
from typing import TYPE_CHECKING, Any

from tests.replica import markup as m
from tests.replica.extras import FUND_TYPE_LABELS

if TYPE_CHECKING:
    from tests.replica.generator import PageSpec

SUFFIX = "基金产品资料概要"
PROSE = (
    ("投资目标与投资策略", "在严格控制风险的前提下，力争获得超越业绩比较基准的投资回报。"),
    ("风险揭示", "投资者应充分了解基金投资的风险收益特征，基金不提供任何保证，投资者可能损失投资本金。"),
    ("其他资料查询方式", "以下资料详见基金管理人网站：基金合同、托管协议、招募说明书、定期报告、基金销售机构及联系方式。"),
)


def profile_page(spec: PageSpec) -> tuple[str, dict[str, Any]]:
    """(HTML, expected document) of a profile page."""
    rng = random.Random(spec.seed)
    title = spec.fund_name + SUFFIX
    compiled = spec.send_date - dt.timedelta(days=rng.randrange(1, 5))
    cover = [f"编制日期：{compiled}", f"送出日期：{spec.send_date}",
             "本概要提供本基金的重要信息，是招募说明书的一部分。作出投资决定前，请阅读完整的招募说明书等销售文件。"]
    chapters = [("tabItem0_0", "产品概况", [("tabItem0_fundIntro", "产品概况")])]
    body = _overview(spec, rng) + "".join(
        m.block(m.heading(label) + m.prose([text] * rng.randrange(25, 40)), f"tabItem0_{i + 1}")
        for i, (label, text) in enumerate(PROSE)) + _fees(rng)
    html = "".join((m.head(), m.banner(title, cover), m.navigation(chapters), m.wrapper("tabItem0", body), m.FOOT))
    expected = {"schema": "fundcrawl.report/1", "fund_code": spec.fund_code, "fund_name": spec.fund_name,
                "report_title": title, "report_kind": "profile", "send_date": spec.send_date.isoformat(),
                "manager": spec.manager, "custodian": spec.custodian}
    return html, expected


def _pair_row(left: tuple[str, str], right: tuple[str, str]) -> str:
    return m.data_row([m.cell(m.text(left[0]), "left"), m.cell(m.text(left[1]), "left"),
                       m.cell(m.text(right[0]), "left"), m.cell(m.text(right[1]), "left")])


def _overview(spec: PageSpec, rng: random.Random) -> str:
    pairs = [
        (("基金简称", spec.short_name), ("基金代码", spec.fund_code)),
        (("基金管理人", spec.manager), ("基金托管人", spec.custodian)),
        (("基金合同生效日", spec.inception), ("基金类型", FUND_TYPE_LABELS.get(spec.fund_type, "混合型"))),
        (("运作方式", "普通开放式"), ("开放频率", "每个开放日")),
        (("交易币种", "人民币"), ("基金经理", rng.choice("王李张刘陈杨") + rng.choice(("伟", "芳", "磊", "静")))),
    ]
    rows = [_pair_row(left, right) for left, right in pairs]
    return m.block(m.heading("产品概况") + m.data_table("", rows), "tabItem0_fundIntro")


def _fees(rng: random.Random) -> str:
    header = m.header_row(["费用类型", "份额（S）或金额（M）/持有期限（N）", "收费方式/费率", "备注"])
    rows = [m.data_row([m.cell("申购费", "left"), m.cell(band, "left"), m.cell(rate, "left"), m.cell("", "left")])
            for band, rate in (("M<100万元", "0.0150"), ("100万元≤M<500万元", "0.0100"), ("M≥500万元", "1000元/笔"))]
    rows.append(m.data_row([m.cell("管理费", "left"), m.cell("", "left"),
                            m.cell(f"年费率{rng.choice(('0.50', '1.00', '1.20'))}%", "left"), m.cell("", "left")]))
    return m.block(m.heading("投资本基金涉及的费用") + m.data_table(header, rows), "tabItem0_fee")
