"""Every fault the replica can inject, seen from a plain HTTP client."""

from __future__ import annotations

import gzip
import hashlib
import json
import threading
import zlib
from collections.abc import Iterator
from urllib.parse import parse_qs

import httpx
import pytest

from tests.constants import SEARCH_PATH, VIEW_PATH
from tests.replica import Replica
from tests.replica.bodies import GB18030_ONLY
from tests.replica_tests.conftest import aodata, search


@pytest.fixture(scope="module")
def replica() -> Iterator[Replica]:
    with Replica(generate=40, seed=11) as replica:
        replica.set_config(stall_seconds=2.0, huge_body_bytes=3_000_000, bomb_decoded_bytes=16_000_000)
        yield replica


@pytest.fixture(autouse=True)
def _clean(replica: Replica) -> Iterator[None]:
    yield
    replica.clear_faults()


def _page_url(http: httpx.Client, upload_info_id: int) -> str:
    return http.get(VIEW_PATH, params={"instanceid": upload_info_id}).headers["location"]


def _ids(http: httpx.Client) -> list[int]:
    return [row["uploadInfoId"] for row in search(http, reportTypeCode="FB030010")["aaData"]]


def _fail_first(replica: Replica, kind: str) -> None:
    replica.set_faults(1.0, [kind], paths=["page"], max_failures=1, seed=3)


@pytest.mark.parametrize("kind,status", [("http_500", 500), ("http_502", 502), ("http_503", 503)])
def test_5xx_fails_the_first_attempt_then_the_page_comes(replica: Replica, http: httpx.Client, kind: str,
                                                         status: int) -> None:
    url = _page_url(http, _ids(http)[0])
    _fail_first(replica, kind)
    assert http.get(url).status_code == status
    second = http.get(url)
    assert second.status_code == 200 and "<title>XBRL</title>" in second.text


def test_429_carries_retry_after(replica: Replica, http: httpx.Client) -> None:
    url = _page_url(http, _ids(http)[1])
    _fail_first(replica, "http_429")
    first = http.get(url)
    assert first.status_code == 429 and first.headers["retry-after"] == "1"
    assert http.get(url).status_code == 200


def test_error_page_is_a_200_with_the_busy_message(replica: Replica, http: httpx.Client) -> None:
    url = _page_url(http, _ids(http)[2])
    _fail_first(replica, "error_page")
    first = http.get(url)
    assert first.status_code == 200 and "系统繁忙，请稍后再试" in first.text and "XBRL" not in first.text
    assert "<title>XBRL</title>" in http.get(url).text


def test_wrong_content_type(replica: Replica, http: httpx.Client) -> None:
    url = _page_url(http, _ids(http)[3])
    _fail_first(replica, "wrong_type")
    assert http.get(url).headers["content-type"] == "application/octet-stream"
    assert http.get(url).headers["content-type"] == "text/html; charset=utf-8"


def test_truncated_body_is_cut_short_of_its_content_length(replica: Replica, http: httpx.Client) -> None:
    url = _page_url(http, _ids(http)[4])
    _fail_first(replica, "truncate")
    with pytest.raises(httpx.RemoteProtocolError):
        http.get(url)
    assert http.get(url).status_code == 200


def test_reset_drops_the_connection(replica: Replica, http: httpx.Client) -> None:
    url = _page_url(http, _ids(http)[5])
    _fail_first(replica, "reset")
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError, httpx.ConnectError)):
        http.get(url)
    assert http.get(url).status_code == 200


def test_stall_times_out_one_client_without_blocking_another(replica: Replica, http: httpx.Client) -> None:
    url = _page_url(http, _ids(http)[6])
    _fail_first(replica, "stall")
    stalled: list[BaseException] = []

    def slow() -> None:
        with httpx.Client(timeout=httpx.Timeout(5, read=1.0), trust_env=False) as other:
            try:
                other.get(url)
            except httpx.ReadTimeout as error:
                stalled.append(error)

    thread = threading.Thread(target=slow)
    thread.start()
    served_meanwhile = [http.get(VIEW_PATH, params={"instanceid": i}).status_code for i in _ids(http)[:5]]
    still_stalled = thread.is_alive()
    thread.join()
    assert served_meanwhile == [302] * 5 and still_stalled and stalled
    assert http.get(url).status_code == 200


def test_search_faults_and_the_log_records_each_decision(replica: Replica, http: httpx.Client) -> None:
    replica.set_faults(1.0, ["http_503"], paths=["search"], max_failures=2, seed=1)
    replica.reset_log()
    params = {"aoData": aodata(reportTypeCode="FB030010", iDisplayStart=20)}
    statuses = [http.get(SEARCH_PATH, params=params).status_code for _ in range(3)]
    # Seed 1 plans one spoiled attempt for this URL (of 1..max_failures): the retry after it is served.
    assert statuses == [503, 200, 200]
    entries = [e for e in replica.log() if e["kind"] == "search"]
    assert [e["fault"] for e in entries] == ["http_503", None, None]
    assert [e["attempt"] for e in entries] == [1, 2, 3]


def test_mix_hits_about_its_rate_deterministically(replica: Replica, http: httpx.Client) -> None:
    ids = [r["upload_info_id"] for r in replica.catalogue()]
    replica.set_config(stall_seconds=0.05)

    def faulted() -> set[int]:
        replica.set_faults(0.2, paths=["redirect"], seed=5)
        replica.reset_log()
        for upload_info_id in ids:
            try:
                http.get(VIEW_PATH, params={"instanceid": upload_info_id})
            except httpx.TransportError:
                pass
        # Only this loop's redirect requests: a request an earlier test left stalled may still be logged now.
        asked = [parse_qs(e["query"]).get("instanceid", [""])[0] for e in replica.log()
                 if e["fault"] and e["path"] == VIEW_PATH]
        return {int(upload_info_id) for upload_info_id in asked if upload_info_id.isdigit()}

    try:
        first, again = faulted(), faulted()
    finally:
        replica.set_config(stall_seconds=2.0)
    assert 2 <= len(first) <= len(ids) // 2
    assert first == again


def _with_fault(replica: Replica, http: httpx.Client, fault: str) -> tuple[int, str]:
    upload_info_id = replica.publish(1, "FB030020", "2025")[0]
    replica.set_report_fault(upload_info_id, fault)
    return upload_info_id, http.get(VIEW_PATH, params={"instanceid": upload_info_id}).headers["location"]


@pytest.mark.parametrize("fault,status", [("not_found", 404), ("malformed", 200), ("always_503", 503)])
def test_permanent_page_faults_never_heal(replica: Replica, http: httpx.Client, fault: str, status: int) -> None:
    _, url = _with_fault(replica, http, fault)
    for _ in range(3):
        response = http.get(url)
        assert response.status_code == status and "<title>XBRL</title>" not in response.text


def test_huge_body_streams_its_announced_size(replica: Replica, http: httpx.Client) -> None:
    _, url = _with_fault(replica, http, "huge_body")
    response = http.get(url)
    assert response.headers["content-length"] == "3000000" and len(response.content) == 3_000_000


def test_endless_body_is_chunked_and_never_ends(replica: Replica, http: httpx.Client) -> None:
    _, url = _with_fault(replica, http, "endless_body")
    received = 0
    with http.stream("GET", url) as response:
        assert response.headers["transfer-encoding"] == "chunked"
        for chunk in response.iter_raw():
            received += len(chunk)
            if received > 5_000_000:
                break
    assert received > 5_000_000


@pytest.mark.parametrize("fault,layers", [("gzip_bomb", 1), ("gzip_gzip_bomb", 2)])
def test_gzip_bombs_are_small_on_the_wire_and_huge_decoded(replica: Replica, http: httpx.Client, fault: str,
                                                            layers: int) -> None:
    _, url = _with_fault(replica, http, fault)
    with http.stream("GET", url) as response:
        assert response.headers["content-encoding"] == ", ".join(["gzip"] * layers)
        wire = b"".join(response.iter_raw())
    assert len(wire) < 1_000_000
    data = wire
    for _ in range(layers - 1):
        data = gzip.decompress(data)
    decoded = zlib.decompressobj(31).decompress(data, 10_000_000)
    assert len(decoded) == 10_000_000 and decoded.startswith(b"<html>")


def test_deep_nesting_page_is_a_report_with_100k_nested_divs(replica: Replica, http: httpx.Client) -> None:
    _, url = _with_fault(replica, http, "deep_nesting")
    body = http.get(url).content
    assert b"<title>XBRL</title>" in body and b"<div>" * 100_000 in body


def test_gb2312_label_hides_gb18030_only_characters(replica: Replica, http: httpx.Client) -> None:
    upload_info_id, url = _with_fault(replica, http, "gb2312_mislabel")
    response = http.get(url)
    assert response.headers["content-type"] == "text/html; charset=gb2312"
    assert GB18030_ONLY in response.content.decode("gb18030")
    with pytest.raises(UnicodeDecodeError):
        response.content.decode("gb2312")
    oracle = replica.oracle([upload_info_id])[upload_info_id]
    assert oracle["state"] == "stored" and oracle["sha256"] == hashlib.sha256(response.content).hexdigest()
    utf8 = response.content.decode("gb18030").replace("charset=gb2312", "charset=utf-8", 1).encode()
    assert hashlib.sha256(utf8).hexdigest() in oracle["sha256_alternatives"]


@pytest.mark.parametrize("fault,prefix", [("redirect_other_host", "http://127.0.0.2:"),
                                          ("redirect_invalid_host", "http://example.invalid/"),
                                          ("redirect_file", "file:///etc/passwd")])
def test_redirects_off_host_or_scheme(replica: Replica, http: httpx.Client, fault: str, prefix: str) -> None:
    upload_info_id, location = _with_fault(replica, http, fault)
    assert location.startswith(prefix)
    assert replica.oracle([upload_info_id])[upload_info_id]["reason"] == "redirect_blocked"


def test_redirect_chain_takes_six_hops_to_the_page(replica: Replica, http: httpx.Client) -> None:
    _, location = _with_fault(replica, http, "redirect_chain")
    hops = 1
    while "instance_html_view" in location:
        location = http.get(location).headers["location"]
        hops += 1
    assert hops == 6 and http.get(location).status_code == 200


@pytest.mark.parametrize("fault,field,check", [
    ("listing_string_id", "uploadInfoId", lambda v: isinstance(v, str)),
    ("listing_traversal_id", "uploadInfoId", lambda v: isinstance(v, str) and "../" in v),
    ("listing_null_fund_code", "fundCode", lambda v: v is None),
    ("listing_sql_id", "uploadInfoId", lambda v: isinstance(v, str) and "DROP TABLE" in v),
    ("listing_long_id", "uploadInfoId", lambda v: isinstance(v, str) and len(v) == 10_000),
])
def test_listing_rows_with_wrong_types(replica: Replica, http: httpx.Client, fault: str, field: str,
                                       check: object) -> None:
    replica.publish(1, "FB030030", "2024", faults={fault: 1})
    rows = search(http, reportTypeCode="FB030030", reportYear="2024", iDisplayLength=1000)["aaData"]
    assert any(check(row[field]) for row in rows)  # type: ignore[operator]


def test_listing_nan_is_sent_as_a_bare_nan_token(replica: Replica, http: httpx.Client) -> None:
    replica.publish(1, "FB030040", "2024", faults={"listing_nan": 1})
    text = http.get(SEARCH_PATH, params={"aoData": aodata(reportTypeCode="FB030040", reportYear="2024")}).text
    assert '"fundId": NaN' in text
    assert json.loads(text)["iTotalRecords"] >= 1


def test_hostile_fund_names_are_listed_and_printed_verbatim(replica: Replica, http: httpx.Client) -> None:
    ids = replica.publish(2, "FB010010", "2024", faults={"name_sql": 1, "name_emoji": 1})
    rows = search(http, reportTypeCode="FB010010", reportYear="2024")["aaData"]
    names = {row["fundShortName"] for row in rows if row["uploadInfoId"] in ids}
    assert names == {"'; DROP TABLE reports; --", "🚀成长🌕优选"}
    page = http.get(VIEW_PATH, params={"instanceid": ids[0]}, follow_redirects=True).text
    assert any(name.replace("'", "'") in page for name in names)


def test_a_client_following_the_off_host_redirect_is_caught_by_the_canary(replica: Replica,
                                                                           http: httpx.Client) -> None:
    _, location = _with_fault(replica, http, "redirect_other_host")
    replica.reset_log()
    assert http.get(location).status_code == 403
    assert [entry["kind"] for entry in replica.log()] == ["canary"]
