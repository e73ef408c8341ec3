"""The search endpoint behaves as the real one does."""

from __future__ import annotations

import datetime as dt
import urllib.parse

import httpx

from tests.constants import SEARCH_PATH
from tests.replica import Replica
from tests.replica_tests.conftest import search

ROW_FIELDS = {"reportYear", "reportDesp", "uploadDate", "reportSendDate", "uploadInfoId", "fundId", "fundCode",
              "fundShortName", "fundSign", "organName", "classificationCode"}


def test_page_is_capped_at_20_rows_whatever_the_client_asks(http: httpx.Client) -> None:
    for length in (100, 1000):
        page = search(http, reportTypeCode="FB030010", reportYear="2025", iDisplayLength=length)
        assert page["iTotalRecords"] == page["iTotalDisplayRecords"] == 64  # 60 generated + 4 corpus
        assert len(page["aaData"]) == 20


def test_walking_the_offsets_returns_every_row_once_in_stable_order(http: httpx.Client) -> None:
    ids: list[int] = []
    for start in range(0, 64, 20):
        ids += [row["uploadInfoId"] for row in search(http, reportTypeCode="FB030010", iDisplayStart=start)["aaData"]]
    assert len(ids) == len(set(ids)) == 64
    assert search(http, reportTypeCode="FB030010", iDisplayStart=64)["aaData"] == []


def test_default_order_is_send_date_descending_with_unordered_ids(http: httpx.Client) -> None:
    rows = []
    for start in range(0, 64, 20):
        rows += search(http, reportTypeCode="FB030010", iDisplayStart=start)["aaData"]
    dates = [row["reportSendDate"] for row in rows]
    ids = [row["uploadInfoId"] for row in rows]
    assert dates == sorted(dates, reverse=True)
    assert ids != sorted(ids) and ids != sorted(ids, reverse=True)


def test_rows_have_exactly_the_site_fields_and_types(http: httpx.Client) -> None:
    row = search(http, reportTypeCode="FB010010", reportYear="2024")["aaData"][0]
    assert set(row) == ROW_FIELDS
    assert isinstance(row["uploadInfoId"], int) and isinstance(row["fundId"], int)
    assert 22_000_000 <= row["uploadInfoId"] < 24_000_000
    assert all(isinstance(row[name], str) for name in ROW_FIELDS - {"uploadInfoId", "fundId"})
    assert row["fundSign"] == "9010-1020" and row["classificationCode"] == ""
    dt.date.fromisoformat(row["reportSendDate"])
    assert len(row["fundCode"]) == 6


def test_type_code_filters_exactly_or_by_prefix(http: httpx.Client) -> None:
    assert search(http, reportTypeCode="FB010010", reportYear="2024")["iTotalRecords"] == 29
    quarters = search(http, reportTypeCode="FB030")["iTotalRecords"]
    assert quarters == 60 + 8
    assert search(http, reportTypeCode="FB030020", reportYear="2024")["iTotalRecords"] == 4


def test_empty_report_year_matches_any_year(http: httpx.Client) -> None:
    assert search(http, reportTypeCode="FA010070", reportYear="")["iTotalRecords"] == 1
    assert search(http, reportTypeCode="FB010010", reportYear="")["iTotalRecords"] == 29
    assert search(http, reportTypeCode="FB010010", reportYear="2023")["iTotalRecords"] == 0


def test_fund_code_and_fund_type_filters(http: httpx.Client) -> None:
    page = search(http, reportTypeCode="FB010010", reportYear="2024", fundCode="004393")
    assert page["iTotalRecords"] == 0
    page = search(http, reportTypeCode="FB010010", reportYear="2024", fundCode="013242")
    assert [row["fundCode"] for row in page["aaData"]] == ["013242"]
    reits = search(http, reportTypeCode="FB010010", reportYear="2024", fundType="6020-6084")
    assert {row["fundCode"] for row in reits["aaData"]} == {"180303", "180801", "508086", "508099"}


def test_date_filters_are_inclusive_on_the_send_date(http: httpx.Client) -> None:
    on_day = search(http, reportTypeCode="FB030", startUploadDate="2025-04-22", endUploadDate="2025-04-22")
    assert on_day["iTotalRecords"] > 0
    assert {row["reportSendDate"] for row in on_day["aaData"]} == {"2025-04-22"}
    after = search(http, reportTypeCode="FB030", startUploadDate="2025-04-23")["iTotalRecords"]
    until = search(http, reportTypeCode="FB030", endUploadDate="2025-04-22")["iTotalRecords"]
    assert after == 0 and until == search(http, reportTypeCode="FB030")["iTotalRecords"]


def test_chinese_values_work_raw_and_percent_encoded(http: httpx.Client) -> None:
    raw = search(http, reportTypeCode="FB010010", fundCompanyShortName="北信瑞丰")["iTotalRecords"]
    encoded = search(http, reportTypeCode="FB010010",
                     fundCompanyShortName=urllib.parse.quote("北信瑞丰"))["iTotalRecords"]
    assert raw == encoded == 6


def test_missing_or_bad_aodata_gets_the_html_system_error_page(replica: Replica, http: httpx.Client) -> None:
    for params in ({}, {"aoData": "not json"}, {"aoData": '{"name": "x"}'}):
        response = http.get(SEARCH_PATH, params=params)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html") and "system error" in response.text
    replica.set_config(error_status=500)
    try:
        assert http.get(SEARCH_PATH).status_code == 500
    finally:
        replica.set_config(error_status=200)


def test_shuffle_gives_a_fresh_order_on_every_call(replica: Replica, http: httpx.Client) -> None:
    replica.set_order("shuffle")
    try:
        pages = [[r["uploadInfoId"] for r in search(http, reportTypeCode="FB030010")["aaData"]] for _ in range(3)]
    finally:
        replica.set_order("stable")
    assert len({tuple(page) for page in pages}) == 3


def test_drift_inserts_rows_so_the_total_moves_mid_walk(corpus_dir: object) -> None:
    with Replica(generate=40, seed=2) as replica, httpx.Client(base_url=replica.url, trust_env=False) as http:
        replica.set_order("drift", inserts_per_call=2, max_inserts=5)
        totals = [search(http, reportTypeCode="FB030010", reportYear="2025", iDisplayStart=20 * i)["iTotalRecords"]
                  for i in range(5)]
        assert totals == [42, 44, 45, 45, 45]
        assert len(replica.catalogue()) == 45


def test_search_also_accepts_a_form_post(http: httpx.Client) -> None:
    from tests.replica_tests.conftest import aodata

    response = http.post(SEARCH_PATH, data={"aoData": aodata(reportTypeCode="FB010010", reportYear="2024")})
    assert response.json()["iTotalRecords"] == 29
