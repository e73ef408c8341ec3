"""A tiny purpose-built HTTP site for byte-level hostile cases, plus limiter/breaker fixtures on real Redis.

The project replica (``tests/replica``) serves the realistic site; this server exists for answers that must
be exact to the byte (a lying Content-Length, an endless chunked body, a double-gzip bomb) and for counting
requests that must never arrive (redirect targets).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import redis

from crawler.sources.eid import EidClient
from tests.constants import USER_AGENT

REDIS_URL = "redis://127.0.0.1:6379/0"

Route = Callable[["SiteHandler"], None]


@dataclass
class Hit:
    """One request the site received."""

    at: float
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


@dataclass
class Site:
    """Routes (path -> handler) and the log of every request, for one server on 127.0.0.1."""

    url: str = ""
    routes: dict[str, Route] = field(default_factory=dict)
    hits: list[Hit] = field(default_factory=list)

    def route(self, path: str) -> Callable[[Route], Route]:
        def register(handler: Route) -> Route:
            self.routes[path] = handler
            return handler

        return register

    def paths(self) -> list[str]:
        return [hit.path for hit in self.hits]


class SiteHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: SiteServer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test output should show assertions, not access logs."""

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        site = self.server.site
        site.hits.append(Hit(time.time(), parts.path, parse_qs(parts.query, keep_blank_values=True),
                             {key.lower(): value for key, value in self.headers.items()}))
        self.query = parse_qs(parts.query, keep_blank_values=True)
        handler = site.routes.get(parts.path)
        try:
            if handler is None:
                self.reply(404, b"<html>not found</html>")
            else:
                handler(self)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client hung up on purpose (size caps): nothing to answer
        self.close_connection = True

    def reply(self, status: int, body: bytes = b"", content_type: str = "text/html; charset=utf-8",
              headers: dict[str, str] | None = None) -> None:
        """A complete answer with a correct Content-Length unless ``headers`` overrides it."""
        self.send_response(status)
        extra = {"Content-Type": content_type, "Content-Length": str(len(body)), "Connection": "close"}
        extra.update(headers or {})
        for key, value in extra.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def redirect(self, location: str, status: int = 302) -> None:
        self.reply(status, b"", headers={"Location": location})


class SiteServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, site: Site) -> None:
        super().__init__(("127.0.0.1", 0), SiteHandler)
        self.site = site
        site.url = f"http://127.0.0.1:{self.server_address[1]}"


def _serve() -> Iterator[Site]:
    site = Site()
    server = SiteServer(site)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def site() -> Iterator[Site]:
    """The site under test."""
    yield from _serve()


@pytest.fixture
def other_site() -> Iterator[Site]:
    """A second server (another port): a redirect target that must receive nothing."""
    yield from _serve()


@pytest.fixture
def make_client(site: Site) -> Iterator[Callable[..., EidClient]]:
    """Build EidClients against ``site``; closes them after the test."""
    clients: list[EidClient] = []

    def make(**options: Any) -> EidClient:
        client = EidClient(site.url, USER_AGENT, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix unique to this test; its keys are deleted afterwards (never FLUSHALL)."""
    prefix = f"fundcrawl-test:{uuid.uuid4().hex}"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
    keys = list(client.scan_iter(match=f"{prefix}:*"))
    if keys:
        client.delete(*keys)
    client.close()


def report_page(title: str = "测试基金2025年第一季度报告", send_date: str = "2026-04-22", charset: str = "UTF-8") -> str:
    """A minimal page with the markers of a real report."""
    return (
        f'<html><head><meta http-equiv="Content-Type" content="text/html; charset={charset}"/>'
        f'<title>XBRL</title></head><body><div id="instance_navigation"></div>'
        f"<p>{title}</p><p>基金管理人：测试基金管理有限公司</p><p>报告送出日期：{send_date}</p>"
        '<a name="tabItem1_fundIntro"></a><table><tr class="dd"><td>基金简称</td><td>测试</td></tr></table>'
        "</body></html>"
    )


@pytest.fixture(scope="session")
def real_page(corpus_dir: Path) -> bytes:
    """One real report page from the shared corpus (read in place, never copied into the repo)."""
    return min(corpus_dir.glob("*.html")).read_bytes()
