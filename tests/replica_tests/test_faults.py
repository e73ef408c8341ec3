"""Every fault the replica can inject, seen from a plain HTTP client (reliability.md §3 (d) and (f))."""

from __future__ import annotations

import gzip
import hashlib
import json
import threading
import zlib
from collections.abc import Iterator

import httpx
import pytest

from tests.replica import Replica
from tests.replica.bodies import GB18030_ONLY
from tests.replica_tests.conftest import SEARCH, VIEW, aodata, search


@pytest.fixture(scope="module")
def site() -> Iterator[Replica]:
    with Replica(generate=40, seed=11) as replica:
        replica.set_config(stall_seconds=2.0, huge_body_bytes=3_000_000, bomb_decoded_bytes=16_000_000)
        yield replica


@pytest.fixture(autouse=True)
def _clean(site: Replica) -> Iterator[None]:
    yield
    site.clear_faults()


def _page_url(client: httpx.Client, upload_info_id: int) -> str:
    return client.get(VIEW, params={"instanceid": upload_info_id}).headers["location"]


def _ids(client: httpx.Client) -> list[int]:
    return [row["uploadInfoId"] for row in search(client, reportTypeCode="FB030010")["aaData"]]


def _fail_first(site: Replica, kind: str) -> None:
    site.set_faults(1.0, [kind], paths=["page"], max_failures=1, seed=3)


@pytest.mark.parametrize("kind,status", [("http_500", 500), ("http_502", 502), ("http_503", 503)])
def test_5xx_fails_the_first_attempt_then_the_page_comes(site: Replica, client: httpx.Client, kind: str,
                                                         status: int) -> None:
    url = _page_url(client, _ids(client)[0])
    _fail_first(site, kind)
    assert client.get(url).status_code == status
    second = client.get(url)
    assert second.status_code == 200 and "<title>XBRL</title>" in second.text


def test_429_carries_retry_after(site: Replica, client: httpx.Client) -> None:
    url = _page_url(client, _ids(client)[1])
    _fail_first(site, "http_429")
    first = client.get(url)
    assert first.status_code == 429 and first.headers["retry-after"] == "1"
    assert client.get(url).status_code == 200


def test_error_page_is_a_200_with_the_busy_message(site: Replica, client: httpx.Client) -> None:
    url = _page_url(client, _ids(client)[2])
    _fail_first(site, "error_page")
    first = client.get(url)
    assert first.status_code == 200 and "系统繁忙，请稍后再试" in first.text and "XBRL" not in first.text
    assert "<title>XBRL</title>" in client.get(url).text


def test_wrong_content_type(site: Replica, client: httpx.Client) -> None:
    url = _page_url(client, _ids(client)[3])
    _fail_first(site, "wrong_type")
    assert client.get(url).headers["content-type"] == "application/octet-stream"
    assert client.get(url).headers["content-type"] == "text/html; charset=utf-8"


def test_truncated_body_is_cut_short_of_its_content_length(site: Replica, client: httpx.Client) -> None:
    url = _page_url(client, _ids(client)[4])
    _fail_first(site, "truncate")
    with pytest.raises(httpx.RemoteProtocolError):
        client.get(url)
    assert client.get(url).status_code == 200


def test_reset_drops_the_connection(site: Replica, client: httpx.Client) -> None:
    url = _page_url(client, _ids(client)[5])
    _fail_first(site, "reset")
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError, httpx.ConnectError)):
        client.get(url)
    assert client.get(url).status_code == 200


def test_stall_times_out_one_client_without_blocking_another(site: Replica, client: httpx.Client) -> None:
    url = _page_url(client, _ids(client)[6])
    _fail_first(site, "stall")
    stalled: list[BaseException] = []

    def slow() -> None:
        with httpx.Client(timeout=httpx.Timeout(5, read=1.0), trust_env=False) as other:
            try:
                other.get(url)
            except httpx.ReadTimeout as error:
                stalled.append(error)

    thread = threading.Thread(target=slow)
    thread.start()
    served_meanwhile = [client.get(VIEW, params={"instanceid": i}).status_code for i in _ids(client)[:5]]
    still_stalled = thread.is_alive()
    thread.join()
    assert served_meanwhile == [302] * 5 and still_stalled and stalled
    assert client.get(url).status_code == 200


def test_search_faults_and_the_log_records_each_decision(site: Replica, client: httpx.Client) -> None:
    site.set_faults(1.0, ["http_503"], paths=["search"], max_failures=2, seed=1)
    site.reset_log()
    params = {"aoData": aodata(reportTypeCode="FB030010", iDisplayStart=20)}
    statuses = [client.get(SEARCH, params=params).status_code for _ in range(3)]
    assert statuses == [503, 503, 200] or statuses[:1] + statuses[-1:] == [503, 200]
    entries = [e for e in site.log() if e["kind"] == "search"]
    assert [e["fault"] for e in entries][-1] is None and entries[0]["fault"] == "http_503"
    assert [e["attempt"] for e in entries] == [1, 2, 3]


def test_mix_hits_about_its_rate_deterministically(site: Replica, client: httpx.Client) -> None:
    ids = [r["upload_info_id"] for r in site.catalogue()]
    site.set_config(stall_seconds=0.05)

    def faulted() -> set[int]:
        site.set_faults(0.2, paths=["redirect"], seed=5)
        site.reset_log()
        for upload_info_id in ids:
            try:
                client.get(VIEW, params={"instanceid": upload_info_id})
            except httpx.TransportError:
                pass
        return {int(e["query"].split("=")[1]) for e in site.log() if e["fault"]}

    try:
        first, again = faulted(), faulted()
    finally:
        site.set_config(stall_seconds=2.0)
    assert 2 <= len(first) <= len(ids) // 2
    assert first == again


def _with_fault(site: Replica, client: httpx.Client, fault: str) -> tuple[int, str]:
    upload_info_id = site.publish(1, "FB030020", "2025")[0]
    site.set_report_fault(upload_info_id, fault)
    return upload_info_id, client.get(VIEW, params={"instanceid": upload_info_id}).headers["location"]


@pytest.mark.parametrize("fault,status", [("not_found", 404), ("malformed", 200), ("always_503", 503)])
def test_permanent_page_faults_never_heal(site: Replica, client: httpx.Client, fault: str, status: int) -> None:
    _, url = _with_fault(site, client, fault)
    for _ in range(3):
        response = client.get(url)
        assert response.status_code == status and "<title>XBRL</title>" not in response.text


def test_huge_body_streams_its_announced_size(site: Replica, client: httpx.Client) -> None:
    _, url = _with_fault(site, client, "huge_body")
    response = client.get(url)
    assert response.headers["content-length"] == "3000000" and len(response.content) == 3_000_000


def test_endless_body_is_chunked_and_never_ends(site: Replica, client: httpx.Client) -> None:
    _, url = _with_fault(site, client, "endless_body")
    received = 0
    with client.stream("GET", url) as response:
        assert response.headers["transfer-encoding"] == "chunked"
        for chunk in response.iter_raw():
            received += len(chunk)
            if received > 5_000_000:
                break
    assert received > 5_000_000


@pytest.mark.parametrize("fault,layers", [("gzip_bomb", 1), ("gzip_gzip_bomb", 2)])
def test_gzip_bombs_are_small_on_the_wire_and_huge_decoded(site: Replica, client: httpx.Client, fault: str,
                                                            layers: int) -> None:
    _, url = _with_fault(site, client, fault)
    with client.stream("GET", url) as response:
        assert response.headers["content-encoding"] == ", ".join(["gzip"] * layers)
        wire = b"".join(response.iter_raw())
    assert len(wire) < 1_000_000
    data = wire
    for _ in range(layers - 1):
        data = gzip.decompress(data)
    decoded = zlib.decompressobj(31).decompress(data, 10_000_000)
    assert len(decoded) == 10_000_000 and decoded.startswith(b"<html>")


def test_deep_nesting_page_is_a_report_with_100k_nested_divs(site: Replica, client: httpx.Client) -> None:
    _, url = _with_fault(site, client, "deep_nesting")
    body = client.get(url).content
    assert b"<title>XBRL</title>" in body and b"<div>" * 100_000 in body


def test_gb2312_label_hides_gb18030_only_characters(site: Replica, client: httpx.Client) -> None:
    upload_info_id, url = _with_fault(site, client, "gb2312_mislabel")
    response = client.get(url)
    assert response.headers["content-type"] == "text/html; charset=gb2312"
    assert GB18030_ONLY in response.content.decode("gb18030")
    with pytest.raises(UnicodeDecodeError):
        response.content.decode("gb2312")
    oracle = site.oracle([upload_info_id])[upload_info_id]
    assert oracle["state"] == "stored" and oracle["sha256"] == hashlib.sha256(response.content).hexdigest()
    utf8 = response.content.decode("gb18030").replace("charset=gb2312", "charset=utf-8", 1).encode()
    assert hashlib.sha256(utf8).hexdigest() in oracle["sha256_alternatives"]


@pytest.mark.parametrize("fault,prefix", [("redirect_other_host", "http://127.0.0.2:"),
                                          ("redirect_invalid_host", "http://example.invalid/"),
                                          ("redirect_file", "file:///etc/passwd")])
def test_redirects_off_host_or_scheme(site: Replica, client: httpx.Client, fault: str, prefix: str) -> None:
    upload_info_id, location = _with_fault(site, client, fault)
    assert location.startswith(prefix)
    assert site.oracle([upload_info_id])[upload_info_id]["reason"] == "redirect_blocked"


def test_redirect_chain_takes_six_hops_to_the_page(site: Replica, client: httpx.Client) -> None:
    _, location = _with_fault(site, client, "redirect_chain")
    hops = 1
    while "instance_html_view" in location:
        location = client.get(location).headers["location"]
        hops += 1
    assert hops == 6 and client.get(location).status_code == 200


@pytest.mark.parametrize("fault,field,check", [
    ("listing_string_id", "uploadInfoId", lambda v: isinstance(v, str)),
    ("listing_traversal_id", "uploadInfoId", lambda v: isinstance(v, str) and "../" in v),
    ("listing_null_fund_code", "fundCode", lambda v: v is None),
    ("listing_sql_id", "uploadInfoId", lambda v: isinstance(v, str) and "DROP TABLE" in v),
    ("listing_long_id", "uploadInfoId", lambda v: isinstance(v, str) and len(v) == 10_000),
])
def test_listing_rows_with_wrong_types(site: Replica, client: httpx.Client, fault: str, field: str,
                                       check: object) -> None:
    site.publish(1, "FB030030", "2024", faults={fault: 1})
    rows = search(client, reportTypeCode="FB030030", reportYear="2024", iDisplayLength=1000)["aaData"]
    assert any(check(row[field]) for row in rows)  # type: ignore[operator]


def test_listing_nan_is_sent_as_a_bare_nan_token(site: Replica, client: httpx.Client) -> None:
    site.publish(1, "FB030040", "2024", faults={"listing_nan": 1})
    text = client.get(SEARCH, params={"aoData": aodata(reportTypeCode="FB030040", reportYear="2024")}).text
    assert '"fundId": NaN' in text
    assert json.loads(text)["iTotalRecords"] >= 1


def test_hostile_fund_names_are_listed_and_printed_verbatim(site: Replica, client: httpx.Client) -> None:
    ids = site.publish(2, "FB010010", "2024", faults={"name_sql": 1, "name_emoji": 1})
    rows = search(client, reportTypeCode="FB010010", reportYear="2024")["aaData"]
    names = {row["fundShortName"] for row in rows if row["uploadInfoId"] in ids}
    assert names == {"'; DROP TABLE reports; --", "🚀成长🌕优选"}
    page = client.get(VIEW, params={"instanceid": ids[0]}, follow_redirects=True).text
    assert any(name.replace("'", "'") in page for name in names)


def test_a_client_following_the_off_host_redirect_is_caught_by_the_canary(site: Replica,
                                                                           client: httpx.Client) -> None:
    _, location = _with_fault(site, client, "redirect_other_host")
    site.reset_log()
    assert client.get(location).status_code == 403
    assert [entry["kind"] for entry in site.log()] == ["canary"]
