"""EidClient against the project's site replica and its fault switches (tests/replica).

Each per-report fault must end the way the replica's oracle says: transient faults fail the first attempt
with a retryable error and the next attempt gets the exact page; permanent ones raise the error whose
``reason`` is the oracle's.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from crawler.exceptions import ListingSchemaError, PermanentError, RateLimitedError, SourceError
from crawler.sources import EidClient
from tests.constants import PARTITION, USER_AGENT
from tests.replica import Replica

CAP = 4 * 1024 * 1024


@pytest.fixture(scope="module")
def replica() -> Iterator[Replica]:
    with Replica(generate=45, seed=7) as site:
        site.set_config(bomb_decoded_bytes=4 * CAP, huge_body_bytes=2 * CAP, stall_seconds=1.0)
        yield site


@pytest.fixture
def client(replica: Replica) -> Iterator[EidClient]:
    with EidClient(replica.url, USER_AGENT, read_timeout=0.5, max_bytes=CAP) as client:
        yield client


def test_walking_a_partition_finds_every_listed_report(replica: Replica, client: EidClient) -> None:
    first = client.search(*PARTITION, 0)
    seen = {row.uploadInfoId for row in first.aaData}
    for start in range(20, first.iTotalRecords, 20):
        page = client.search(*PARTITION, start)
        assert len(page.aaData) <= 20
        seen |= {row.uploadInfoId for row in page.aaData}
    listed = {entry["upload_info_id"] for entry in replica.catalogue() if
              (entry["report_type_code"], entry["report_year"]) == PARTITION}
    assert seen == listed


def test_a_report_page_matches_the_oracle(replica: Replica, client: EidClient) -> None:
    (upload_id,) = replica.publish(1, *PARTITION)
    page = client.fetch_report(upload_id)
    assert page.sha256 == replica.oracle([upload_id])[upload_id]["sha256"]


@pytest.mark.parametrize(
    "fault", ["http_500", "http_503", "http_429", "stall", "truncate", "wrong_type", "error_page", "reset"]
)
def test_transient_fault_is_retryable_then_the_exact_page_arrives(replica: Replica, client: EidClient,
                                                                  fault: str) -> None:
    (upload_id,) = replica.publish(1, *PARTITION)
    replica.set_report_fault(upload_id, fault, attempts=1)
    with pytest.raises(SourceError) as caught:
        client.fetch_report(upload_id)
    assert isinstance(caught.value, RateLimitedError) == (fault == "http_429")
    page = client.fetch_report(upload_id)
    assert page.sha256 == replica.oracle([upload_id])[upload_id]["sha256"]


@pytest.mark.parametrize(
    "fault",
    ["not_found", "malformed", "huge_body", "endless_body", "gzip_bomb", "gzip_gzip_bomb", "redirect_other_host",
     "redirect_invalid_host", "redirect_file", "redirect_chain"],
)
def test_permanent_fault_ends_with_the_oracle_reason(replica: Replica, client: EidClient, fault: str) -> None:
    (upload_id,) = replica.publish(1, *PARTITION, faults={fault: 1})
    with pytest.raises(PermanentError) as caught:
        client.fetch_report(upload_id)
    assert caught.value.reason == replica.oracle([upload_id])[upload_id]["reason"]


def test_always_503_stays_transient(replica: Replica, client: EidClient) -> None:
    (upload_id,) = replica.publish(1, *PARTITION, faults={"always_503": 1})
    for _ in range(2):
        with pytest.raises(SourceError):
            client.fetch_report(upload_id)


def test_deep_nesting_page_is_fetched_exactly(replica: Replica, client: EidClient) -> None:
    (upload_id,) = replica.publish(1, *PARTITION, faults={"deep_nesting": 1})
    page = client.fetch_report(upload_id)
    assert page.sha256 == replica.oracle([upload_id])[upload_id]["sha256"]


@pytest.mark.parametrize("fault", ["listing_string_id", "listing_null_fund_code", "listing_nan"])
def test_hostile_listing_row_is_refused(fault: str) -> None:
    with Replica(generate=3, seed=1) as site, EidClient(site.url, USER_AGENT) as client:
        site.publish(1, *PARTITION, faults={fault: 1})
        with pytest.raises(ListingSchemaError):
            client.search(*PARTITION, 0)


def test_gb2312_labelled_page_arrives_as_the_same_text_in_utf8(replica: Replica, client: EidClient) -> None:
    """The replica's oracle hashes the GB18030 bytes it served; we hand on their UTF-8 transcoding."""
    (upload_id,) = replica.publish(1, *PARTITION, faults={"gb2312_mislabel": 1})
    page = client.fetch_report(upload_id)
    served = httpx.get(page.final_url, trust_env=False).content
    assert page.body.decode("utf-8") == served.decode("gb18030").replace("charset=gb2312", "charset=utf-8", 1)


@pytest.mark.parametrize("where", ["search", "page"])
def test_trickled_headers_end_at_the_request_deadline_then_the_exact_answer_arrives(
        replica: Replica, where: str) -> None:
    """One header line every 0.2 s never trips the 1 s read timeout; the 1.5 s deadline on the whole request does."""
    replica.set_config(trickle_interval=0.2)
    (upload_id,) = replica.publish(1, *PARTITION)
    position = replica.log_position()
    if where == "page":
        replica.set_report_fault(upload_id, "trickle_headers", attempts=1)
    else:
        replica.set_faults(1.0, ["trickle_headers"], paths=["search"], max_failures=1, seed=5)
    with EidClient(replica.url, USER_AGENT, read_timeout=1.0, deadline=1.5, max_bytes=CAP) as client:
        with pytest.raises(SourceError, match="request deadline of 1.5 s passed"):
            client.search(*PARTITION, 0) if where == "search" else client.fetch_report(upload_id)
        replica.clear_faults()  # each search is a new URL (its sEcho counts up): the mix would spoil it too
        if where == "page":
            assert client.fetch_report(upload_id).sha256 == replica.oracle([upload_id])[upload_id]["sha256"]
        else:
            assert len(client.search(*PARTITION, 0).aaData) == 20
    trickled = [entry for entry in replica.log(position) if entry.get("fault") == "trickle_headers"]
    assert len(trickled) == 1
