"""The HTTP server: the three EID paths, faults on top, the control API under ``/_replica/``.

stdlib ``ThreadingHTTPServer``: one thread per connection, so a stalled or endless answer never blocks other
clients. HTTP/1.1 with Content-Length (keep-alive) except where a fault says otherwise.
"""

from __future__ import annotations

import json
import logging
import socket
import struct
import time
import urllib.parse
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, BinaryIO

from tests.constants import SEARCH_PATH, VIEW_PATH
from tests.replica import bodies, control, extras, routes
from tests.replica.canary import CanaryServer, start_canary
from tests.replica.search import BadAoData, parse_aodata, search
from tests.replica.state import ReplicaState

logger = logging.getLogger(__name__)

PAGE_PREFIX = "/xbrl/REPORT/HTML/"
CONTROL_PREFIX = "/_replica/"
HTML = "text/html; charset=utf-8"


class CountingWriter:
    """Wraps the socket file to count the bytes really sent (for the request log)."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.count = 0

    def write(self, data: bytes) -> int:
        written = self.raw.write(data)
        self.count += len(data)
        return written if written is not None else len(data)

    def flush(self) -> None:
        self.raw.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)


class ReplicaServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer that carries the replica state."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], state: ReplicaState) -> None:
        super().__init__(address, Handler)
        self.state = state
        host, port = self.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        state.base_url = f"http://{host}:{port}"
        self.canary: CanaryServer | None = None

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        """Serve, with the off-host canary beside (see canary.py)."""
        self.canary = start_canary(self.server_address[1], self.state)
        super().serve_forever(poll_interval)

    def shutdown(self) -> None:
        if self.canary is not None:
            self.canary.shutdown()
            self.canary.server_close()
            self.canary = None
        super().shutdown()


class Handler(BaseHTTPRequestHandler):
    """One request: classify the path, apply faults, answer, log."""

    server: ReplicaServer
    protocol_version = "HTTP/1.1"
    timeout = 60
    wfile: Any

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes: without TCP_NODELAY, Nagle + delayed ACK add ~40 ms a request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.wfile = CountingWriter(self.wfile)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    @property
    def state(self) -> ReplicaState:
        return self.server.state

    def _serve(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        self.query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        self.note: dict[str, Any] = {"kind": "other", "fault": None, "attempt": None, "id": None}
        self.status = 0
        self.truncating = False
        self.forced_type: str | None = None
        # Read any request body up front, so a keep-alive connection never parses it as the next request.
        self.body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.body and "form-urlencoded" in (self.headers.get("Content-Type") or ""):
            form = urllib.parse.parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True)
            self.query = {**form, **self.query}
        start_bytes = self.wfile.count
        if url.path.startswith(CONTROL_PREFIX):  # the control API is not part of the site: never logged
            self._answer(url.path)
            return
        with self.state.log.recording(lambda: self._entry(url, self.wfile.count - start_bytes)):
            self._answer(url.path)

    def _answer(self, path: str) -> None:
        try:
            self._dispatch(path)
        except (BrokenPipeError, ConnectionResetError, TimeoutError) as error:
            self.note["client_error"] = type(error).__name__
            self.close_connection = True

    def _entry(self, url: urllib.parse.SplitResult, sent: int) -> dict[str, Any]:
        return {
            "ts": time.time(), "method": self.command, "path": url.path, "query": url.query,
            "status": self.status, "bytes": sent, "client": self.client_address[0], **self.note,
        }

    def _dispatch(self, path: str) -> None:
        if path.startswith(CONTROL_PREFIX):
            control.handle(self, path[len(CONTROL_PREFIX):])
        elif path == SEARCH_PATH and self.command in ("GET", "POST"):
            self._with_faults("search", self._search)
        elif path == VIEW_PATH and self.command in ("GET", "HEAD"):
            self._with_faults("redirect", self._redirect)
        elif path.startswith(PAGE_PREFIX) and path.endswith(".html") and self.command in ("GET", "HEAD"):
            self._with_faults("page", lambda: self._page(path))
        elif path in extras.EXTRA_PATHS and self.command in ("GET", "POST"):
            self.send_json(200, extras.answer(self.state, path, self.query.get("sEcho", ["1"])[0]))
        elif path in (SEARCH_PATH, VIEW_PATH):
            self.send_body(405, bodies.NOT_FOUND_PAGE, HTML)
        else:
            self.send_body(404, bodies.NOT_FOUND_PAGE, HTML)

    # --- faults -----------------------------------------------------------------------------------------

    def fault_key(self) -> str:
        """The URL a transient fault is tied to: path plus query without the cache-buster ``_``."""
        url = urllib.parse.urlsplit(self.path)
        query = [(k, v) for k, v in urllib.parse.parse_qsl(url.query, keep_blank_values=True) if k != "_"]
        return url.path + "?" + urllib.parse.urlencode(query)

    def _with_faults(self, kind: str, answer: Any) -> None:
        self.note["kind"] = kind
        key = self.fault_key()
        attempt = self.state.faults.attempt(key)
        self.note["attempt"] = attempt
        fault = self.state.faults.decide_mix(kind, key, attempt)
        if fault:
            self.note["fault"] = fault
            self.note["fault_source"] = "mix"
            self.transient(fault, lambda: answer())
            return
        answer()

    def transient(self, fault: str, answer: Any) -> None:
        """Answer with transient fault ``fault``; ``answer`` writes the real answer (for stall/truncate/type)."""
        if fault in ("http_500", "http_502", "http_503"):
            self.send_body(int(fault[-3:]), bodies.BUSY_PAGE, HTML)
        elif fault == "http_429":
            self.send_body(429, bodies.BUSY_PAGE, HTML, {"Retry-After": str(self.state.config.retry_after)})
        elif fault == "error_page":
            self.send_body(200, bodies.BUSY_PAGE, HTML)
        elif fault == "reset":
            self.reset_connection()
        elif fault == "stall":
            self.state.stop.wait(self.state.config.stall_seconds)
            answer()
        elif fault == "truncate":
            self.truncating = True
            answer()
        elif fault == "wrong_type":
            self.forced_type = "application/octet-stream"
            answer()
        elif fault == "trickle_headers":
            self.trickle_headers()

    def trickle_headers(self) -> None:
        """A status line, then one header line per ``trickle_interval`` seconds and never the end of the headers.

        Every line arrives well within any read timeout, so only a deadline on the whole request ends the wait.
        The connection is closed, unfinished, after ``trickle_seconds`` or when the replica stops.
        """
        self.status = 200
        self.close_connection = True
        config = self.state.config
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n")
        self.wfile.flush()
        ends = time.monotonic() + config.trickle_seconds
        line = 0
        while time.monotonic() < ends and not self.state.stop.wait(config.trickle_interval):
            line += 1
            self.wfile.write(b"X-Trickle-%d: %d\r\n" % (line, line))
            self.wfile.flush()

    def reset_connection(self) -> None:
        """Close with a TCP RST (SO_LINGER 0) and no answer at all."""
        self.status = 0
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()

    # --- answers ----------------------------------------------------------------------------------------

    def send_body(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        """Send a complete answer (or, under a truncate fault, half of it with the full Content-Length)."""
        content_type = self.forced_type or content_type
        self.status = status
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        truncating = self.truncating
        if truncating:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command == "HEAD":
            return
        self.wfile.write(body[: len(body) // 2] if truncating else body)
        self.wfile.flush()
        if truncating:
            self.connection.shutdown(socket.SHUT_RDWR)

    def send_json(self, status: int, data: Any) -> None:
        body = json.dumps(data, ensure_ascii=False, allow_nan=True).encode("utf-8")
        self.send_body(status, body, "application/json; charset=utf-8")

    def send_stream(self, status: int, pieces: Iterable[bytes], headers: dict[str, str], chunked: bool) -> None:
        """Stream ``pieces`` (a huge or endless body) until done, the client leaves or the replica stops."""
        self.status = status
        self.close_connection = True
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command == "HEAD":
            return
        for piece in pieces:
            if self.state.stop.is_set():
                return
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
        if chunked:
            self.wfile.write(b"0\r\n\r\n")

    def _search(self) -> None:
        try:
            params = parse_aodata(self.query)
        except BadAoData as error:
            self.note["error"] = str(error)
            self.send_body(self.state.config.error_status, bodies.SYSTEM_ERROR_PAGE, HTML)
            return
        self.send_body(200, json.dumps(search(self.state, params, self.note), ensure_ascii=False).encode("utf-8"),
                       self.state.config.search_content_type)

    def _redirect(self) -> None:
        routes.answer_redirect(self)

    def _page(self, path: str) -> None:
        routes.answer_page(self, path)
