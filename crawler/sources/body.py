"""Reading a response body within a decoded-size cap, a deadline, and with truncation detected.

Count *decoded* bytes ourselves instead of trusting the HTTP stack, because a 10 MB gzip
body can inflate to 10 GB. We read the raw stream and inflate it with ``max_length`` so that no step
ever holds more than one :data:`PIECE` of output; a ``Content-Encoding: gzip, gzip`` chain is unwrapped one
bounded layer at a time. The stack reads at most 64 KiB from the network per step, so the bytes read before
we stop stay under the cap plus 64 KiB.
"""

from __future__ import annotations

import itertools
import time
import zlib
from collections.abc import Iterable, Iterator

import httpx

from crawler.exceptions import SourceError, TooLargeError

PIECE = 64 * 1024
#: Codings we advertise in Accept-Encoding (brotli/zstd are not pinned here, so we do not ask for them).
ACCEPT_ENCODING = "gzip, deflate"
MAX_CODING_LAYERS = 2


class _Inflater:
    """One gzip or deflate layer, producing output in pieces of at most :data:`PIECE` bytes."""

    def __init__(self, coding: str) -> None:
        self.coding = coding
        self._wbits = 16 + zlib.MAX_WBITS if coding in ("gzip", "x-gzip") else zlib.MAX_WBITS
        self._obj = zlib.decompressobj(self._wbits)
        self._started = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        while data and not self._obj.eof:
            piece = self._decompress(data)
            if piece:
                yield piece
            data = self._obj.unconsumed_tail

    def finish(self) -> Iterator[bytes]:
        """Drain output zlib still holds; a stream that never reached its end marker was cut short."""
        while not self._obj.eof:
            piece = self._obj.decompress(b"", PIECE)
            if not piece:
                raise SourceError(f"truncated {self.coding} body: compressed stream ended early")
            yield piece

    def _decompress(self, data: bytes) -> bytes:
        try:
            piece = self._obj.decompress(data, PIECE)
        except zlib.error as error:
            # Some servers send raw deflate without the zlib header (httpx and browsers accept both).
            if self._started or self._wbits != zlib.MAX_WBITS:
                raise SourceError(f"corrupt {self.coding} body: {error}") from error
            self._wbits = -zlib.MAX_WBITS
            self._obj = zlib.decompressobj(self._wbits)
            piece = self._obj.decompress(data, PIECE)
        self._started = True
        return piece


def _through(layer: _Inflater, pieces: Iterable[bytes]) -> Iterator[bytes]:
    for piece in pieces:
        yield from layer.feed(piece)


def _finish(layers: list[_Inflater]) -> Iterator[bytes]:
    """After the raw stream ends, drain each layer in turn through the layers outside it."""
    for index, layer in enumerate(layers):
        pieces: Iterable[bytes] = layer.finish()
        for outer in layers[index + 1 :]:
            pieces = _through(outer, pieces)
        yield from pieces


def _layers(content_encoding: str) -> list[_Inflater]:
    """Decoders in the order to apply them (the last coding listed was applied last by the server)."""
    codings = [part.strip().lower() for part in content_encoding.split(",") if part.strip()]
    codings = [coding for coding in codings if coding != "identity"]
    unknown = [coding for coding in codings if coding not in ("gzip", "x-gzip", "deflate")]
    if unknown:
        raise SourceError(f"unrequested content encoding {unknown[0]!r}")
    if len(codings) > MAX_CODING_LAYERS:
        raise SourceError(f"{len(codings)} stacked content encodings refused")
    return [_Inflater(coding) for coding in reversed(codings)]


def _content_length(response: httpx.Response) -> int | None:
    value = response.headers.get("content-length")
    if value is None:
        return None
    try:
        length = int(value)
    except ValueError as error:
        raise SourceError(f"bad Content-Length {value[:20]!r}") from error
    if length < 0:
        raise SourceError("negative Content-Length")
    return length


def read_body(response: httpx.Response, max_bytes: int, deadline: float) -> bytes:
    """Return the decoded body, or raise TooLargeError past ``max_bytes``, SourceError when truncated or late.

    ``deadline`` is a ``time.monotonic()`` value: a body that trickles in never outlives the request budget.
    """
    layers = _layers(response.headers.get("content-encoding", ""))
    declared = _content_length(response)
    if declared is not None and not layers and declared > max_bytes:
        raise TooLargeError(f"Content-Length {declared} over the {max_bytes}-byte cap")
    raw = _RawCounter(response, deadline)
    pieces: Iterable[bytes] = raw
    for layer in layers:
        pieces = _through(layer, pieces)
    body = bytearray()
    for piece in itertools.chain(pieces, _finish(layers)):
        body += piece
        if len(body) > max_bytes:
            raise TooLargeError(f"body over the {max_bytes}-byte cap (decoded) after {raw.count} raw bytes")
    if declared is not None and raw.count != declared:
        raise SourceError(f"truncated body: {raw.count} of {declared} bytes")
    return bytes(body)


class _RawCounter:
    """Iterates the raw (still encoded) stream, counting bytes and enforcing the deadline."""

    def __init__(self, response: httpx.Response, deadline: float) -> None:
        self._response = response
        self._deadline = deadline
        self.count = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._response.iter_raw():
            self.count += len(chunk)
            if time.monotonic() > self._deadline:
                raise SourceError(f"request deadline passed after {self.count} body bytes")
            yield chunk
