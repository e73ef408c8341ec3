"""The EID site client: the only code in fundcrawl that speaks HTTP.

Every request passes the fleet-wide circuit breaker and rate limiter first, then goes out with an honest
User-Agent, the site's Referer, ``Accept-Encoding: gzip, deflate`` only, connect/read timeouts and one
wall-clock deadline that bounds connecting, the headers and the body alike (:mod:`crawler.sources.deadline`). Redirects are followed by hand: each hop must stay on the configured
scheme, host and port, for at most ``max_redirects`` hops; a refused hop is never requested. Every transport
problem becomes an error from :mod:`crawler.exceptions`: no httpx type leaves this module.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit

import httpx

from crawler.exceptions import (
    HTTPStatusError,
    InvalidIdError,
    NotFoundError,
    RateLimitedError,
    RedirectBlockedError,
    SourceError,
)
from crawler.models import FetchedPage, ListingPage
from crawler.settings import Settings
from crawler.sources.body import ACCEPT_ENCODING, read_body
from crawler.sources.breaker import CircuitBreaker, OnOpen, breaker_from_settings
from crawler.sources.deadline import DeadlineTransport
from crawler.sources.deadline import deadline as request_deadline
from crawler.sources.listing import MAX_PAGE_ROWS, parse_listing, search_query
from crawler.sources.pages import judge_report_page
from crawler.sources.ratelimit import RateLimiter, limiter_from_settings
from crawler.sources.redirects import REDIRECT_STATUSES, next_hop, origin_of
from crawler.telemetry import metrics

log = logging.getLogger(__name__)

REPORT_PATH = "/fund/disclose/instance_html_view.do"
_THROTTLES = frozenset({429, 403})
#: Fleet pause after a 429/403 that carries no usable Retry-After.
DEFAULT_THROTTLE_PAUSE = 30.0
#: A socket timeout this close to the request deadline was the deadline's doing (timers are not exact).
_DEADLINE_SLACK = 0.05


PAGE_ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1"


@dataclass(frozen=True)
class Recheck:
    """A conditional re-check of a stored page: the page when it may have changed, None on 304; requests spent."""

    page: FetchedPage | None
    requests: int
    not_modified: bool = False


@dataclass(frozen=True)
class _Answer:
    url: str
    status: int
    headers: httpx.Headers
    body: bytes


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP-date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class EidClient:
    """Search listings and download report pages from the EID site (or a replica at ``base_url``)."""

    def __init__(
        self,
        base_url: str,
        user_agent: str,
        *,
        connect_timeout: float = 10.0,
        read_timeout: float = 30.0,
        deadline: float = 90.0,
        max_bytes: int = 10 * 1024 * 1024,
        max_redirects: int = 5,
        limiter: RateLimiter | None = None,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._origin = origin_of(self.base_url)
        self._read_timeout = read_timeout
        self._connect_timeout = connect_timeout
        self.deadline = deadline
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self.limiter = limiter
        self.breaker = breaker
        self._echo = 0
        self._http = httpx.Client(
            follow_redirects=False,
            trust_env=False,
            transport=DeadlineTransport(),
            headers={
                "User-Agent": user_agent,
                "Referer": f"{self.base_url}/fund/disclose/index.html",
                "Accept-Encoding": ACCEPT_ENCODING,
            },
        )

    @classmethod
    def from_settings(cls, settings: Settings, on_breaker_open: OnOpen | None = None) -> EidClient:
        """The production client: settings' timeouts and caps, the shared limiter and breaker."""
        agent = settings.user_agent
        if settings.contact_url not in agent:
            agent = f"{agent} (+{settings.contact_url})"
        return cls(
            settings.source_url,
            agent,
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
            deadline=settings.request_deadline,
            max_bytes=settings.max_page_bytes,
            max_redirects=settings.max_redirects,
            limiter=limiter_from_settings(settings),
            breaker=breaker_from_settings(settings, on_breaker_open),
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    def search(
        self,
        report_type_code: str,
        report_year: str,
        start: int,
        *,
        fund_type: str = "",
        fund_code: str = "",
        send_from: dt.date | None = None,
        send_to: dt.date | None = None,
        length: int = MAX_PAGE_ROWS,
    ) -> ListingPage:
        """One page (at most 20 rows) of the search endpoint, strictly validated."""
        self._echo += 1
        path = search_query(self._echo, report_type_code, report_year, start, fund_type=fund_type,
                            fund_code=fund_code, send_from=send_from, send_to=send_to, length=length)
        deadline = time.monotonic() + self.deadline
        answer = self._get(self.base_url + path, deadline, "application/json, text/javascript, */*; q=0.01")
        if answer.status != 200:
            raise SourceError(f"search answered HTTP {answer.status}")
        return parse_listing(answer.body)

    def fetch_report(self, upload_info_id: int) -> FetchedPage:
        """Download one report page, following the site's 302 by hand, and check it is a report."""
        if isinstance(upload_info_id, bool) or not isinstance(upload_info_id, int) or not 0 < upload_info_id < 10**12:
            raise InvalidIdError(f"upload_info_id must be a positive integer, got {upload_info_id!r:.40}")
        url = f"{self.base_url}{REPORT_PATH}?instanceid={upload_info_id}"
        deadline = time.monotonic() + self.deadline
        for hop in range(self.max_redirects + 1):
            answer = self._get(url, deadline, PAGE_ACCEPT)
            if answer.status not in REDIRECT_STATUSES:
                return self._report(upload_info_id, answer)
            url = next_hop(url, answer.headers.get("location", ""), hop, self.max_redirects, self._origin)
        raise RedirectBlockedError(f"more than {self.max_redirects} redirects")

    def recheck_report(self, upload_info_id: int, final_url: str, *, etag: str = "", last_modified: str = ""
                       ) -> Recheck:
        """Ask whether a stored report's page changed, with a conditional GET of the page it was fetched from.

        The report pages are static files, so the site answers ``If-None-Match``/``If-Modified-Since`` with 304
        Not Modified: one request and no body when nothing changed. A page that moved (404 at the old URL, or a
        URL off the site) is fetched again through the report's redirect.
        """
        conditional = {name: value for name, value in
                       (("If-None-Match", etag), ("If-Modified-Since", last_modified)) if value}
        if not final_url or origin_of(final_url) != self._origin:
            return Recheck(self.fetch_report(upload_info_id), requests=2)
        deadline = time.monotonic() + self.deadline
        try:
            answer = self._get(final_url, deadline, PAGE_ACCEPT, conditional)
        except NotFoundError:
            return Recheck(self.fetch_report(upload_info_id), requests=3)
        if answer.status == 304:
            return Recheck(None, requests=1, not_modified=True)
        if answer.status in REDIRECT_STATUSES:
            return Recheck(self.fetch_report(upload_info_id), requests=3)
        return Recheck(self._report(upload_info_id, answer), requests=1)

    def _report(self, upload_info_id: int, answer: _Answer) -> FetchedPage:
        if answer.status != 200:
            raise SourceError(f"report page answered HTTP {answer.status}")
        page = judge_report_page(answer.body, answer.headers.get("content-type", ""))
        return FetchedPage(upload_info_id, answer.url, page.body, "text/html; charset=utf-8",
                           etag=answer.headers.get("etag", ""), last_modified=answer.headers.get("last-modified", ""))

    def _get(self, url: str, deadline: float, accept: str, extra: dict[str, str] | None = None) -> _Answer:
        """One GET through breaker and limiter; maps status codes and transport errors to our errors."""
        trial = self.breaker.check() if self.breaker is not None else False
        if self.limiter is not None:
            self.limiter.acquire(max_wait=max(0.0, deadline - time.monotonic()))
        answer = self._send(url, deadline, accept, extra)
        if answer.status in _THROTTLES:
            self._throttled(answer)
        if trial and self.breaker is not None:
            self.breaker.record_success()
        self._raise_for_status(answer.status, url)
        return answer

    def _send(self, url: str, deadline: float, accept: str, extra: dict[str, str] | None = None) -> _Answer:
        left = deadline - time.monotonic()
        if left <= 0:
            raise SourceError("request deadline passed before sending")
        timeout = httpx.Timeout(min(self._read_timeout, left), connect=min(self._connect_timeout, left))
        started, status, size = time.monotonic(), "error", 0
        try:
            headers = {"Accept": accept, **(extra or {})}
            with request_deadline(deadline), \
                    self._http.stream("GET", url, headers=headers, timeout=timeout) as response:
                status = str(response.status_code)
                body = read_body(response, self.max_bytes, deadline) if response.status_code == 200 else b""
                size = len(body)
                return _Answer(url, response.status_code, response.headers, body)
        except httpx.TimeoutException as error:
            if deadline - time.monotonic() < _DEADLINE_SLACK:
                raise SourceError(f"request deadline of {self.deadline:g} s passed ({error})") from error
            raise SourceError(f"timeout talking to the site: {type(error).__name__}") from error
        except httpx.HTTPError as error:
            raise SourceError(f"transport error: {type(error).__name__}: {str(error)[:120]}") from error
        except httpx.InvalidURL as error:
            raise RedirectBlockedError(f"unusable URL: {error}") from error
        finally:
            log.debug("GET %s -> %s, %d bytes, %.0f ms", url, status, size, (time.monotonic() - started) * 1000)
            metrics.count_request("search" if accept.startswith("application/json") else "page", status)

    def _throttled(self, answer: _Answer) -> None:
        """429 (or 403 used as a throttle): pause the whole fleet, count it in the breaker, then raise.

        Without a usable Retry-After the fleet pauses :data:`DEFAULT_THROTTLE_PAUSE` seconds, and the error
        carries that pause so the caller's retry does not come sooner.
        """
        retry_after = retry_after_seconds(answer.headers.get("retry-after"))
        if retry_after is None:
            retry_after = DEFAULT_THROTTLE_PAUSE
        if self.limiter is not None:
            self.limiter.pause(retry_after)
        if self.breaker is not None:
            self.breaker.record_throttle(answer.status)
        raise RateLimitedError(f"site throttled us with HTTP {answer.status}", retry_after, answer.status)

    @staticmethod
    def _raise_for_status(status: int, url: str) -> None:
        if status == 404:
            raise NotFoundError(f"HTTP 404 for {urlsplit(url).path}")
        if status == 408 or status >= 500:
            raise SourceError(f"HTTP {status} from the site")
        if 400 <= status < 500:
            raise HTTPStatusError(f"HTTP {status} for {urlsplit(url).path}")
