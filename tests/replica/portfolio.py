"""The numbers of a synthetic report, drawn from a seeded RNG and internally consistent.

Money is held in integer fen (cents) and share counts in hundredths, so sums are exact: asset rows add up to
total assets, industry rows to the stock total, beginning + subscriptions - redemptions = ending, and net
assets = shares x NAV per unit (rounded to the fen). Percentages are value / base rounded half-up to 2 dp.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from functools import partial

INDUSTRIES = (
    ("A", "农、林、牧、渔业"), ("B", "采矿业"), ("C", "制造业"), ("D", "电力、热力、燃气及水生产和供应业"),
    ("E", "建筑业"), ("F", "批发和零售业"), ("G", "交通运输、仓储和邮政业"), ("H", "住宿和餐饮业"),
    ("I", "信息传输、软件和信息技术服务业"), ("J", "金融业"), ("K", "房地产业"), ("L", "租赁和商务服务业"),
    ("M", "科学研究和技术服务业"), ("N", "水利、环境和公共设施管理业"), ("O", "居民服务、修理和其他服务业"),
    ("P", "教育"), ("Q", "卫生和社会工作"), ("R", "文化、体育和娱乐业"), ("S", "综合"),
)
INDUSTRY_WEIGHTS = (1, 3, 30, 3, 2, 2, 3, 1, 8, 6, 2, 1, 2, 1, 1, 1, 2, 1, 1)
HK_INDUSTRIES = ("信息技术", "医疗保健", "非日常生活消费品", "通讯业务", "原材料", "能源", "金融", "工业")
BOND_KINDS = ("国家债券", "央行票据", "金融债券", "企业债券", "企业短期融资券", "中期票据", "可转债（可交换债）",
              "同业存单", "其他")
OTHER_ASSET_ITEMS = ("存出保证金", "应收证券清算款", "应收股利", "应收利息", "应收申购款", "其他应收款", "其他")
_STOCK_HEADS = ("华", "中", "国", "东方", "海", "金", "长江", "新", "天", "恒", "宏", "联", "安", "德", "瑞", "光")
_STOCK_TAILS = ("科技", "股份", "电子", "医药", "银行", "能源", "控股", "材料", "智能", "生物", "电气", "传媒")
_ISSUERS = (("国债", "国家债券"), ("国开", "金融债券"), ("进出", "金融债券"), ("农发", "金融债券"),
            ("华电", "企业债券"), ("南网", "企业债券"), ("电投MTN", "中期票据"), ("城建MTN", "中期票据"),
            ("工商银行CD", "同业存单"), ("兴业银行CD", "同业存单"), ("转债", "可转债（可交换债）"))
POLICY_BANKS = ("国开", "进出", "农发")
MONEY_MARKET = "6020-6020"
#: A money-market share is kept at 1.00 yuan (amortised cost), so its net assets equal its shares.
MONEY_MARKET_NAV = Decimal("1.0000")


def pct(value: int, base: int) -> Decimal:
    """value / base in percent, rounded half-up to 2 dp, as the site prints it."""
    return (Decimal(value) * 100 / Decimal(base)).quantize(Decimal("0.01"), ROUND_HALF_UP)


@dataclass
class Holding:
    code: str
    name: str
    quantity: int
    value: int
    sector: str
    market: str = "domestic"


@dataclass
class ShareClass:
    name: str
    code: str
    shares: int
    nav: Decimal
    net_assets: int
    realized: int
    profit: int
    beginning: int
    subscriptions: int
    redemptions: int


@dataclass
class Portfolio:
    classes: list[ShareClass]
    net_assets: int
    stocks: list[Holding]
    bonds: list[Holding]
    abs_value: int
    reverse_repo: int
    other_items: dict[str, int]
    bank: int
    growth: list[tuple[str, list[Decimal]]] = field(default_factory=list)

    @property
    def stock_value(self) -> int:
        return sum(h.value for h in self.stocks)

    @property
    def bond_value(self) -> int:
        return sum(h.value for h in self.bonds)

    @property
    def other_value(self) -> int:
        return sum(self.other_items.values())

    @property
    def total_assets(self) -> int:
        return self.stock_value + self.bond_value + self.abs_value + self.reverse_repo + self.other_value + self.bank

    @property
    def shares(self) -> int:
        return sum(c.shares for c in self.classes)


def make_portfolio(rng: random.Random, fund_type: str, class_names: list[tuple[str, str]]) -> Portfolio:
    """Draw a consistent portfolio; ``class_names`` is [(name, code)] (one unnamed entry = single class)."""
    fixed_nav = MONEY_MARKET_NAV if fund_type == MONEY_MARKET else None
    classes = [_share_class(rng, name, code, i, fixed_nav) for i, (name, code) in enumerate(class_names)]
    net = sum(c.net_assets for c in classes)
    target = int(net * rng.uniform(1.002, 1.02))
    stock_share, bond_share = _mix(rng, fund_type)
    stocks = _stocks(rng, int(target * stock_share), hk=fund_type != "6020-6030" and rng.random() < 0.3)
    bonds = _bonds(rng, int(target * bond_share))
    abs_value = int(target * rng.uniform(0.005, 0.03)) if rng.random() < 0.2 else 0
    repo = int(target * rng.uniform(0.01, 0.04)) if rng.random() < 0.4 else 0
    other = _other_items(rng, int(target * rng.uniform(0.001, 0.01)))
    used = sum(h.value for h in stocks) + sum(h.value for h in bonds) + abs_value + repo + sum(other.values())
    bank = max(target - used, int(target * 0.005))
    return Portfolio(classes, net, stocks, bonds, abs_value, repo, other, bank, _growth(rng))


def _mix(rng: random.Random, fund_type: str) -> tuple[float, float]:
    if fund_type == MONEY_MARKET:
        return 0.0, rng.uniform(0.4, 0.7)
    if fund_type == "6020-6010":
        return rng.uniform(0.72, 0.88), rng.choice((0.0, rng.uniform(0.0, 0.03)))
    if fund_type == "6020-6030":
        return (0.0 if rng.random() < 0.7 else rng.uniform(0.0, 0.05)), rng.uniform(0.75, 0.88)
    return rng.uniform(0.3, 0.65), rng.uniform(0.05, 0.25)


def _share_class(rng: random.Random, name: str, code: str, index: int, fixed_nav: Decimal | None = None) -> ShareClass:
    shares = rng.randrange(2 * 10**9, 2 * 10**11)
    nav = Decimal(str(round(rng.uniform(0.75, 2.3) - 0.004 * index, 4))).quantize(Decimal("0.0001"))
    nav = fixed_nav if fixed_nav is not None else nav
    net = int((shares * nav).quantize(Decimal(1), ROUND_HALF_UP))
    realized = int(net * rng.uniform(-0.03, 0.05))
    subscriptions = int(shares * rng.uniform(0.01, 0.3))
    redemptions = int(shares * rng.uniform(0.01, 0.35))
    return ShareClass(name, code, shares, nav, net, realized, realized + int(net * rng.uniform(-0.05, 0.05)),
                      shares - subscriptions + redemptions, subscriptions, redemptions)


def _weights(rng: random.Random, count: int) -> list[float]:
    raw = sorted((rng.paretovariate(1.5) for _ in range(count)), reverse=True)
    total = sum(raw)
    return [w / total for w in raw]


def _stocks(rng: random.Random, target: int, hk: bool) -> list[Holding]:
    if target <= 0:
        return []
    holdings: list[Holding] = []
    codes: set[str] = set()
    for weight in _weights(rng, rng.randrange(12, 46)):
        market = "hk_connect" if hk and rng.random() < 0.25 else "domestic"
        code = _unique(codes, partial(_stock_code, rng, market))
        price = rng.randrange(300, 30000)
        quantity = max(100, round(target * weight / price / 100) * 100)
        sector = rng.choice(HK_INDUSTRIES) if market == "hk_connect" else _industry(rng)
        name = rng.choice(_STOCK_HEADS) + rng.choice(_STOCK_TAILS)
        holdings.append(Holding(code, name, quantity, quantity * price, sector, market))
    return sorted(holdings, key=lambda h: -h.value)


def _stock_code(rng: random.Random, market: str) -> str:
    if market == "hk_connect":
        return f"0{rng.randrange(1, 9999):04d}"
    prefix = rng.choice(("600", "601", "603", "000", "002", "300", "688"))
    return f"{prefix}{rng.randrange(1000):03d}"


def _industry(rng: random.Random) -> str:
    return rng.choices([code for code, _ in INDUSTRIES], weights=INDUSTRY_WEIGHTS)[0]


def _unique(seen: set[str], draw: Callable[[], str]) -> str:
    """Draw until the value is new on this page (holdings are keyed by code)."""
    while True:
        value = draw()
        if value not in seen:
            seen.add(value)
            return value


def _bond_code(rng: random.Random) -> str:
    """6-digit exchange codes and 8/9-digit interbank codes, as printed."""
    return str(rng.randrange(100000, 999999)) + ("" if rng.random() < 0.7 else f"{rng.randrange(100):02d}")


def _bonds(rng: random.Random, target: int) -> list[Holding]:
    if target <= 0:
        return []
    holdings: list[Holding] = []
    codes: set[str] = set()
    for weight in _weights(rng, rng.randrange(5, 26)):
        issuer, kind = rng.choice(_ISSUERS)
        code = _unique(codes, partial(_bond_code, rng))
        price = rng.randrange(9500, 10600)
        quantity = max(10, round(target * weight / price / 10) * 10)
        name = f"{rng.randrange(20, 26)}{issuer}{rng.randrange(1, 40):02d}"
        sector = "其中：政策性金融债" if issuer in POLICY_BANKS else kind
        holdings.append(Holding(code, name, quantity, quantity * price, sector))
    return sorted(holdings, key=lambda h: -h.value)


def _other_items(rng: random.Random, total: int) -> dict[str, int]:
    chosen = [item for item in OTHER_ASSET_ITEMS if rng.random() < 0.4] or ["应收申购款"]
    parts = [rng.random() for _ in chosen]
    values = [int(total * p / sum(parts)) for p in parts]
    return dict(zip(chosen, values))


def _growth(rng: random.Random) -> list[tuple[str, list[Decimal]]]:
    stages = ("过去三个月", "过去六个月", "过去一年", "过去三年", "过去五年", "自基金合同生效起至今")
    rows = []
    for stage in stages:
        values = [Decimal(str(round(rng.uniform(-15, 25), 2))), Decimal(str(round(rng.uniform(0.01, 1.5), 2))),
                  Decimal(str(round(rng.uniform(-10, 15), 2))), Decimal(str(round(rng.uniform(0.01, 1.2), 2)))]
        rows.append((stage, values + [values[0] - values[2], values[1] - values[3]]))
    return rows
