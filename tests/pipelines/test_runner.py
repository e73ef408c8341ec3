"""Our pipeline runner: Scrapy's ordering rules, open/close, and what it catches."""

from __future__ import annotations

import logging

import pytest
from scrapy.settings import Settings as ScrapySettings

from pipelines.runner import PipelineRunner, ordered_paths
from tests.pipelines import recorders

R = "tests.pipelines.recorders."


@pytest.fixture(autouse=True)
def _clear_events() -> None:
    recorders.EVENTS.clear()


def runner(mapping: dict[str, int | None]) -> PipelineRunner:
    return PipelineRunner.from_mapping(mapping, ScrapySettings({"FUNDCRAWL_DATABASE_URL": "sqlite:///x"}))


def test_lower_priority_runs_first_and_none_disables() -> None:
    mapping: dict[str, int | None] = {
        R + "Third": 300,
        R + "First": 10,
        R + "Second": 200,
        R + "Dropper": None,
    }
    assert ordered_paths(mapping) == [R + "First", R + "Second", R + "Third"]

    with runner(mapping) as pipelines:
        outcome = pipelines.run({})

    assert outcome.stored and outcome.item["seen"] == ["first", "second", "third"]
    assert recorders.EVENTS == [
        "build first",
        "build second",
        "build third",
        "open first",
        "open second",
        "open third",
        "close third",
        "close second",
        "close first",
    ]


def test_pipelines_are_built_through_from_crawler_with_real_scrapy_settings() -> None:
    pipelines = runner({R + "First": 1})
    assert pipelines.pipelines[0].setting == "sqlite:///x"
    pipelines.close()


def test_a_drop_stops_the_chain_and_is_reported() -> None:
    with runner({R + "First": 1, R + "Dropper": 2, R + "Second": 3}) as pipelines:
        dropped = pipelines.run({"drop": True})
        passed = pipelines.run({})

    assert dropped.dropped and dropped.reason == "asked to drop" and dropped.item["seen"] == ["first"]
    assert passed.stored and passed.item["seen"] == ["first", "dropper", "second"]


def test_a_drop_with_nothing_to_store_stops_the_chain_without_failing(caplog: pytest.LogCaptureFixture) -> None:
    with (runner({R + "First": 1, R + "Done": 2, R + "Second": 3}) as pipelines,
          caplog.at_level(logging.INFO, logger="pipelines.runner")):
        outcome = pipelines.run({})

    assert outcome.status == "already_stored" and outcome.reason == "already there"
    assert outcome.item["seen"] == ["first"]
    assert not [r for r in caplog.records if r.name == "pipelines.runner"]


def test_anything_but_a_drop_propagates() -> None:
    with runner({R + "Broken": 1}) as pipelines, pytest.raises(KeyError, match="a bug"):
        pipelines.run({})


def test_a_batch_goes_through_each_pipeline_as_one_item_would() -> None:
    """run_many: a pipeline with process_items takes the batch at once, the others item by item; a drop anywhere
    ends that item's chain only, and every item's outcome comes back in order."""
    mapping: dict[str, int | None] = {R + "First": 1, R + "Dropper": 2, R + "Batcher": 3, R + "Done": None,
                                      R + "Second": 4}
    items = [{}, {"drop": True}, {"batch_drop": True}, {}]
    with runner(mapping) as pipelines:
        outcomes = pipelines.run_many(items)
        one_by_one = [pipelines.run(item) for item in [{}, {"drop": True}, {}]]
        nothing = pipelines.run_many([])

    assert [outcome.status for outcome in outcomes] == ["stored", "dropped", "dropped", "stored"]
    assert [outcome.reason for outcome in outcomes] == ["", "asked to drop", "dropped in a batch", ""]
    assert outcomes[0].item["seen"] == one_by_one[0].item["seen"] == ["first", "dropper", "batcher", "second"]
    assert outcomes[1].item["seen"] == one_by_one[1].item["seen"] == ["first"]
    assert outcomes[2].item["seen"] == ["first", "dropper"]
    assert "batch of 3" in recorders.EVENTS  # the item dropped before it never reached the batch
    assert nothing == []
