"""The page body of a generated report: cover sections, indicators, managers, prose, portfolio, share change."""

from __future__ import annotations

import datetime as dt
import random
from typing import TYPE_CHECKING

from tests.replica import holdings
from tests.replica import markup as m
from tests.replica.portfolio import MONEY_MARKET, Portfolio, ShareClass

if TYPE_CHECKING:
    from tests.replica.generator import PageSpec

Chapters = list[tuple[str, str, list[tuple[str, str]]]]

SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
GIVEN = ("伟", "芳", "娜", "敏", "静", "磊", "洋", "勇", "艳", "杰", "涛", "明", "超", "华", "平", "鹏", "宇", "晨")
PHRASES = (
    "报告期内，国内经济延续温和复苏态势，政策效果持续显现",
    "债券市场收益率整体震荡下行，信用利差有所收窄",
    "权益市场结构性行情明显，成长与价值风格交替演绎",
    "本基金坚持自下而上精选个股，重点配置盈利能力稳定、估值合理的优质公司",
    "组合在控制回撤的前提下适度提高了久期，并保持了较好的流动性",
    "展望下一阶段，我们将继续跟踪宏观数据与政策变化，动态调整资产配置",
    "基金管理人严格遵守相关法律法规及基金合同的约定，本着诚实信用、勤勉尽责的原则管理和运用基金资产",
    "本报告期内，未发现本基金存在异常交易行为",
    "基金管理人通过系统和人工相结合的方式，确保公平交易制度在投资管理活动中得到严格执行",
)


def body(spec: PageSpec, p: Portfolio, rng: random.Random, start: dt.date, end: dt.date) -> tuple[Chapters, str]:
    """(navigation chapters, body HTML) for ``spec``."""
    chapters: Chapters = [
        ("tabItem1_1", "基金产品概况", [("tabItem1_fundIntro", "基金基本情况")]),
        ("tabItem2_2", "主要财务指标和基金净值表现", [("tabItem2_mainFinanceItem", "主要财务指标"),
                                               ("tabItem2_fundNetValue_BJ", GROWTH)]),
        ("tabItem3_3", "管理人报告", [("tabItem3_fundManagerIntroduction", MANAGERS)]),
        ("tabItem4_4", "投资组合报告", [("tabItem4_assetsCircs", "报告期末基金资产组合情况"),
                                   ("tabItem4_byTradeStockDetal", "报告期末按行业分类的股票投资组合"),
                                   ("tabItem4_topTenStockDetal", holdings.TOP_STOCKS),
                                   ("tabItem4_bondCombination", "报告期末按债券品种分类的债券投资组合"),
                                   ("tabItem4_topFiveBondDetail", holdings.TOP_BONDS)]),
        ("tabItem6_6", "开放式基金份额变动", [("tabItem6_openTypeFundShareChange", "开放式基金份额变动")]),
    ]
    parts = [
        m.wrapper("tabItem0", _important(spec, start, end)),
        m.wrapper("tabItem1", basic_info(spec, p)),
        m.wrapper("tabItem2", indicators(p, start, end, money_market=spec.fund_type == MONEY_MARKET) + growth(p)),
        m.wrapper("tabItem3", managers(spec, rng) + _reports_prose(rng, spec)),
        m.wrapper("tabItem4", m.block(m.heading("投资组合报告")) + holdings.asset_allocation(p) +
                  holdings.industries(p) + holdings.top_stocks(p) + holdings.bond_types(p) +
                  holdings.top_bonds(p) + holdings.other_sections(p)),
        m.wrapper("tabItem6", share_change(spec, p)),
        m.wrapper("tabItem8", _closing(spec, rng)),
    ]
    return chapters, "".join(parts)


INDICATOR_NOTE = ("注：本期已实现收益指基金本期利息收入、投资收益、其他收入（不含公允价值变动收益）扣除相关费用后的余额，"
                  "本期利润为本期已实现收益加上本期公允价值变动收益。")
GROWTH = "基金份额净值增长率及其与同期业绩比较基准收益率的比较"
MANAGERS = "基金经理（或基金经理小组）简介"


def _important(spec: PageSpec, start: dt.date, end: dt.date) -> str:
    lines = [
        "基金管理人的董事会及董事保证本报告所载资料不存在虚假记载、误导性陈述或重大遗漏。",
        f"基金托管人{spec.custodian}根据本基金合同规定，复核了本报告中的财务指标、净值表现和投资组合报告等内容。",
        "基金的过往业绩并不代表其未来表现。投资有风险，投资者在作出投资决策前应仔细阅读本基金的招募说明书。",
        f"本报告期自{start:%Y年%m月%d日}起至{end:%Y年%m月%d日}止。",
    ]
    return m.block(m.heading("重要提示") + m.prose(lines), "tabItem1__importMessage")


def basic_info(spec: PageSpec, p: Portfolio) -> str:
    """基金基本情况: key-value rows, plus the 下属N级基金 rows of a multi-class fund."""
    span = max(1, len(p.classes)) if len(p.classes) > 1 else 1
    pairs = [("基金简称", spec.short_name), ("基金主代码", spec.fund_code), ("基金运作方式", "契约型开放式"),
             ("基金合同生效日", spec.inception), ("报告期末基金份额总额", m.money(p.shares)),
             ("投资目标", "在严格控制风险的前提下，力争实现基金资产的长期稳健增值。"),
             ("业绩比较基准", "沪深300指数收益率×60%+中债综合全价指数收益率×40%"),
             ("基金管理人", spec.manager), ("基金托管人", spec.custodian)]
    rows = [m.data_row([m.cell(label, "left"), m.cell(m.text(value) if label != "报告期末基金份额总额" else value,
                                                       "right" if label == "报告期末基金份额总额" else "left", span)])
            for label, value in pairs]
    if len(p.classes) > 1:
        n = len(p.classes)
        rows += [
            m.data_row([m.cell(f"下属{n}级基金的基金简称", "left")] + [m.cell(m.text(c.name), "left") for c in p.classes]),
            m.data_row([m.cell(f"下属{n}级基金的交易代码", "left")] + [m.cell(c.code, "left") for c in p.classes]),
            m.data_row([m.cell(f"报告期末下属{n}级基金的份额总额", "left")] + [m.cell(m.money(c.shares)) for c in p.classes]),
        ]
    content = m.heading("基金产品概况") + m.heading("基金基本情况") + m.data_table(m.header_row(["项目", "数值"]), rows)
    return m.block(content, "tabItem1_fundIntro")


def indicators(p: Portfolio, start: dt.date, end: dt.date, money_market: bool = False) -> str:
    """主要财务指标: one 报告期（start 至 end） column, or a blank fund column plus one column per class.

    A money-market fund prints no 期末基金份额净值 row (its share is kept at 1.00 yuan, stated in the text)."""
    single = len(p.classes) == 1
    if single:
        header = m.header_row(["主要财务指标", f"报告期（{start} 至 {end}）"])
    else:
        cells = "".join(f"\t\t\t\t\t\t\t\t\t<td>\n\t\t\t\t\t\t\t\t\t\t<p>{m.text(c.name)}(元)</p>\n"
                        f"\t\t\t\t\t\t\t\t\t\t<p>{start} - {end}</p>\n\t\t\t\t\t\t\t\t\t</td>\n" for c in p.classes)
        header = ('\t\t\t\t\t\t\t\t<tr class="cc">\n\t\t\t\t\t\t\t\t\t<td><p>主要财务指标</p></td>\n'
                  f"\t\t\t\t\t\t\t\t\t<td><p>主基金(元)</p></td>\n{cells}\t\t\t\t\t\t\t\t</tr>\n")
    figures = [("1.本期已实现收益", lambda c: m.money(c.realized)), ("2.本期利润", lambda c: m.money(c.profit)),
               ("3.加权平均基金份额本期利润", _per_share_profit), ("4.期末基金资产净值", lambda c: m.money(c.net_assets)),
               ("5.期末基金份额净值", lambda c: f"{c.nav:.4f}")]
    if money_market:
        figures = figures[:-1]
    lead = [] if single else [m.cell("")]
    rows = [m.data_row([m.cell(label, "left"), *lead, *(m.cell(fmt(c)) for c in p.classes)]) for label, fmt in figures]
    content = m.heading("主要财务指标和基金净值表现") + m.heading("主要财务指标", chart="create_main_finance_charts_new") + \
        m.unit("单位：人民币元") + m.data_table(header, rows)
    notes = [INDICATOR_NOTE]
    return m.block(content, "tabItem2_mainFinanceItem", notes)


def _per_share_profit(c: ShareClass) -> str:
    return f"{c.profit / max(c.shares, 1):.4f}"


def growth(p: Portfolio) -> str:
    """NAV growth vs benchmark; a multi-class fund prints an empty unsuffixed table, then one per class."""
    header = m.header_row(["阶段", "净值增长率①", "净值增长率标准差②", "业绩比较基准收益率③", "业绩比较基准收益率标准差④",
                           "①-③", "②-④"])
    rows = [m.data_row([m.cell(stage, "left"), *(m.cell(f"\n{v:.2f}\n%\n") for v in values)])
            for stage, values in p.growth]
    out = m.block(m.heading("基金净值表现"), "tabItem2_fundNetValue")
    suffixes = [""] if len(p.classes) == 1 else ["", *(c.name for c in p.classes)]
    for suffix in suffixes:
        body_rows = [] if (suffix == "" and len(suffixes) > 1) else rows
        out += m.block(m.heading(GROWTH + suffix, level3=True) + m.data_table(header, body_rows),
                       "tabItem2_fundNetValue_BJ")
    return out


def managers(spec: PageSpec, rng: random.Random) -> str:
    header = ('\t\t\t\t\t\t\t\t<tr class="cc">\n\t\t\t\t\t\t\t\t\t<td rowspan="2"><p>姓名</p></td>\n'
              '\t\t\t\t\t\t\t\t\t<td rowspan="2"><p>职务</p></td>\n'
              '\t\t\t\t\t\t\t\t\t<td colspan="2"><p>任本基金的基金经理期限</p></td>\n'
              '\t\t\t\t\t\t\t\t\t<td rowspan="2"><p>证券从业年限</p></td>\n'
              '\t\t\t\t\t\t\t\t\t<td rowspan="2"><p>说明</p></td>\n\t\t\t\t\t\t\t\t</tr>\n'
              '\t\t\t\t\t\t\t\t<tr class="cc">\n\t\t\t\t\t\t\t\t\t<td><p>任职日期</p></td>\n'
              '\t\t\t\t\t\t\t\t\t<td><p>离任日期</p></td>\n\t\t\t\t\t\t\t\t</tr>\n')
    rows = []
    for _ in range(rng.randrange(1, 3)):
        name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.randrange(1, 3)))
        since = dt.date(rng.randrange(2015, 2024), rng.randrange(1, 13), rng.randrange(1, 28))
        bio = f"硕士研究生，具有基金从业资格。{rng.randrange(2005, 2018)}年加入{spec.manager}，现任本基金基金经理。"
        rows.append(m.data_row([m.cell(name, "left"), m.cell("本基金的基金经理", "left"), m.cell(since.isoformat(), "left"),
                                m.cell("-", "left"), m.cell(f"{rng.randrange(5, 25)}年", "left"), m.cell(bio, "left")]))
    content = m.heading("管理人报告") + m.heading(MANAGERS) + m.data_table(header, rows)
    return m.block(content, "tabItem3_fundManagerIntroduction")


def _paragraphs(rng: random.Random, count: int) -> list[str]:
    return ["，".join(rng.choice(PHRASES) for _ in range(rng.randrange(3, 6))) + "。" for _ in range(count)]


#: Where a money-market page states the unit value it keeps (no NAV row is printed).
PERFORMANCE = "报告期内基金的业绩表现"
MONEY_MARKET_STATEMENT = "本基金采用摊余成本法对持有的投资组合进行估值，通过每日分配收益使基金份额净值保持为人民币1.00元。"


def _reports_prose(rng: random.Random, spec: PageSpec) -> str:
    titles = [("tabItem3_regulateAndFaith", "管理人对报告期内本基金运作遵规守信情况的说明"),
              ("tabItem3_gongPingJiaoYiZhiDuZhiXingQingKuan", "公平交易制度的执行情况"),
              ("tabItem3_outstandingAchievement", "报告期内基金的投资策略和运作分析"),
              ("tabItem3_workAnalyse", PERFORMANCE),
              ("tabItem3_warnState", "报告期内基金持有人数或基金资产净值预警说明")]
    out = []
    for anchor, title in titles:
        paragraphs = _paragraphs(rng, rng.randrange(2, 6))
        if title == PERFORMANCE and spec.fund_type == MONEY_MARKET:
            paragraphs.append(MONEY_MARKET_STATEMENT)
        out.append(m.block(m.heading(title) + m.prose(paragraphs), anchor))
    return "".join(out)


def share_change(spec: PageSpec, p: Portfolio) -> str:
    """开放式基金份额变动: 项目|数值, or a fund column (ending total only) plus one column per class."""
    single = len(p.classes) == 1
    labels = ["项目", "数值"] if single else ["项目", spec.short_name, *(c.name for c in p.classes)]
    lines = [("报告期期初基金份额总额", "beginning"), ("报告期期间基金总申购份额", "subscriptions"),
             ("减：报告期期间基金总赎回份额", "redemptions"), ("报告期期间基金拆分变动份额（份额减少以“-”填列）", None),
             ("报告期期末基金份额总额", "shares")]
    rows = []
    for label, attr in lines:
        values = [m.money(getattr(c, attr)) if attr else "0" for c in p.classes]
        lead = [] if single else [m.cell(m.money(p.shares) if attr == "shares" else "")]
        rows.append(m.data_row([m.cell(label, "left"), *lead, *(m.cell(v) for v in values)]))
    content = m.heading("开放式基金份额变动") + m.unit("单位：份") + m.data_table(m.header_row(labels), rows)
    return m.block(content, "tabItem6_openTypeFundShareChange")


def _closing(spec: PageSpec, rng: random.Random) -> str:
    other = m.block(m.heading("影响投资者决策的其他重要信息") + m.prose(["无。"]), "tabItem8_otherImportantInfo")
    files = [f"1、中国证监会准予{spec.fund_name}注册的文件；", f"2、《{spec.fund_name}基金合同》；",
             f"3、《{spec.fund_name}托管协议》；", "4、基金管理人业务资格批件、营业执照；",
             "存放地点：基金管理人的办公场所。", *_paragraphs(rng, 2)]
    return other + m.block(m.heading("备查文件目录") + m.prose(files), "tabItem9_beiChaWenJian")
