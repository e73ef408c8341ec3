"""The HTML view redirect and the report pages."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from tests.constants import VIEW_PATH
from tests.replica import Replica
from tests.replica_tests.conftest import search

STEM = re.compile(r"^CN_(\d{8})_(\d{6})_(FB\d{6}|FA\d{6})_(\d{4})(\d{4})$")


def _row(http: httpx.Client, fund_code: str, code: str) -> dict:
    return search(http, reportTypeCode=code, fundCode=fund_code)["aaData"][0]


def test_view_redirects_to_the_absolute_page_url_under_the_filing_year(replica: Replica, http: httpx.Client) -> None:
    row = _row(http, "013242", "FB010010")
    response = http.get(VIEW_PATH, params={"instanceid": row["uploadInfoId"]})
    assert response.status_code == 302
    location = response.headers["location"]
    match = re.fullmatch(re.escape(replica.url) + r"/xbrl/REPORT/HTML/(\d{4})/FB010010/([^/]+)/\2\.html", location)
    assert match, location
    year, stem = match.groups()
    assert row["reportYear"] == "2024" and year == "2025" == row["reportSendDate"][:4]
    organ, fund, code, filing, seq = STEM.fullmatch(stem).groups()  # type: ignore[union-attr]
    assert (organ, fund, code, filing, seq) == ("50920000", "013242", "FB010010", "2025", "0002")


def test_head_redirects_like_get(http: httpx.Client) -> None:
    row = _row(http, "970086", "FB030010")
    head = http.head(VIEW_PATH, params={"instanceid": row["uploadInfoId"]})
    get = http.get(VIEW_PATH, params={"instanceid": row["uploadInfoId"]})
    assert head.status_code == get.status_code == 302
    assert head.headers["location"] == get.headers["location"]


def test_corpus_page_is_served_byte_exact_as_utf8_html(http: httpx.Client, corpus_dir: Path) -> None:
    row = _row(http, "970086", "FB030010")
    page = http.get(VIEW_PATH, params={"instanceid": row["uploadInfoId"]}, follow_redirects=True)
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.content == (corpus_dir / "970086_2025_q1.html").read_bytes()


def test_generated_page_looks_like_a_report(http: httpx.Client) -> None:
    row = search(http, reportTypeCode="FB030010", reportYear="2025")["aaData"][0]
    page = http.get(VIEW_PATH, params={"instanceid": row["uploadInfoId"]}, follow_redirects=True)
    text = page.text
    for marker in ("<title>XBRL</title>", 'id="instance_navigation"', "基金管理人：", 'class="dd"',
                   f"报告送出日期：{row['reportSendDate']}", '<a name="tabItem4_assetsCircs">'):
        assert marker in text
    assert 20_000 <= len(page.content) <= 120_000


def test_unknown_id_is_404_or_the_configured_status(replica: Replica, http: httpx.Client) -> None:
    assert http.get(VIEW_PATH, params={"instanceid": "1"}).status_code == 404
    assert http.get(VIEW_PATH, params={"instanceid": "abc"}).status_code == 404
    assert http.get(VIEW_PATH).status_code == 404
    replica.set_config(unknown_id_status=200)
    try:
        response = http.get(VIEW_PATH, params={"instanceid": "1"})
        assert response.status_code == 200 and "system error" in response.text
    finally:
        replica.set_config(unknown_id_status=404)


def test_xml_and_other_variants_of_the_page_path_are_404_html(http: httpx.Client) -> None:
    location = http.get(VIEW_PATH, params={"instanceid": _row(http, "970086", "FB030010")["uploadInfoId"]})
    url = location.headers["location"]
    variants = [url.replace("/HTML/", "/XML/"), url.replace("/HTML/", "/XBRL/"), url[:-5] + ".xml",
                url[:-5] + ".xbrl", url.replace("/2025/", "/2024/")]
    for variant in variants:
        response = http.get(variant)
        assert response.status_code == 404, variant
        assert response.headers["content-type"].startswith("text/html")


def test_optional_endpoints_answer_in_the_site_shapes(http: httpx.Client) -> None:
    metadata = http.post("/fund/disclose/xbrlAfficheSearchData.json", data={"reportTypeStatus": "01"}).json()
    assert len(metadata["fundTypeList"]) == 9 and metadata["yearList"][-1] == "1997"
    teaser = http.get("/fund/disclose/indexXbrlData.json").json()
    assert all(len(rows) <= 5 for rows in teaser.values()) and len(teaser) == 4
    assert isinstance(teaser["seasonXBRLReportList"][0]["idStr"], str)
    table = [http.get("/fund/disclose/xbrlAfficheData.json", params={"iDisplayStart": start}).json()
             for start in (0, 20)]
    assert table[0]["aaData"] == table[1]["aaData"] and len(table[0]["aaData"]) == 20
    assert table[0]["iTotalRecords"] > 20
