"""The validate, dedupe and store pipelines, driven by our runner from fundcrawl settings, on both engines."""

from __future__ import annotations

import math
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from scrapy.exceptions import DropItem

from crawler.exceptions import SchemaError
from crawler.parsing import PARSER_VERSION, parse_report
from crawler.settings import Settings
from crawler.storage import Store
from pipelines.dedupe import AlreadyStored, DedupePipeline
from pipelines.runner import PipelineRunner
from pipelines.store import StorePipeline
from pipelines.validate import ValidatePipeline
from tests.parsing import pages
from tests.parsing.test_degradation import BANNER, BASIC
from tests.storage.helpers import BAD_VALUES, document, holding, item, ref, row_counts


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=db_url, data_dir=tmp_path)


@pytest.fixture
def store(db_url: str) -> Store:
    return Store.from_url(db_url)


def test_a_report_goes_through_validate_dedupe_store(settings: Settings, store: Store) -> None:
    store.add_discovered([ref(1)])
    with PipelineRunner.from_settings(settings) as runner:
        outcome = runner.run(item(1, listing=store.listing(1) or {}))

    assert outcome.stored
    assert store.state(1)["state"] == "stored"
    assert store.document(1) == document()


def test_a_redelivered_report_writes_nothing(settings: Settings, store: Store) -> None:
    store.add_discovered([ref(1)])
    with PipelineRunner.from_settings(settings) as runner:
        runner.run(item(1))
        before, updated = row_counts(store), store.state(1)["updated_at"]
        again = runner.run(item(1))

    assert again.already_stored and "already stored" in again.reason
    assert row_counts(store) == before and store.state(1)["updated_at"] == updated


def test_a_new_page_or_parser_version_is_stored_again(settings: Settings, store: Store) -> None:
    store.add_discovered([ref(1)])
    with PipelineRunner.from_settings(settings) as runner:
        runner.run(item(1))
        assert runner.run(item(1, sha="c" * 64)).stored
        assert runner.run(item(1, sha="c" * 64, version="9.9.9")).stored

    state = store.state(1)
    assert (state["page_sha256"], state["parser_version"]) == ("c" * 64, "9.9.9")


def test_failed_checks_flag_the_report_but_keep_it(settings: Settings, store: Store) -> None:
    store.add_discovered([ref(1)])
    seen: list[Any] = []

    def run_checks(doc: dict[str, Any], listing: dict[str, Any] | None) -> dict[str, str | None]:
        seen.append(listing)
        return {"assets_add_up": None, "send_date_matches_listing": "cover says 2025-04-20"}

    with PipelineRunner.from_settings(settings) as runner:
        runner.pipelines[0].run_checks = run_checks
        outcome = runner.run(item(1, listing=store.listing(1) or {}))

    assert outcome.stored
    assert seen[0]["send_date"] == "2025-04-21"
    assert store.state(1)["check_failures"] == 1


@pytest.mark.parametrize(("doc", "why"), [({}, "no document"), ({"fund_name": "x"}, "no fund code")])
def test_validate_drops_only_what_is_not_a_report(doc: dict[str, Any], why: str) -> None:
    pipeline = ValidatePipeline()
    pipeline.open_spider()
    report = item(1)
    report.document = doc
    with pytest.raises(DropItem, match=why):
        pipeline.process_item(report)
    with pytest.raises(DropItem, match="not a report item"):
        pipeline.process_item({"fund_code": "000001"})


@pytest.mark.parametrize(("changes", "problem"), [
    *BAD_VALUES,
    ({"nav_per_unit": {"total": math.nan}}, "document.nav_per_unit.total: nan is not a finite number"),
    ({"top_stocks": [holding(pct_of_nav=Decimal("1.5"))]},
     r"document.top_stocks\[0\].pct_of_nav: Decimal where float was expected"),
])
def test_validate_drops_a_document_with_a_wrong_value_and_names_it(changes: dict[str, Any], problem: str) -> None:
    pipeline = ValidatePipeline()
    pipeline.open_spider()

    with pytest.raises(DropItem, match=f"report 1 does not fit fundcrawl.report/1: {problem}"):
        pipeline.process_item(item(1, document=document(**changes)))


def test_validate_names_a_few_wrong_values_and_counts_the_rest() -> None:
    pipeline = ValidatePipeline()
    pipeline.open_spider()
    stocks = [holding(rank=str(n)) for n in range(8)]

    with pytest.raises(DropItem, match=r"top_stocks\[4\].rank: str where int was expected \(and 3 more\)$"):
        pipeline.process_item(item(1, document=document(top_stocks=stocks)))


def test_dedupe_raises_already_stored_a_drop_item(db_url: str, store: Store) -> None:
    store.add_discovered([ref(1)])
    store.save_report(item(1), "x")
    pipeline = DedupePipeline(db_url)
    pipeline.open_spider()

    with pytest.raises(AlreadyStored) as raised:
        pipeline.process_item(item(1))
    assert isinstance(raised.value, DropItem)
    assert pipeline.process_item(item(2)).upload_info_id == 2


def test_store_drops_a_report_that_is_marked_failed(db_url: str, store: Store) -> None:
    store.add_discovered([ref(1)])
    store.mark_failed(1, reason="http_404", error="404")
    pipeline = StorePipeline(db_url)
    pipeline.open_spider()

    with pytest.raises(DropItem, match="marked failed"):
        pipeline.process_item(item(1))
    assert store.document(1) is None


def test_store_without_validation_drops_a_document_with_a_wrong_value_and_names_it(
        db_url: str, store: Store) -> None:
    store.add_discovered([ref(1)])
    pipeline = StorePipeline(db_url)
    pipeline.open_spider()

    with pytest.raises(DropItem, match=r"report 1: .* document.fund_name: int where str was expected"):
        pipeline.process_item(item(1, document=document(fund_name=5)))
    assert store.document(1) is None and store.state(1)["state"] == "pending"


def test_store_records_the_archive_path(db_url: str, store: Store) -> None:
    pipeline = StorePipeline(db_url)
    pipeline.open_spider()
    pipeline.process_item(item(1, sha="d" * 64))
    pipeline.process_item(item(2, sha="e" * 64, archive_path="/data/archive/ee/ee/e.html"))

    assert store.state(1)["archive_path"] == f"dd/dd/{'d' * 64}.html"
    assert store.state(2)["archive_path"] == "/data/archive/ee/ee/e.html"


def test_store_refuses_a_database_without_the_schema(engine_url: str) -> None:
    with pytest.raises(SchemaError, match="fundcrawl db upgrade"):
        StorePipeline(engine_url).open_spider()


def test_a_section_the_parser_could_not_read_is_a_parse_flag_in_status(settings: Settings, store: Store) -> None:
    """The real parser, checks and store: a printed table in an unknown layout ends up under parse flags."""
    odd = pages.heading("期末基金份额持有人户数及持有人结构") + pages.table(["持有人", "数量"], [["机构", "100"]])
    parsed = parse_report(pages.page_with_banner(BANNER, BASIC, odd))
    store.add_discovered([ref(1)])
    report = item(1, document=parsed.document, version=PARSER_VERSION, section_errors=parsed.section_errors)
    with PipelineRunner.from_settings(settings) as runner:
        assert runner.run(report).stored

    assert store.state(1)["check_failures"] == 1
    flags = store.health.parse_flag_summary()
    assert flags["flagged"] == [{"upload_info_id": 1, "failed_checks": ["sections_read"]}]
    assert store.document(1)["unread_sections"] == {"期末基金份额持有人户数及持有人结构": "holders: no known column"}
