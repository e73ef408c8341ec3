"""Status codes and transport failures become our error tree; 429 slows the whole fleet and feeds the breaker."""

from __future__ import annotations

import email.utils
import logging
import socket
import time
from pathlib import Path

import pytest

from crawler.exceptions import (
    CircuitOpenError,
    HTTPStatusError,
    NotFoundError,
    RateLimitedError,
    SourceError,
)
from crawler.settings import Settings
from crawler.sources import EidClient, FileCircuitBreaker, FileRateLimiter
from crawler.sources.eid import DEFAULT_THROTTLE_PAUSE, REPORT_PATH, retry_after_seconds
from tests.fakes.clock import FakeClock
from tests.sources.conftest import Site, SiteHandler, report_page


def answer(site: Site, status: int, headers: dict[str, str] | None = None) -> None:
    site.routes[REPORT_PATH] = lambda h: h.reply(status, b"<html>status page</html>", headers=headers)


@pytest.mark.parametrize(
    ("status", "error"),
    [(404, NotFoundError), (400, HTTPStatusError), (410, HTTPStatusError), (408, SourceError),
     (500, SourceError), (502, SourceError), (503, SourceError)],
)
def test_status_codes_map_to_the_error_tree(site: Site, make_client, status: int, error: type) -> None:
    answer(site, status, {"Retry-After": "5"})
    with pytest.raises(error) as caught:
        make_client().fetch_report(1)
    assert type(caught.value) is error


@pytest.mark.parametrize("status", [429, 403])
def test_throttle_answers_carry_retry_after_seconds(site: Site, make_client, status: int) -> None:
    answer(site, status, {"Retry-After": "7"})
    with pytest.raises(RateLimitedError) as caught:
        make_client().fetch_report(1)
    assert (caught.value.retry_after, caught.value.status) == (7.0, status)


def test_retry_after_http_date_is_understood() -> None:
    now = time.time()
    assert retry_after_seconds(email.utils.formatdate(now + 120, usegmt=True), now) == pytest.approx(120, abs=1)
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now) == 0.0
    assert retry_after_seconds("soon", now) is None
    assert retry_after_seconds(None, now) is None


def test_429_pauses_every_client_sharing_the_budget(site: Site, make_client, tmp_path: Path) -> None:
    """Two clients (as two workers would) share a limiter file: a 429 to one holds the other back."""
    state, clock = tmp_path / "limiter.json", FakeClock()
    throttled = make_client(limiter=FileRateLimiter(state, rate=50, clock=clock, sleep=clock.sleep))
    other = make_client(limiter=FileRateLimiter(state, rate=50, clock=clock, sleep=clock.sleep))
    answer(site, 429, {"Retry-After": "1"})
    with pytest.raises(RateLimitedError):
        throttled.fetch_report(1)
    site.routes[REPORT_PATH] = lambda h: h.reply(200, report_page().encode())
    other.fetch_report(2)
    assert len(site.hits) == 2
    assert clock.slept == [pytest.approx(1.0)]


def test_pause_longer_than_the_deadline_fails_fast_without_a_request(site: Site, make_client,
                                                                     tmp_path: Path) -> None:
    limiter = FileRateLimiter(tmp_path / "limiter.json", rate=50)
    limiter.pause(600)
    with pytest.raises(RateLimitedError) as caught:
        make_client(limiter=limiter, deadline=5).fetch_report(1)
    assert caught.value.retry_after > 500
    assert site.hits == []


def test_repeated_429_open_the_breaker_and_stop_all_requests(site: Site, make_client, tmp_path: Path) -> None:
    opened: list[tuple[str, float]] = []
    breaker = FileCircuitBreaker(tmp_path / "breaker.json", threshold=3, window=60, cooldown=120,
                                 on_open=lambda why, cooldown: opened.append((why, cooldown)))
    client = make_client(breaker=breaker)
    answer(site, 429, {"Retry-After": "0"})
    for _ in range(3):
        with pytest.raises(RateLimitedError):
            client.fetch_report(1)
    with pytest.raises(CircuitOpenError) as caught:
        client.fetch_report(1)
    assert 0 < caught.value.reopen_in <= 120
    assert len(site.hits) == 3
    assert len(opened) == 1 and "HTTP 429" in opened[0][0]


def test_connection_reset_is_transient(site: Site, make_client) -> None:
    def reset(h: SiteHandler) -> None:
        h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        h.connection.close()

    site.routes[REPORT_PATH] = reset
    with pytest.raises(SourceError):
        make_client().fetch_report(1)


def test_stalled_answer_times_out_as_transient(site: Site, make_client) -> None:
    def stall(h: SiteHandler) -> None:
        time.sleep(1.5)
        h.reply(200, report_page().encode())

    site.routes[REPORT_PATH] = stall
    with pytest.raises(SourceError, match="timeout"):
        make_client(read_timeout=0.3).fetch_report(1)


def test_slow_drip_body_hits_the_total_deadline(site: Site, make_client) -> None:
    def drip(h: SiteHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/html; charset=utf-8")
        h.send_header("Content-Length", "100000")
        h.end_headers()
        for _ in range(100):
            h.wfile.write(b"<p>x</p>")
            h.wfile.flush()
            time.sleep(0.1)

    site.routes[REPORT_PATH] = drip
    with pytest.raises(SourceError, match="deadline"):
        make_client(read_timeout=5, deadline=1).fetch_report(1)


def test_connect_error_is_transient() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with EidClient(f"http://127.0.0.1:{port}", "ua", connect_timeout=1) as client, pytest.raises(SourceError):
        client.fetch_report(1)


def test_one_debug_line_per_request_with_status_and_bytes(site: Site, make_client, caplog) -> None:
    body = report_page().encode()
    site.routes[REPORT_PATH] = lambda h: h.redirect("/final.html")
    site.routes["/final.html"] = lambda h: h.reply(200, body)
    with caplog.at_level(logging.DEBUG, logger="crawler.sources.eid"):
        make_client().fetch_report(9)
    lines = [record.getMessage() for record in caplog.records if record.name == "crawler.sources.eid"]
    assert len(lines) == 2
    assert "-> 302, 0 bytes" in lines[0]
    assert f"-> 200, {len(body)} bytes" in lines[1]


def test_from_settings_uses_local_politeness_files_without_redis(site: Site, tmp_path: Path) -> None:
    site.routes[REPORT_PATH] = lambda h: h.reply(200, report_page().encode())
    settings = Settings(source_url=site.url, data_dir=tmp_path, broker_url=None, redis_url=None,
                        user_agent="fundcrawl-test/1", contact_url="https://example.org/contact")
    with EidClient.from_settings(settings) as client:
        client.fetch_report(5)
        assert isinstance(client.limiter, FileRateLimiter) and isinstance(client.breaker, FileCircuitBreaker)
    assert site.hits[0].headers["user-agent"] == "fundcrawl-test/1 (+https://example.org/contact)"
    assert (tmp_path / "politeness").is_dir()


def test_429_without_retry_after_pauses_the_default(site: Site, make_client, tmp_path: Path) -> None:
    limiter = FileRateLimiter(tmp_path / "limiter.json", rate=50)
    answer(site, 429)
    with pytest.raises(RateLimitedError) as caught:
        make_client(limiter=limiter).fetch_report(1)
    assert caught.value.retry_after == DEFAULT_THROTTLE_PAUSE
    with pytest.raises(RateLimitedError):
        limiter.acquire(max_wait=1)
