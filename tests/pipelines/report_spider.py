"""A plain Scrapy spider that fetches report pages and yields ReportItems (run by test_scrapy_crawl.py).

It knows nothing of fundcrawl's Celery side: the item pipelines come from ``ITEM_PIPELINES`` on the command
line, exactly as a Scrapy project would configure them.

    scrapy runspider report_spider.py -a base_url=http://127.0.0.1:8000 -a catalogue=listing.json \
        -s ITEM_PIPELINES='{"pipelines.store.StorePipeline": 300}' -s FUNDCRAWL_DATABASE_URL=sqlite:///x.sqlite
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, ClassVar

import scrapy
from scrapy.http import Response

from crawler.models import ReportItem
from crawler.parsing import parse_report
from tests.constants import VIEW_PATH


class ReportSpider(scrapy.Spider):
    name = "fundcrawl-reports"
    custom_settings: ClassVar[dict[str, Any]] = {
        "ROBOTSTXT_OBEY": False,
        "TELNETCONSOLE_ENABLED": False,
        "CONCURRENT_REQUESTS": 4,
        "RETRY_ENABLED": False,
    }

    def __init__(self, base_url: str, catalogue: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.base_url = base_url.rstrip("/")
        self.listings: list[dict[str, Any]] = json.loads(Path(catalogue).read_text(encoding="utf-8"))

    async def start(self) -> AsyncIterator[scrapy.Request]:
        for listing in self.listings:
            url = f"{self.base_url}{VIEW_PATH}?instanceid={listing['upload_info_id']}"
            yield scrapy.Request(url, callback=self.parse_page, cb_kwargs={"listing": listing})

    def parse_page(self, response: Response, listing: dict[str, Any]) -> ReportItem:
        parsed = parse_report(response.body)
        return ReportItem(
            upload_info_id=int(listing["upload_info_id"]),
            document=parsed.document,
            parser_version=parsed.parser_version,
            page_sha256=hashlib.sha256(response.body).hexdigest(),
            final_url=response.url,
            listing=listing,
            unknown_sections=parsed.unknown_sections,
            section_errors=parsed.section_errors,
        )
