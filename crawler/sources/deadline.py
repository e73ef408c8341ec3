"""One wall-clock deadline for a whole request: connect, TLS, sending, the response headers and the body.

httpx's timeouts bound each socket operation, not the request: a server that sends one header line every two
seconds never trips a 30 s read timeout and holds the caller for as long as it likes. So every socket
operation of our client goes through :class:`DeadlineBackend`, whose streams cut each operation's timeout to
what is left of the deadline of the request in flight (set with :func:`deadline`) and refuse to start one
once it has passed. The deadline lives in a context variable, so one client can serve several threads and a
pooled keep-alive connection always obeys the request that is using it now.
"""

from __future__ import annotations

import contextlib
import ssl
import time
import typing
from collections.abc import Iterator
from contextvars import ContextVar

import httpcore
import httpx
from httpcore import ConnectTimeout, NetworkStream, ReadTimeout, WriteTimeout
from httpcore._backends.sync import SyncBackend

#: ``time.monotonic()`` value by which the request in flight must be over; None outside a request.
_DEADLINE: ContextVar[float | None] = ContextVar("fundcrawl_request_deadline", default=None)


@contextlib.contextmanager
def deadline(until: float) -> Iterator[None]:
    """Every socket operation inside the block ends by ``until`` (a ``time.monotonic()`` value)."""
    token = _DEADLINE.set(until)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def _cut(timeout: float | None, error: type[Exception], doing: str) -> float | None:
    """``timeout`` cut to what is left of the deadline; raise ``error`` when nothing is left."""
    until = _DEADLINE.get()
    if until is None:
        return timeout
    left = until - time.monotonic()
    if left <= 0:
        raise error(f"request deadline passed while {doing}")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(NetworkStream):
    def __init__(self, inner: NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _cut(timeout, ReadTimeout, "reading the answer"))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _cut(timeout, WriteTimeout, "sending the request"))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> NetworkStream:
        timeout = _cut(timeout, ConnectTimeout, "negotiating TLS")
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)


class DeadlineBackend(SyncBackend):
    """httpcore's blocking socket backend with every operation bounded by the request deadline."""

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: typing.Iterable[typing.Any] | None = None) -> NetworkStream:
        timeout = _cut(timeout, ConnectTimeout, "connecting")
        return _DeadlineStream(super().connect_tcp(host, port, timeout, local_address, socket_options))


class DeadlineTransport(httpx.HTTPTransport):
    """httpx's default transport (no proxy, no environment) on a :class:`DeadlineBackend` connection pool."""

    def __init__(self) -> None:
        super().__init__(trust_env=False)
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=5.0)
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=DeadlineBackend(),
        )
