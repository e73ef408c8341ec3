"""Tiny pipelines that record what the runner does with them (used by test_runner.py)."""

from __future__ import annotations

from typing import Any

from scrapy.exceptions import DropItem

from pipelines.runner import NothingToStore

EVENTS: list[str] = []


class _Recorder:
    name = "?"

    def __init__(self, setting: str) -> None:
        self.setting = setting

    @classmethod
    def from_crawler(cls, crawler: Any) -> _Recorder:
        EVENTS.append(f"build {cls.name}")
        return cls(crawler.settings.get("FUNDCRAWL_DATABASE_URL"))

    def open_spider(self) -> None:
        EVENTS.append(f"open {self.name}")

    def close_spider(self) -> None:
        EVENTS.append(f"close {self.name}")

    def process_item(self, item: dict[str, Any]) -> dict[str, Any]:
        item.setdefault("seen", []).append(self.name)
        return item


class First(_Recorder):
    name = "first"


class Second(_Recorder):
    name = "second"


class Third(_Recorder):
    name = "third"


class Dropper(_Recorder):
    name = "dropper"

    def process_item(self, item: dict[str, Any]) -> dict[str, Any]:
        if item.get("drop"):
            raise DropItem("asked to drop")
        return super().process_item(item)


class Done(_Recorder):
    name = "done"

    def process_item(self, item: dict[str, Any]) -> dict[str, Any]:
        raise NothingToStore("already there")


class Broken(_Recorder):
    name = "broken"

    def process_item(self, item: dict[str, Any]) -> dict[str, Any]:
        raise KeyError("a bug, not a drop")


class Batcher(_Recorder):
    """Takes a batch at once (``process_items``): drops the items that ask for it, records the batch's size."""

    name = "batcher"

    def process_items(self, items: list[dict[str, Any]]) -> list[dict[str, Any] | DropItem]:
        EVENTS.append(f"batch of {len(items)}")
        return [DropItem("dropped in a batch") if item.get("batch_drop") else self.process_item(item)
                for item in items]
