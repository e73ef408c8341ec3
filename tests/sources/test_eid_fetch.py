"""EidClient.fetch_report against a real local HTTP server: redirects, caps, bombs, encodings, page checks."""

from __future__ import annotations

import gzip
import hashlib
import re
import zlib
from collections.abc import Callable

import pytest

from crawler.exceptions import (
    EncodingError,
    InvalidIdError,
    NotAReportError,
    RedirectBlockedError,
    SourceError,
    TooLargeError,
)
from crawler.sources.eid import REPORT_PATH, EidClient
from tests.constants import USER_AGENT
from tests.sources.conftest import Site, SiteHandler, report_page

FINAL = "/xbrl/REPORT/HTML/2026/FB030010/CN_50030000_000001_FB030010_20260003/CN_50030000_000001_FB030010_20260003.html"
CAP = 1024 * 1024
MiB = 1024 * 1024


def serve_report(site: Site, answer: Callable[[SiteHandler], None]) -> None:
    """The site's shape: the view endpoint 302s to an absolute URL on the same host, which answers."""
    site.routes[REPORT_PATH] = lambda h: h.redirect(site.url + FINAL)
    site.routes[FINAL] = answer


def zeros_gzip(size: int, layers: int = 1) -> bytes:
    """A decompression bomb: ``size`` zero bytes, gzipped ``layers`` times."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = b"\0" * MiB
    data = b"".join(packer.compress(block) for _ in range(size // MiB)) + packer.flush()
    for _ in range(layers - 1):
        data = gzip.compress(data, 9)
    return data


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return zeros_gzip(256 * MiB)


def test_real_page_is_fetched_byte_exact_through_the_redirect(site: Site, make_client, real_page: bytes) -> None:
    serve_report(site, lambda h: h.reply(200, real_page))
    page = make_client().fetch_report(22053366)
    assert page.body == real_page
    assert page.sha256 == hashlib.sha256(real_page).hexdigest()
    assert page.final_url == site.url + FINAL
    assert site.paths() == [REPORT_PATH, FINAL]
    assert site.hits[0].query == {"instanceid": ["22053366"]}


def test_requests_carry_honest_headers(site: Site, make_client) -> None:
    serve_report(site, lambda h: h.reply(200, report_page().encode()))
    make_client().fetch_report(1)
    for hit in site.hits:
        assert hit.headers["user-agent"] == USER_AGENT
        assert hit.headers["referer"] == f"{site.url}/fund/disclose/index.html"
        assert hit.headers["accept-encoding"] == "gzip, deflate"


def test_relative_redirect_on_same_host_is_followed(site: Site, make_client) -> None:
    site.routes[REPORT_PATH] = lambda h: h.redirect(FINAL)
    site.routes[FINAL] = lambda h: h.reply(200, report_page().encode())
    assert make_client().fetch_report(7).final_url == site.url + FINAL


@pytest.mark.parametrize("target", ["other_port", "localhost", "https", "file", "metadata", "credentials"])
def test_redirect_off_origin_is_refused_before_any_request(site: Site, other_site: Site, make_client,
                                                           target: str) -> None:
    port = site.url.rsplit(":", 1)[1]
    location = {
        "other_port": other_site.url + FINAL,
        "localhost": f"http://localhost:{port}{FINAL}",
        "https": f"https://127.0.0.1:{port}{FINAL}",
        "file": "file:///etc/passwd",
        "metadata": "http://169.254.169.254/latest/meta-data/",
        "credentials": f"http://user:secret@127.0.0.1:{port}{FINAL}",
    }[target]
    site.routes[REPORT_PATH] = lambda h: h.redirect(location)
    site.routes[FINAL] = lambda h: h.reply(200, report_page().encode())
    with pytest.raises(RedirectBlockedError):
        make_client().fetch_report(1)
    assert site.paths() == [REPORT_PATH]
    assert other_site.hits == []


def _chain(site: Site, hops: int) -> None:
    site.routes[REPORT_PATH] = lambda h: h.redirect("/hop/1")
    for number in range(1, hops):
        site.routes[f"/hop/{number}"] = lambda h, n=number: h.redirect(f"/hop/{n + 1}")
    site.routes[f"/hop/{hops}"] = lambda h: h.reply(200, report_page().encode())


def test_six_redirects_are_refused_and_the_sixth_target_never_requested(site: Site, make_client) -> None:
    _chain(site, 6)
    with pytest.raises(RedirectBlockedError):
        make_client(max_redirects=5).fetch_report(1)
    assert "/hop/6" not in site.paths()
    assert len(site.hits) == 6


def test_five_redirects_are_allowed(site: Site, make_client) -> None:
    _chain(site, 5)
    assert make_client(max_redirects=5).fetch_report(1).final_url.endswith("/hop/5")


def test_content_length_over_cap_is_refused_without_reading(site: Site, make_client) -> None:
    def huge(h: SiteHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/html; charset=utf-8")
        h.send_header("Content-Length", str(50 * MiB))
        h.end_headers()
        h.wfile.write(b"<html>" + b"x" * MiB)

    serve_report(site, huge)
    with pytest.raises(TooLargeError, match="Content-Length"):
        make_client(max_bytes=CAP).fetch_report(1)


def test_endless_chunked_body_stops_at_the_cap(site: Site, make_client) -> None:
    def endless(h: SiteHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/html; charset=utf-8")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        chunk = b"<p>" + b"x" * 16380 + b"</p>"
        for _ in range(10_000):  # 160 MiB if nobody stops reading
            h.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))

    serve_report(site, endless)
    with pytest.raises(TooLargeError) as caught:
        make_client(max_bytes=CAP).fetch_report(1)
    read = int(re.search(r"after (\d+) raw bytes", str(caught.value)).group(1))
    assert read <= CAP + 64 * 1024


@pytest.mark.parametrize("layers", [1, 2])
def test_gzip_bomb_is_refused_by_decoded_size(site: Site, make_client, bomb: bytes, layers: int) -> None:
    payload = bomb if layers == 1 else gzip.compress(bomb, 9)
    encoding = ", ".join(["gzip"] * layers)
    serve_report(site, lambda h: h.reply(200, payload, headers={"Content-Encoding": encoding}))
    with pytest.raises(TooLargeError, match="decoded") as caught:
        make_client(max_bytes=CAP).fetch_report(1)
    assert int(re.search(r"after (\d+) raw bytes", str(caught.value)).group(1)) <= len(payload)


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "gzip, gzip"])
def test_compressed_page_is_returned_decoded(site: Site, make_client, real_page: bytes, encoding: str) -> None:
    payload = zlib.compress(real_page) if encoding == "deflate" else gzip.compress(real_page)
    if encoding == "gzip, gzip":
        payload = gzip.compress(payload)
    serve_report(site, lambda h: h.reply(200, payload, headers={"Content-Encoding": encoding}))
    assert make_client().fetch_report(1).body == real_page


def test_truncated_body_is_transient(site: Site, make_client) -> None:
    body = report_page().encode()
    serve_report(site, lambda h: h.reply(200, body[: len(body) // 2], headers={"Content-Length": str(len(body))}))
    with pytest.raises(SourceError) as caught:
        make_client().fetch_report(1)
    assert type(caught.value) is SourceError


def test_truncated_gzip_stream_is_transient(site: Site, make_client, real_page: bytes) -> None:
    cut = gzip.compress(real_page)[:5000]
    serve_report(site, lambda h: h.reply(200, cut, headers={"Content-Encoding": "gzip"}))
    with pytest.raises(SourceError, match="truncated"):
        make_client().fetch_report(1)


def test_unterminated_chunked_body_is_transient(site: Site, make_client) -> None:
    def cut(h: SiteHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/html; charset=utf-8")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        h.wfile.write(b"10\r\n<html><title>XB\r\n")

    serve_report(site, cut)
    with pytest.raises(SourceError):
        make_client().fetch_report(1)


def test_site_error_page_with_200_is_transient(site: Site, make_client) -> None:
    busy = "<html><head><title>提示</title></head><body>系统繁忙，请稍后再试</body></html>".encode()
    serve_report(site, lambda h: h.reply(200, busy))
    with pytest.raises(SourceError, match="error page") as caught:
        make_client().fetch_report(1)
    assert not isinstance(caught.value, NotAReportError)


def test_html_that_is_not_a_report_is_permanent(site: Site, make_client) -> None:
    serve_report(site, lambda h: h.reply(200, b"<html><head><title>Welcome</title></head><body>hi</body></html>"))
    with pytest.raises(NotAReportError):
        make_client().fetch_report(1)


@pytest.mark.parametrize("content_type", ["application/octet-stream", "application/json", ""])
def test_wrong_content_type_is_transient(site: Site, make_client, real_page: bytes, content_type: str) -> None:
    serve_report(site, lambda h: h.reply(200, real_page, content_type=content_type))
    with pytest.raises(SourceError, match="content type"):
        make_client().fetch_report(1)


GB_ONLY = "基金·收益—𠀀测试"  # GBK/GB18030-only characters: gb2312 would turn them into ・― or fail


@pytest.mark.parametrize("header", ["text/html; charset=gb2312", "text/html; charset=utf-8", "text/html"])
def test_gb2312_labelled_gb18030_page_is_decoded_exactly(site: Site, make_client, header: str) -> None:
    source = report_page(title=GB_ONLY, charset="gb2312").encode("gb18030")
    serve_report(site, lambda h: h.reply(200, source, content_type=header))
    page = make_client().fetch_report(1)
    text = page.body.decode("utf-8")
    assert GB_ONLY in text
    assert "charset=utf-8" in text and "gb2312" not in text
    assert page.sha256 == hashlib.sha256(page.body).hexdigest()


def test_mixed_encoding_page_is_refused(site: Site, make_client) -> None:
    page = report_page().replace("</body>", "<p>" + "基金" * 100 + "</p></body>")
    mixed = page.encode("utf-8").replace(("基金" * 100).encode(), ("基金" * 100).encode("gbk"))
    serve_report(site, lambda h: h.reply(200, mixed))
    with pytest.raises(EncodingError):
        make_client().fetch_report(1)


@pytest.mark.parametrize("bad", [0, -5, 10**13, "../../etc/passwd", True])
def test_invalid_ids_never_reach_the_site(site: Site, make_client, bad: object) -> None:
    with pytest.raises(InvalidIdError):
        make_client().fetch_report(bad)  # type: ignore[arg-type]
    assert site.hits == []


def test_client_works_as_context_manager(site: Site) -> None:
    serve_report(site, lambda h: h.reply(200, report_page().encode()))
    with EidClient(site.url, USER_AGENT) as client:
        assert client.fetch_report(3).upload_info_id == 3
