"""Everything one replica knows: catalogue, switches, faults and the request log, shared by handler threads."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from typing import Any

from tests.replica.catalogue import Catalogue
from tests.replica.faults import FaultState
from tests.replica.synthetic import Partition, Publisher

ORDER_MODES = ("stable", "shuffle", "drift")


@dataclass
class Config:
    """Switches the control API can change at run time (``POST /_replica/config``)."""

    #: status of the HTML "system error" page for a missing or bad aoData (unknown upstream)
    error_status: int = 200
    #: status for an unknown instanceid (unknown upstream)
    unknown_id_status: int = 404
    #: Content-Type of the search JSON (not recorded upstream)
    search_content_type: str = "application/json;charset=UTF-8"
    #: seconds a "stall" fault sleeps before answering; set above the client's read timeout
    stall_seconds: float = 5.0
    #: "trickle_headers"/"always_trickle": seconds between two header lines, and how long the trickle lasts
    #: before the connection is closed with the headers still unfinished
    trickle_interval: float = 2.0
    trickle_seconds: float = 600.0
    #: Retry-After seconds sent with a 429
    retry_after: int = 1
    #: order of search results: stable (send date desc), shuffle (fresh order per call) or drift
    order: str = "stable"
    #: drift: rows inserted into the queried partition per search call, up to drift_max_inserts in all
    drift_inserts_per_call: int = 1
    drift_max_inserts: int = 20
    #: drift: also reshuffle the order on every call
    drift_reshuffle: bool = False
    #: decoded size of the gzip bombs and size of the huge body
    bomb_decoded_bytes: int = 1 << 30
    huge_body_bytes: int = 50 * 1024 * 1024
    #: hops of the redirect_chain fault (the first 302 included)
    redirect_chain_hops: int = 6
    #: nesting depth of the deep_nesting fault
    nesting_depth: int = 100_000
    #: answer If-None-Match / If-Modified-Since on report pages with 304, as the site's static files do
    conditional_requests: bool = True

    def update(self, data: dict[str, Any]) -> None:
        """Apply ``data``; unknown keys or a bad order mode raise ``ValueError`` before anything changes."""
        names = {f.name: f.type for f in fields(self)}
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise ValueError(f"unknown config keys: {unknown}")
        if "order" in data and data["order"] not in ORDER_MODES:
            raise ValueError(f"order must be one of {ORDER_MODES}")
        converted = {key: _convert(getattr(self, key), value) for key, value in data.items()}
        for key, value in converted.items():
            setattr(self, key, value)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _convert(current: Any, value: Any) -> Any:
    if isinstance(current, bool):
        return bool(value)
    return type(current)(value)


class RequestLog:
    """Every request with its outcome and fault decision, for tests that count."""

    def __init__(self) -> None:
        self._entries: list[dict[str, Any]] = []
        self._lock = threading.Condition()
        self._in_flight = 0

    @contextmanager
    def recording(self, entry: Callable[[], dict[str, Any]]) -> Iterator[None]:
        """Answer a request inside this block: it counts as in flight from before the client can have its answer
        until ``entry()`` (called at the end, even when the answer failed) is in the log, so :meth:`settle` waits
        for it."""
        with self._lock:
            self._in_flight += 1
        try:
            yield
        finally:
            with self._lock:
                self._entries.append({**entry(), "seq": len(self._entries)})
                self._in_flight -= 1
                self._lock.notify_all()

    def settle(self, timeout: float = 0.5) -> None:
        """Wait (briefly) for requests still being answered, so a client that just got its answer sees it
        logged; stalled or endless answers only delay this by ``timeout``."""
        with self._lock:
            self._lock.wait_for(lambda: self._in_flight <= 0, timeout)

    def since(self, start: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
        with self._lock:
            end = len(self._entries) if limit is None else start + limit
            return list(self._entries[start:end])

    def __len__(self) -> int:
        return len(self._entries)

    def reset(self) -> None:
        with self._lock:
            self._entries.clear()


class ReplicaState:
    """The replica's shared state. ``stop`` wakes stalled and streaming handlers on shutdown."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.catalogue = Catalogue()
        self.publisher = Publisher(self.catalogue, seed)
        self.faults = FaultState()
        self.config = Config()
        self.log = RequestLog()
        self.stop = threading.Event()
        self.started = time.time()
        self.search_calls = 0
        self.drift_inserted = 0
        self.base_url = ""
        self._sha_cache: dict[tuple[int, str | None], str] = {}
        self.sha_lock = threading.Lock()

    def publish_at_rate(self, count: int, rate: float, partition: Partition, options: dict[str, Any]) -> None:
        """Publish ``count`` reports one by one at ``rate`` per second in a background thread (soak runs)."""

        def run() -> None:
            for _ in range(count):
                if self.stop.wait(1 / rate):
                    return
                self.publisher.publish(1, partition, **options)

        threading.Thread(target=run, name="replica-publisher", daemon=True).start()

    def next_search_call(self) -> int:
        with self.catalogue.lock:
            self.search_calls += 1
            return self.search_calls

    def cached_sha(self, key: tuple[int, str | None]) -> str | None:
        """The body sha256 of (uploadInfoId, fault), once computed."""
        return self._sha_cache.get(key)

    def remember_sha(self, key: tuple[int, str | None], sha: str) -> None:
        with self.sha_lock:
            self._sha_cache[key] = sha

    def forget_sha(self, upload_info_id: int) -> None:
        """The page of this report changed: hash it again on the next request."""
        with self.sha_lock:
            for key in [key for key in self._sha_cache if key[0] == upload_info_id]:
                del self._sha_cache[key]

    def reset(self) -> None:
        """Forget requests, attempt counters, faults and switches; keep the catalogue."""
        self.log.reset()
        self.faults.reset()
        self.config = Config()
        self.search_calls = 0
        self.drift_inserted = 0
