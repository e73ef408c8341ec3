"""Drive Scrapy item pipelines over one item inside a Celery task.

Scrapy deprecated using its ``ItemPipelineManager`` without a running crawler, so this small runner does the
same job: it builds each class of the ordered ``pipelines`` setting (dotted path -> priority, lower first,
``None`` disables) through ``from_crawler`` with a stand-in crawler that carries real Scrapy settings, opens
them, passes the item along, and closes them. Like Scrapy it stops at the first ``DropItem``; it catches
nothing else, so transient errors reach the task's retry. A pipeline that finds the item's result already
stored raises :class:`NothingToStore`, a drop that is not a failure; the runner knows no pipeline by name.

A batch of items (a re-parse task's reports) goes through :meth:`PipelineRunner.run_many`: a pipeline that has
``process_items`` (a list of items in; for each, the item or the ``DropItem`` it raised, out) takes the batch at
once (the database pipelines then read or write the batch in one transaction); any other pipeline takes its
items one at a time, exactly as :meth:`PipelineRunner.run` passes them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Self, cast

from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem
from scrapy.settings import Settings as ScrapySettings
from scrapy.utils.misc import build_from_crawler, load_object

from crawler.settings import Settings
from crawler.telemetry import metrics

log = logging.getLogger(__name__)

Status = Literal["stored", "already_stored", "dropped"]


class NothingToStore(DropItem):
    """Raised by a pipeline when the item's result is already stored exactly: the chain stops, but nothing
    failed, so the outcome is ``already_stored`` and no drop is logged."""


@dataclass(frozen=True)
class Outcome:
    """What happened to one item: passed every pipeline, was a duplicate, or was dropped (with why)."""

    status: Status
    reason: str = ""
    item: Any = None

    @property
    def stored(self) -> bool:
        return self.status == "stored"

    @property
    def already_stored(self) -> bool:
        return self.status == "already_stored"

    @property
    def dropped(self) -> bool:
        return self.status == "dropped"


class PipelineCrawler:
    """The part of ``scrapy.crawler.Crawler`` an item pipeline may use in ``from_crawler``: its settings."""

    def __init__(self, settings: ScrapySettings) -> None:
        self.settings = settings
        self.spider = None
        self.stats = None


def ordered_paths(pipelines: Mapping[str, int | None]) -> list[str]:
    """Dotted paths sorted by priority (ties by path, for a stable order), ``None`` entries left out."""
    enabled = [(priority, path) for path, priority in pipelines.items() if priority is not None]
    return [path for _priority, path in sorted(enabled)]


def scrapy_settings(settings: Settings) -> ScrapySettings:
    """The Scrapy settings our pipelines read, from fundcrawl's settings."""
    return ScrapySettings(
        {
            "FUNDCRAWL_DATABASE_URL": settings.database,
            "FUNDCRAWL_DATA_DIR": str(settings.data_dir),
            "ITEM_PIPELINES": {path: p for path, p in settings.pipelines.items() if p is not None},
        }
    )


class PipelineRunner:
    """Open pipelines, run items through them one at a time, close them."""

    def __init__(self, pipelines: Sequence[Any]) -> None:
        self.pipelines = list(pipelines)
        self.is_open = False

    @classmethod
    def from_settings(cls, settings: Settings) -> PipelineRunner:
        """Build (and open) the pipelines named in ``settings.pipelines``."""
        return cls.from_mapping(settings.pipelines, scrapy_settings(settings))

    @classmethod
    def from_mapping(cls, pipelines: Mapping[str, int | None], settings: ScrapySettings) -> PipelineRunner:
        crawler = cast(Crawler, PipelineCrawler(settings))
        built = [build_from_crawler(load_object(path), crawler) for path in ordered_paths(pipelines)]
        runner = cls(built)
        runner.open()
        return runner

    def open(self) -> None:
        if self.is_open:
            return
        for pipeline in self.pipelines:
            if hasattr(pipeline, "open_spider"):
                pipeline.open_spider()
        self.is_open = True

    def close(self) -> None:
        if not self.is_open:
            return
        self.is_open = False
        for pipeline in reversed(self.pipelines):
            if hasattr(pipeline, "close_spider"):
                pipeline.close_spider()

    def run(self, item: Any) -> Outcome:
        """Pass ``item`` through every pipeline in order."""
        self.open()
        for pipeline in self.pipelines:
            try:
                item = pipeline.process_item(item)
            except DropItem as drop:
                return _dropped(pipeline, drop, item)
        return Outcome("stored", item=item)

    def run_many(self, items: Sequence[Any]) -> list[Outcome]:
        """Pass each of ``items`` through every pipeline in order, a pipeline at a time for the whole batch; the
        outcome of each, as :meth:`run` gives it."""
        self.open()
        outcomes: dict[int, Outcome] = {}
        live = list(enumerate(items))
        for pipeline in self.pipelines:
            if not live:
                break
            batch = getattr(pipeline, "process_items", None)
            results = batch([item for _index, item in live]) if batch else [_one(pipeline, item) for _i, item in live]
            passed = []
            for (index, item), result in zip(live, results, strict=True):
                if isinstance(result, DropItem):
                    outcomes[index] = _dropped(pipeline, result, item)
                else:
                    passed.append((index, result))
            live = passed
        for index, item in live:
            outcomes[index] = Outcome("stored", item=item)
        return [outcomes[index] for index in range(len(items))]

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _one(pipeline: Any, item: Any) -> Any:
    """The item ``pipeline`` passes on, or the ``DropItem`` it raised."""
    try:
        return pipeline.process_item(item)
    except DropItem as drop:
        return drop


def _dropped(pipeline: Any, drop: DropItem, item: Any) -> Outcome:
    metrics.count_dropped(type(pipeline).__name__)
    reason = str(drop) or type(drop).__name__
    if isinstance(drop, NothingToStore):
        return Outcome("already_stored", reason, item)
    log.info("item dropped by %s: %s", type(pipeline).__name__, reason)
    return Outcome("dropped", reason, item)
