"""``ValidatePipeline``: check the document's types, run the parser's cross-checks and record them on the item.

A failed cross-check flags the report (kept, marked, visible in ``fundcrawl status``); it never drops data. An
item that is not a report at all (no document, no fund code) is dropped, and so is one whose document does not
fit ``fundcrawl.report/1`` (a value of the wrong type or shape, see :class:`crawler.models.ReportDocument`): the
drop names the bad values, and storage never has to guess what such a value meant.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from typing import Any

from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem

from crawler.models import ReportDocument, ReportItem, document_problems, problem_summary
from pipelines.store import report_item

log = logging.getLogger(__name__)

CHECKS_MODULE = "crawler.parsing.checks"
Checks = Callable[[ReportDocument, dict[str, Any] | None], dict[str, str | None]]


def load_checks() -> Checks | None:
    """``run_checks`` from the parser package, or None while that module does not exist."""
    try:
        module = importlib.import_module(CHECKS_MODULE)
    except ModuleNotFoundError as error:
        if not (error.name or "").startswith("crawler.parsing"):
            raise
        return None
    checks: Checks = module.run_checks
    return checks


class ValidatePipeline:
    """Record ``check name -> None | message`` in ``item.checks``."""

    def __init__(self) -> None:
        self.run_checks: Checks | None = None
        self.opened = False

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ValidatePipeline:
        return cls()

    def open_spider(self, spider: object = None) -> None:
        self.opened = True
        self.run_checks = load_checks()
        if self.run_checks is None:
            log.warning("%s is not available: reports are stored without cross-checks", CHECKS_MODULE)

    def close_spider(self, spider: object = None) -> None:
        self.run_checks = None
        self.opened = False

    def process_item(self, item: Any, spider: object = None) -> ReportItem:
        report = report_item(item)
        if not isinstance(report.document, dict) or not report.document:
            raise DropItem(f"report {report.upload_info_id} has no document")
        if not report.document.get("fund_code"):
            raise DropItem(f"report {report.upload_info_id} has no fund code: not a report")
        problems = document_problems(report.document)
        if problems:
            why = problem_summary(problems)
            raise DropItem(f"report {report.upload_info_id} does not fit fundcrawl.report/1: {why}")
        if not self.opened:
            self.open_spider()
        if self.run_checks is not None:
            report.checks = dict(self.run_checks(report.document, report.listing or None))
            failed = sorted(name for name, message in report.checks.items() if message is not None)
            if failed:
                log.info("report %s flagged by checks: %s", report.upload_info_id, ", ".join(failed))
        return report

