"""Synthetic funds and their listing rows: what ``--generate`` and ``/_replica/publish`` add to the catalogue.

Realistic shape: one row per fund main code per period, a quarter's rows sent over a week
with most of them on the last day, ids in the 22-23M range and not monotonic with the send date.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Any

from crawler.models import REPORT_KINDS_BY_CODE
from tests.replica.catalogue import KIND_SEQ, REPORT_DESP, Catalogue, Report, stable_int

#: (full manager name, organName short name, 8-digit organ code)
MANAGERS: tuple[tuple[str, str, str], ...] = (
    ("华夏基金管理有限公司", "华夏", "50030000"),
    ("南方基金管理股份有限公司", "南方", "50020000"),
    ("博时基金管理有限公司", "博时", "50050000"),
    ("大成基金管理有限公司", "大成", "50090000"),
    ("富国基金管理有限公司", "富国", "50100000"),
    ("中银基金管理有限公司", "中银", "50400000"),
    ("工银瑞信基金管理有限公司", "工银瑞信", "50470000"),
    ("汇丰晋信基金管理有限公司", "汇丰晋信", "50520000"),
    ("北信瑞丰基金管理有限公司", "北信瑞丰", "50920000"),
    ("中金基金管理有限公司", "中金", "50960000"),
    ("东方基金管理股份有限公司", "东方", "50390000"),
    ("安信基金管理有限责任公司", "安信", "50700000"),
)
CUSTODIANS = (
    "中国工商银行股份有限公司",
    "中国建设银行股份有限公司",
    "中国银行股份有限公司",
    "中国农业银行股份有限公司",
    "交通银行股份有限公司",
    "招商银行股份有限公司",
    "中国光大银行股份有限公司",
    "中信银行股份有限公司",
)
THEMES = (
    "稳健增长", "价值精选", "成长先锋", "红利优选", "医疗健康", "科技创新", "消费升级", "高端制造",
    "新能源", "均衡配置", "核心优势", "品质生活", "研究精选", "行业轮动", "安心回报", "信用增利",
    "纯债", "短债", "双利", "恒久", "盛世", "睿选", "远见", "鑫享",
)
#: fundType code -> (words in the full name, words in the short name)
TYPE_WORDS = {
    "6020-6010": ("股票型证券投资基金", "股票"),
    "6020-6030": ("债券型证券投资基金", "债券"),
    "6020-6040": ("混合型证券投资基金", "混合"),
}
#: Name words of every type the publisher can be asked for; money-market funds are never in the natural mix
#: (``TYPE_WORDS``), so existing catalogues keep their funds.
NAME_WORDS = {**TYPE_WORDS, "6020-6020": ("货币市场基金", "货币")}
HOSTILE_NAMES = {
    "name_sql": "'; DROP TABLE reports; --",
    "name_sql_or": '" OR 1=1 --',
    "name_rtl": "基金\u202egnp.exe\u202c增强",
    "name_emoji": "🚀成长🌕优选",
}
QUARTER_SEND = {"q1": (4, 14, 22), "q2": (7, 14, 21), "q3": (10, 20, 28), "annual": (3, 25, 31), "interim": (8, 24, 31)}


@dataclass(frozen=True)
class Partition:
    """A report type code and report year, the unit discovery walks."""

    report_type_code: str
    report_year: str

    @classmethod
    def parse(cls, text: str) -> Partition:
        code, _, year = text.partition(":")
        return cls(code, year or "2025")


def send_window(kind: str, year: int) -> tuple[dt.date, dt.date]:
    """The disclosure window of a partition; profiles go out all year."""
    if kind.startswith("profile"):
        return dt.date(year, 1, 5), dt.date(year, 12, 20)
    if kind == "q4":
        return dt.date(year + 1, 1, 14), dt.date(year + 1, 1, 22)
    month, first, last = QUARTER_SEND.get(kind, (4, 14, 22))
    filing = year + 1 if kind == "annual" else year
    return dt.date(filing, month, first), dt.date(filing, month, last)


def pick_send_date(rng: random.Random, first: dt.date, last: dt.date) -> dt.date:
    """70% of a quarter's reports go out on the last day."""
    if rng.random() < 0.7 or first == last:
        return last
    return first + dt.timedelta(days=rng.randrange((last - first).days + 1))


class Publisher:
    """Makes synthetic reports for the catalogue, one new fund per report within a partition."""

    def __init__(self, catalogue: Catalogue, seed: int = 0) -> None:
        self.catalogue = catalogue
        self.seed = seed
        self._next_fund: dict[Partition, int] = {}

    def publish(
        self,
        count: int,
        partition: Partition,
        *,
        fund_type: str = "",
        send_from: dt.date | None = None,
        send_to: dt.date | None = None,
        faults: dict[str, int] | None = None,
    ) -> list[Report]:
        """Add ``count`` reports to ``partition``; ``faults`` maps a fault name to how many of them get it."""
        kind = REPORT_KINDS_BY_CODE.get(partition.report_type_code, "q1")
        first, last = send_window(kind, int(partition.report_year))
        first, last = send_from or first, send_to or send_from or last
        fault_list = [name for name, n in (faults or {}).items() for _ in range(n)]
        with self.catalogue.lock:
            start = self._next_fund.get(partition, 0)
            self._next_fund[partition] = start + count
            positions = random.Random(stable_int(self.seed, "faults", partition, start)).sample(
                range(count), min(len(fault_list), count))
            faults_at = dict(zip(positions, fault_list))
            reports = []
            for i in range(count):
                report = self._make(partition, kind, start + i, fund_type, first, last)
                if i in faults_at:
                    assign_fault(report, faults_at[i])
                reports.append(self.catalogue.add(report))
            return reports

    def _make(
        self, partition: Partition, kind: str, index: int, fund_type: str, first: dt.date, last: dt.date
    ) -> Report:
        rng = random.Random(stable_int(self.seed, partition, index))
        fund = fund_profile(index, fund_type or natural_fund_type(index))
        send = pick_send_date(rng, first, last)
        candidate = 22_200_000 + stable_int(self.seed, "id", partition, index) % 900_000
        return Report(
            upload_info_id=self.catalogue.free_id(candidate),
            fund_code=fund["fund_code"],
            fund_id=1000 + index,
            fund_short_name=fund["short_name"],
            organ_name=fund["organ_name"],
            organ_code=fund["organ_code"],
            report_type_code=partition.report_type_code,
            report_year=partition.report_year,
            report_desp=REPORT_DESP.get(kind, "报告"),
            upload_date=send - dt.timedelta(days=rng.randrange(3)),
            send_date=send,
            fund_type=fund["fund_type"],
            seq=KIND_SEQ.get(kind, 9),
            page_seed=stable_int(self.seed, "page", partition, index),
            extra=fund,
        )


def natural_fund_type(index: int) -> str:
    """The fund type of synthetic fund ``index`` when the publisher does not ask for one (stable per fund)."""
    return tuple(TYPE_WORDS)[stable_int("type", index) % len(TYPE_WORDS)]


def fund_profile(index: int, fund_type: str) -> dict[str, Any]:
    """The fixed facts of synthetic fund ``index``: codes, names, manager, custodian, share classes."""
    rng = random.Random(stable_int("fund", index))
    manager, organ_name, organ_code = MANAGERS[index % len(MANAGERS)]
    theme = THEMES[(index // len(MANAGERS)) % len(THEMES)]
    serial = index // (len(MANAGERS) * len(THEMES))
    theme = theme + ("" if serial == 0 else ("一号", "二号", "三号", "优选", "领航")[serial % 5] + str(serial))
    full_word, short_word = NAME_WORDS.get(fund_type, TYPE_WORDS["6020-6040"])
    short_name = f"{organ_name}{theme}{short_word}"
    return {
        "fund_code": f"{800000 + 2 * index:06d}",
        "fund_type": fund_type,
        "fund_name": f"{organ_name}{theme}{full_word}",
        "short_name": short_name,
        "manager": manager,
        "organ_name": organ_name,
        "organ_code": organ_code,
        "custodian": CUSTODIANS[rng.randrange(len(CUSTODIANS))],
        "classes": 2 if rng.random() < 0.35 else 0,
        "inception": (dt.date(2012, 1, 1) + dt.timedelta(days=rng.randrange(4000))).isoformat(),
    }


def assign_fault(report: Report, fault: str | None, attempts: int = 2) -> None:
    """Give ``report`` a per-report fault; hostile names change the listed and printed fund name."""
    report.fault = fault
    report.extra["fault_attempts"] = attempts
    if fault in HOSTILE_NAMES:
        report.fund_short_name = HOSTILE_NAMES[fault]
        report.extra["short_name"] = HOSTILE_NAMES[fault]
