"""A local fake Sentry ingest: a real HTTP server on 127.0.0.1 that records what the SDK sends.

It accepts the envelope endpoint (``POST /api/<project>/envelope/``, body plain, gzip, deflate or br), decodes
each envelope into its header and items (``event``, ``check_in``, ``transaction``, ``client_report``...) and
keeps them. Tests in the same process use :class:`SentryIngest` directly; other processes (chaos scripts, a
worker under test) read ``GET /_ingest/envelopes`` through :class:`RemoteIngest`. ``POST /_ingest/clear``
forgets everything and ``POST /_ingest/status/<code>`` makes the ingest answer with that status (e.g. 503).

The DSN key is checked against the one the ingest was started with but never stored, so the recorded bodies
can be scanned for canaries. Run it alone with ``python -m tests.fakes.sentry_ingest --port 0``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import threading
import time
import urllib.request
import zlib
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

_ENVELOPE_PATH = re.compile(r"^/api/(?P<project>\d+)/envelope/?$")


def decode_body(body: bytes, encoding: str) -> bytes:
    """Undo the SDK's transport compression (gzip by default, br when Brotli is installed)."""
    encoding = encoding.strip().lower()
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    if encoding == "br":
        import brotli  # the SDK only sends br when Brotli is installed, so it is importable here

        return bytes(brotli.decompress(body))
    return body


def parse_envelope(raw: bytes) -> dict[str, Any]:
    """Split an envelope (https://develop.sentry.dev/sdk/data-model/envelopes/) into header and items."""
    first, _, rest = raw.partition(b"\n")
    envelope: dict[str, Any] = {"headers": json.loads(first or b"{}"), "items": []}
    while rest.strip():
        line, _, rest = rest.partition(b"\n")
        if not line.strip():
            continue
        headers = json.loads(line)
        if "length" in headers:
            payload, rest = rest[: headers["length"]], rest[headers["length"]:]
            rest = rest[1:] if rest.startswith(b"\n") else rest
        else:
            payload, _, rest = rest.partition(b"\n")
        envelope["items"].append({"headers": headers, "type": headers.get("type"), "payload": _payload(payload)})
    return envelope


def _payload(payload: bytes) -> Any:
    try:
        return json.loads(payload)
    except ValueError:
        return payload.decode("utf-8", "replace")


class _Store:
    """What the ingest received, shared by the HTTP threads and the test."""

    def __init__(self, key: str | None) -> None:
        self.key = key
        self.lock = threading.Condition()
        self.envelopes: list[dict[str, Any]] = []
        self.bodies: list[bytes] = []
        self.status = 200

    def add(self, project: str, auth_ok: bool, body: bytes) -> None:
        envelope = parse_envelope(body)
        envelope.update(project=project, auth_ok=auth_ok)
        with self.lock:
            self.envelopes.append(envelope)
            self.bodies.append(body)
            self.lock.notify_all()


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _reply(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        return decode_body(body, self.headers.get("Content-Encoding", ""))

    def _auth_ok(self) -> bool:
        auth = self.headers.get("X-Sentry-Auth", "") + "&" + (self.path.partition("?")[2])
        sent = re.search(r"sentry_key=([^,&\s]+)", auth)
        return sent is not None and (self.server.store.key is None or sent.group(1) == self.server.store.key)

    def do_POST(self) -> None:
        store = self.server.store
        path = self.path.partition("?")[0]
        if path == "/_ingest/clear":
            with store.lock:
                store.envelopes.clear()
                store.bodies.clear()
            return self._reply(200, {"cleared": True})
        if path.startswith("/_ingest/status/"):
            store.status = int(path.rsplit("/", 1)[1])
            return self._reply(200, {"status": store.status})
        match = _ENVELOPE_PATH.match(path)
        if match is None:
            return self._reply(404, {"detail": "not an envelope endpoint"})
        body = self._body()
        if store.status != 200:
            return self._reply(store.status, {"detail": "fake ingest told to fail"})
        store.add(match.group("project"), self._auth_ok(), body)
        return self._reply(200, {"id": store.envelopes[-1]["headers"].get("event_id")})

    def do_GET(self) -> None:
        store = self.server.store
        if self.path.partition("?")[0] != "/_ingest/envelopes":
            return self._reply(404, {"detail": "unknown path"})
        with store.lock:
            bodies = [body.decode("utf-8", "replace") for body in store.bodies]
            return self._reply(200, {"envelopes": store.envelopes, "bodies": bodies})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    store: _Store


class _Reader:
    """Queries shared by the in-thread and the remote handle."""

    def envelopes(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    def items(self, kind: str) -> list[dict[str, Any]]:
        return [item["payload"] for env in self.envelopes() for item in env["items"] if item["type"] == kind]

    def events(self) -> list[dict[str, Any]]:
        return self.items("event")

    def check_ins(self) -> list[dict[str, Any]]:
        return self.items("check_in")

    def wait_for(self, found: Callable[[_Reader], Any], timeout: float = 15.0) -> Any:
        """Poll until ``found(self)`` is truthy and return it; AssertionError with what arrived on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = found(self)
            if result:
                return result
            time.sleep(0.05)
        kinds = [item["type"] for env in self.envelopes() for item in env["items"]]
        raise AssertionError(f"the fake Sentry ingest did not receive what was expected; got items {kinds}")


class SentryIngest(_Reader):
    """The server, run in a thread of the test process; ``dsn`` is what to give ``FUNDCRAWL_SENTRY_DSN``."""

    def __init__(self, key: str = "CANARYKEY", port: int = 0, project: int = 1) -> None:
        self.key, self.project = key, project
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.store = _Store(key)
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-sentry", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def dsn(self) -> str:
        return f"http://{self.key}@127.0.0.1:{self._server.server_address[1]}/{self.project}"

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def envelopes(self) -> list[dict[str, Any]]:
        with self._server.store.lock:
            return list(self._server.store.envelopes)

    def bodies(self) -> list[bytes]:
        """Every decompressed envelope body as received, to scan for canaries."""
        with self._server.store.lock:
            return list(self._server.store.bodies)

    def clear(self) -> None:
        with self._server.store.lock:
            self._server.store.envelopes.clear()
            self._server.store.bodies.clear()

    def fail_with(self, status: int) -> None:
        self._server.store.status = status


class RemoteIngest(_Reader):
    """A handle on an ingest running in another process, through its JSON endpoint."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def _get(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.url + "/_ingest/envelopes", timeout=10) as response:
            return dict(json.load(response))

    def envelopes(self) -> list[dict[str, Any]]:
        return list(self._get()["envelopes"])

    def bodies(self) -> list[bytes]:
        return [body.encode("utf-8") for body in self._get()["bodies"]]

    def clear(self) -> None:
        request = urllib.request.Request(self.url + "/_ingest/clear", method="POST", data=b"")
        urllib.request.urlopen(request, timeout=10).close()


def main() -> None:
    parser = argparse.ArgumentParser(description="Fake Sentry ingest on 127.0.0.1 that records envelopes.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--key", default="CANARYKEY")
    args = parser.parse_args()
    ingest = SentryIngest(key=args.key, port=args.port).start()
    print(json.dumps({"url": ingest.url, "port": int(ingest.url.rsplit(":", 1)[1])}), flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        ingest.stop()


if __name__ == "__main__":
    main()
