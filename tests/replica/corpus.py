"""The 39 real pages of the shared corpus as catalogue entries, read through MANIFEST.csv.

The pages stay in the corpus directory: the catalogue only records their path and the listing facts
(report kind -> type code, report year from the period end, send date from sent_on, ids in the 22-23M range).
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from pathlib import Path

from crawler.models import REPORT_TYPES
from tests.replica.catalogue import KIND_SEQ, REPORT_DESP, Catalogue, Report, stable_int

#: Managers of the corpus: full name -> (short organName, 8-digit organ code).
KNOWN_MANAGERS: dict[str, tuple[str, str]] = {
    "北信瑞丰基金管理有限公司": ("北信瑞丰", "50920000"),
    "汇丰晋信基金管理有限公司": ("汇丰晋信", "50520000"),
    "南方基金管理股份有限公司": ("南方", "50020000"),
    "工银瑞信基金管理有限公司": ("工银瑞信", "50470000"),
    "中金基金管理有限公司": ("中金", "50960000"),
    "大成基金管理有限公司": ("大成", "50090000"),
    "中银基金管理有限公司": ("中银", "50400000"),
    "东方基金管理股份有限公司": ("东方", "50390000"),
    "华泰证券（上海）资产管理有限公司": ("华泰证券资管", "51430000"),
    "中航基金管理有限公司": ("中航", "50980000"),
    "建信基金管理有限责任公司": ("建信", "50450000"),
    "中信证券资产管理有限公司": ("中信证券资管", "14240000"),
    "华安证券资产管理有限公司": ("华安证券资管", "13700000"),
    "德邦证券资产管理有限公司": ("德邦资管", "60350000"),
    "华夏基金管理有限公司": ("华夏", "50030000"),
}

PROFILE_MANAGER = ("华夏", "50030000")


_SHORT_NAME = re.compile(r"<p>\s*基金简称\s*</p>\s*</td>\s*<td[^>]*>\s*<p>([^<]*)</p>")
_PROFILE_SENT = re.compile(r"送出日期：\s*(\d{4}-\d{2}-\d{2})")

CORPUS_KIND_CODES = {kind: REPORT_TYPES[kind] for kind in ("annual", "interim", "q1", "q2", "q3", "q4", "profile")}


def corpus_fund_type(title: str) -> str:
    """A plausible fundType code for a corpus report, read from its title."""
    rules = (
        ("基础设施", "6020-6084"),
        ("FOF", "6020-6094"),
        ("QDII", "6020-6050"),
        ("金交易型", "6020-6104"),
        ("期货交易型", "6020-6104"),
        ("债券", "6020-6030"),
        ("混合", "6020-6040"),
        ("灵活配置", "6020-6040"),
    )
    return next((code for needle, code in rules if needle in title), "6020-6010")


def load_corpus(catalogue: Catalogue, corpus_dir: Path) -> list[Report]:
    """Add the real pages listed in ``MANIFEST.csv`` with deterministic ids in the 22-23M range."""
    added = []
    with open(corpus_dir / "MANIFEST.csv", encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            added.append(catalogue.add(_corpus_report(catalogue, corpus_dir, row)))
    return added


def _corpus_report(catalogue: Catalogue, corpus_dir: Path, row: dict[str, str]) -> Report:
    kind = row["report_kind"]
    head = (corpus_dir / row["file"]).read_bytes()[:200_000].decode("utf-8", "replace")
    if kind == "profile":
        send = dt.date.fromisoformat(_PROFILE_SENT.search(head).group(1))  # type: ignore[union-attr]
        year, (organ_name, organ_code) = str(send.year), PROFILE_MANAGER
    else:
        send = dt.date.fromisoformat(row["sent_on"])
        year = row["period_end"][:4]
        organ_name, organ_code = KNOWN_MANAGERS.get(row["manager"], (row["manager"][:4], "59990000"))
    short = _SHORT_NAME.search(head)
    upload_info_id = catalogue.free_id(22_000_000 + stable_int("corpus", row["file"]) % 1_000_000)
    return Report(
        upload_info_id=upload_info_id,
        fund_code=row["fund_code"],
        fund_id=1 + stable_int("fund", row["fund_code"]) % 30_000,
        fund_short_name=short.group(1).strip() if short else row["title"][:12],
        organ_name=organ_name,
        organ_code=organ_code,
        report_type_code=CORPUS_KIND_CODES[kind],
        report_year=year,
        report_desp=REPORT_DESP[kind],
        upload_date=send - dt.timedelta(days=stable_int("upload", row["file"]) % 3),
        send_date=send,
        fund_type=corpus_fund_type(row["title"]),
        seq=KIND_SEQ[kind],
        corpus_file=str((corpus_dir / row["file"]).resolve()),
    )


