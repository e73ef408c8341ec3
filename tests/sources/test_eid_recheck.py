"""Re-checking a stored report's page with a conditional GET, against the replica and its corrections."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest

from crawler.sources import EidClient
from tests.constants import PARTITION, USER_AGENT
from tests.replica import Replica


@pytest.fixture
def replica() -> Iterator[Replica]:
    with Replica(generate=3, seed=11) as site:
        yield site


@pytest.fixture
def client(replica: Replica) -> Iterator[EidClient]:
    with EidClient(replica.url, USER_AGENT) as client:
        yield client


def test_an_unchanged_page_costs_one_request_and_a_304(replica: Replica, client: EidClient) -> None:
    (upload_id,) = replica.publish(1, *PARTITION)
    page = client.fetch_report(upload_id)
    assert page.etag and page.last_modified
    position = replica.log_position()

    recheck = client.recheck_report(upload_id, page.final_url, etag=page.etag, last_modified=page.last_modified)

    assert recheck.not_modified and recheck.page is None and recheck.requests == 1
    assert [entry["status"] for entry in replica.log(position)] == [304]


def test_a_page_corrected_in_place_comes_back_with_its_new_bytes(replica: Replica, client: EidClient) -> None:
    (upload_id,) = replica.publish(1, *PARTITION)
    page = client.fetch_report(upload_id)

    assert replica.correct(upload_id, "in_place") == upload_id
    recheck = client.recheck_report(upload_id, page.final_url, etag=page.etag, last_modified=page.last_modified)

    assert recheck.page is not None and recheck.requests == 1
    new_sha = hashlib.sha256(recheck.page.body).hexdigest()
    assert new_sha != page.sha256 and new_sha == replica.oracle([upload_id])[upload_id]["sha256"]
    assert recheck.page.etag != page.etag


def test_without_validators_or_when_the_site_ignores_them_the_page_is_fetched(replica: Replica,
                                                                               client: EidClient) -> None:
    (upload_id,) = replica.publish(1, *PARTITION)
    page = client.fetch_report(upload_id)
    replica.set_config(conditional_requests=False)

    recheck = client.recheck_report(upload_id, page.final_url, etag=page.etag, last_modified=page.last_modified)

    assert recheck.page is not None and recheck.page.body == page.body and recheck.requests == 1
    assert client.recheck_report(upload_id, "").requests == 2  # no stored URL: through the redirect


def test_a_new_id_correction_is_listed_for_the_same_slot_and_sent_later(replica: Replica) -> None:
    (upload_id,) = replica.publish(1, *PARTITION)
    corrected = replica.correct(upload_id, "new_id", days_later=3)

    original, new = (replica.catalogue([i])[0] for i in (upload_id, corrected))
    assert corrected > upload_id
    assert (new["fund_code"], new["report_type_code"], new["report_year"]) == (
        original["fund_code"], original["report_type_code"], original["report_year"])
    assert new["send_date"] > original["send_date"]
    assert replica.oracle([corrected])[corrected]["sha256"] != replica.oracle([upload_id])[upload_id]["sha256"]
