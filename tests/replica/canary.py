"""A canary listener on 127.0.0.2:<replica port>: the target of the ``redirect_other_host`` fault.

A client that follows that redirect reaches the canary instead of a refused connection; the canary answers
403 and logs the request (kind ``canary``) in the replica's request log, so a test can assert that 0 requests
reached the other host.
"""

from __future__ import annotations

import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.replica.state import ReplicaState

logger = logging.getLogger(__name__)
CANARY_HOST = "127.0.0.2"


class CanaryHandler(BaseHTTPRequestHandler):
    server: CanaryServer
    protocol_version = "HTTP/1.1"
    timeout = 10

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("canary %s", format % args)

    def do_GET(self) -> None:
        body = b"canary: off-host redirect followed"
        with self.server.state.log.recording(lambda: {
            "ts": time.time(), "method": self.command, "path": self.path.split("?", 1)[0],
            "query": self.path.partition("?")[2], "status": 403, "bytes": len(body),
            "client": self.client_address[0], "kind": "canary", "fault": None, "attempt": None, "id": None,
        }):
            self.send_response(403)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

    do_HEAD = do_GET
    do_POST = do_GET


class CanaryServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, state: ReplicaState) -> None:
        super().__init__((CANARY_HOST, port), CanaryHandler)
        self.state = state


def start_canary(port: int, state: ReplicaState) -> CanaryServer | None:
    """Serve the canary in a daemon thread; None when 127.0.0.2 cannot be bound here."""
    try:
        canary = CanaryServer(port, state)
    except OSError as error:
        logger.warning("no canary on %s:%s: %s", CANARY_HOST, port, error)
        return None
    threading.Thread(target=canary.serve_forever, name="replica-canary", daemon=True).start()
    return canary
