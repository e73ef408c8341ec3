"""``StorePipeline``: write a report's document, normalized rows and ``stored`` state in one transaction.

A plain Scrapy item pipeline: it reads ``FUNDCRAWL_DATABASE_URL`` (or, without it, the embedded SQLite file
under ``FUNDCRAWL_DATA_DIR``) from the crawler's settings, so it works the same in a Scrapy project and inside
fundcrawl's Celery task.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem
from scrapy.settings import BaseSettings

from crawler.archive import relative_path
from crawler.models import ReportItem
from crawler.settings import DEFAULT_DATA_DIR, embedded_database_url
from crawler.storage import DocumentError, Saved, Store

log = logging.getLogger(__name__)

def database_url(settings: BaseSettings) -> str:
    """The database to write to; mirrors ``crawler.settings.Settings.database`` for Scrapy settings."""
    url = settings.get("FUNDCRAWL_DATABASE_URL")
    if url:
        return str(url)
    return embedded_database_url(Path(settings.get("FUNDCRAWL_DATA_DIR") or DEFAULT_DATA_DIR))


def report_item(item: Any) -> ReportItem:
    """The item as a ReportItem, or DropItem when it is something else entirely."""
    if not isinstance(item, ReportItem):
        raise DropItem(f"not a report item: {type(item).__name__}")
    return item


class DatabasePipeline:
    """What the database-backed pipelines share: the URL from the crawler's settings and a Store while open."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.store: Store | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(database_url(crawler.settings))

    def open_spider(self, spider: object = None) -> None:
        self.store = Store.from_url(self.url)

    def close_spider(self, spider: object = None) -> None:
        # The database connections belong to the process (shared with other users of the same URL); only drop our
        # handle.
        self.store = None

    def opened_store(self) -> Store:
        if self.store is None:
            self.open_spider()
        assert self.store is not None
        return self.store


class StorePipeline(DatabasePipeline):
    """Save each report through :meth:`crawler.storage.Store.save_report`."""

    def open_spider(self, spider: object = None) -> None:
        """Connect, and refuse to run on a schema that is missing or behind (the error names the fix)."""
        self.store = Store.open(self.url)

    def process_item(self, item: Any, spider: object = None) -> ReportItem:
        report = report_item(item)
        try:
            saved = self.opened_store().save_report(report, _archive_path(report))
        except DocumentError as error:
            # Only a pipeline configuration without validation gets here; the report ends dropped, saying why.
            raise DropItem(str(error)) from error
        return _saved(report, saved)

    def process_items(self, items: Sequence[Any]) -> list[ReportItem | DropItem]:
        """:meth:`process_item` for a batch, in one transaction: it stores every report of the batch or none."""
        reports = [report_item(item) for item in items]
        results = self.opened_store().save_reports([(report, _archive_path(report)) for report in reports])
        passed: list[ReportItem | DropItem] = []
        for report, saved in zip(reports, results, strict=True):
            try:
                passed.append(DropItem(str(saved)) if isinstance(saved, DocumentError) else _saved(report, saved))
            except DropItem as drop:
                passed.append(drop)
        return passed


def _archive_path(report: ReportItem) -> str:
    return str(getattr(report, "archive_path", "") or relative_path(report.page_sha256))


def _saved(report: ReportItem, saved: Saved | None) -> ReportItem:
    """The saved report, with the correction its save revealed; DropItem when it was not saved (failed)."""
    if saved is None:
        raise DropItem(f"report {report.upload_info_id} is marked failed; replay it to store it again")
    report.correction = saved.correction.to_json() if saved.correction else None
    log.debug("report %s saved (parser %s)", report.upload_info_id, report.parser_version)
    return report
