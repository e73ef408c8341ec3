"""``DedupePipeline``: drop a report already stored with exactly this result.

A redelivered or duplicated task then writes nothing at all, so storing a report is idempotent. A new page (another sha256),
a new parser version, or the same page and version parsing to another result (a parser fixed without a version
bump, then ``fundcrawl reparse --all``) goes through and replaces the stored rows.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from crawler.models import ReportItem
from pipelines.runner import NothingToStore
from pipelines.store import DatabasePipeline, report_item

log = logging.getLogger(__name__)


class AlreadyStored(NothingToStore):
    """The same report, page, parser version and result are already in the database: nothing to do."""


class DedupePipeline(DatabasePipeline):
    """Raise :class:`AlreadyStored` for a report whose identical result is stored."""

    def process_item(self, item: Any, spider: object = None) -> ReportItem:
        report = report_item(item)
        if self.opened_store().already_stored(report):
            raise _already_stored(report)
        return report

    def process_items(self, items: Sequence[Any]) -> list[ReportItem | AlreadyStored]:
        """:meth:`process_item` for a batch, in one read: each report, or the drop that says it is stored."""
        reports = [report_item(item) for item in items]
        stored = self.opened_store().already_stored_many(reports)
        return [_already_stored(report) if same else report for report, same in zip(reports, stored, strict=True)]


def _already_stored(report: ReportItem) -> AlreadyStored:
    return AlreadyStored(f"report {report.upload_info_id} already stored from page {report.page_sha256[:12]} "
                         f"by parser {report.parser_version}", log_level="DEBUG")
