"""EidClient.search: the aoData the server receives, and strict validation of what comes back."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from crawler.exceptions import ListingSchemaError, SourceError, TooLargeError
from crawler.sources.listing import SEARCH_PATH
from tests.sources.conftest import Site, SiteHandler

ROW = {
    "reportYear": "2026", "reportDesp": "第二季度报告", "uploadDate": "2026-07-20", "reportSendDate": "2026-07-21",
    "uploadInfoId": 23167526, "fundId": 7, "fundCode": "510050", "fundShortName": "华夏上证50ETF",
    "fundSign": "9010-1020", "organName": "华夏", "classificationCode": "",
}


def listing(rows: list[dict] | None = None, total: int = 1) -> bytes:
    payload = {"iTotalRecords": total, "iTotalDisplayRecords": total, "sEcho": 1, "aaData": rows or [ROW]}
    return json.dumps(payload, ensure_ascii=False).encode()


def serve(site: Site, body: bytes, status: int = 200, content_type: str = "text/plain;charset=UTF-8") -> None:
    site.routes[SEARCH_PATH] = lambda h: h.reply(status, body, content_type=content_type)


def ao_data(site: Site) -> dict[str, object]:
    """The aoData list the server received, decoded as the site would, as name -> value."""
    (raw,) = site.hits[-1].query["aoData"]
    return {pair["name"]: pair["value"] for pair in json.loads(raw)}


def test_search_sends_the_datatables_query_the_site_expects(site: Site, make_client) -> None:
    serve(site, listing())
    make_client().search("FB030020", "2026", 40, fund_type="6020-6010", fund_code="510050",
                        send_from=dt.date(2026, 7, 14), send_to=dt.date(2026, 7, 21))
    sent = ao_data(site)
    assert sent["reportTypeCode"] == "FB030020"
    assert sent["reportYear"] == "2026"
    assert sent["iDisplayStart"] == 40
    assert sent["iDisplayLength"] == 20
    assert sent["fundType"] == "6020-6010"
    assert sent["fundCode"] == "510050"
    assert (sent["startUploadDate"], sent["endUploadDate"]) == ("2026-07-14", "2026-07-21")
    assert isinstance(sent["sEcho"], int) and sent["iColumns"] == 6
    assert list(site.hits[-1].query) == ["aoData"]


def test_search_without_filters_sends_empty_values(site: Site, make_client) -> None:
    serve(site, listing())
    make_client().search("FB010010", "2025", 0)
    sent = ao_data(site)
    assert (sent["fundType"], sent["fundCode"], sent["startUploadDate"], sent["endUploadDate"]) == ("", "", "", "")
    assert sent["iDisplayStart"] == 0


def test_valid_listing_is_returned_typed(site: Site, make_client) -> None:
    serve(site, listing(total=14023))
    page = make_client().search("FB030020", "2026", 0)
    assert page.iTotalRecords == 14023
    (row,) = page.aaData
    assert (row.uploadInfoId, row.fundCode, row.reportSendDate) == (23167526, "510050", dt.date(2026, 7, 21))


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (listing([{**ROW, "uploadInfoId": "23167526"}]), "uploadInfoId"),
        (listing([{**ROW, "fundCode": None}]), "fundCode"),
        (listing([{**ROW, "reportSendDate": 1753056000}]), "reportSendDate"),
        (listing([{k: v for k, v in ROW.items() if k != "reportSendDate"}]), "reportSendDate"),
        (b'{"iTotalRecords": 1, "iTotalDisplayRecords": 1, "sEcho": 1}', "aaData"),
        (b'{"iTotalRecords": "1", "aaData": []}', "iTotalRecords"),
        (b'{"iTotalRecords": NaN, "aaData": []}', "NaN"),
        (b'{"iTotalRecords": 1, "iTotalRecords": 2, "aaData": []}', "duplicate"),
        (b"[" * 100_000 + b"]" * 100_000, "strict JSON"),
        (b'{"iTotalRecords": 1' + b"0" * 5000 + b', "aaData": []}', "strict JSON"),
        (b"not json at all", "strict JSON"),
        (b"[]", "listing"),
    ],
    ids=["string-id", "null-fundCode", "numeric-date", "missing-field", "missing-aaData", "string-total", "NaN",
         "duplicate-key", "deep-nesting", "huge-int", "garbage", "array"],
)
def test_listing_with_wrong_shape_is_rejected_with_a_reason(site: Site, make_client, body: bytes,
                                                            reason: str) -> None:
    serve(site, body)
    with pytest.raises(ListingSchemaError, match=reason):
        make_client().search("FB030020", "2026", 0)


@pytest.mark.parametrize("status", [200, 500])
def test_html_system_error_page_is_transient(site: Site, make_client, status: int) -> None:
    serve(site, "<html><body>system error 系统错误</body></html>".encode(), status, "text/html")
    with pytest.raises(SourceError) as caught:
        make_client().search("FB030020", "2026", 0)
    assert not isinstance(caught.value, ListingSchemaError)


def test_bad_arguments_never_reach_the_site(site: Site, make_client) -> None:
    client = make_client()
    for kwargs in ({"fund_code": "../x"}, {"length": 21}, {"fund_type": "6020"}):
        with pytest.raises(ValueError):
            client.search("FB030020", "2026", 0, **kwargs)
    with pytest.raises(ValueError):
        client.search("FB030020", "26", 0)
    assert site.hits == []


def test_search_answer_over_the_size_cap_is_refused(site: Site, make_client) -> None:
    def big(h: SiteHandler) -> None:
        h.reply(200, listing([ROW] * 20_000))

    site.routes[SEARCH_PATH] = big
    with pytest.raises(TooLargeError):
        make_client(max_bytes=256 * 1024).search("FB030020", "2026", 0)
