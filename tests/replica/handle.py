"""``Replica``: a Python handle on a replica, in this process (a thread) or another one (a URL or a child)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Self

import httpx

from tests.constants import REPO
from tests.replica.corpus import load_corpus
from tests.replica.server import ReplicaServer
from tests.replica.state import ReplicaState
from tests.replica.synthetic import Partition


def build_server(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    corpus: str | Path | None = None,
    generate: int = 0,
    seed: int = 0,
    partitions: list[str] | None = None,
) -> ReplicaServer:
    """A bound (not yet serving) replica with the corpus loaded and ``generate`` synthetic reports."""
    state = ReplicaState(seed)
    if corpus:
        load_corpus(state.catalogue, Path(corpus))
    parts = [Partition.parse(text) for text in (partitions or ["FB030010:2025"])]
    for index, partition in enumerate(parts):
        share = generate // len(parts) + (1 if index < generate % len(parts) else 0)
        if share:
            state.publisher.publish(share, partition)
    return ReplicaServer((host, port), state)


class Replica:
    """Start a replica in a thread (port 0 by default), or attach to a running one with ``url=``.

    Use as a context manager. Every method wraps one ``/_replica/`` control call, so the same code drives a
    replica in this process, in a child process (:meth:`spawn`) or anywhere else.
    """

    def __init__(
        self,
        *,
        url: str | None = None,
        corpus: str | Path | None = None,
        generate: int = 0,
        seed: int = 0,
        partitions: list[str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.server: ReplicaServer | None = None
        self.process: subprocess.Popen[str] | None = None
        self._thread: threading.Thread | None = None
        if url is None:
            self.server = build_server(host, port, corpus=corpus, generate=generate, seed=seed,
                                       partitions=partitions)
            url = self.server.state.base_url
        self.url = url.rstrip("/")
        self._client = httpx.Client(base_url=self.url + "/_replica/", timeout=120, trust_env=False)

    @classmethod
    def spawn(cls, *args: str, python: str = sys.executable, quiet: bool = False) -> Replica:
        """Run ``python -m tests.replica ARGS`` as a child process and attach to the URL it prints.

        ``quiet`` drops the child's stderr (the tracebacks of clients that reset their connections)."""
        process = subprocess.Popen(
            [python, "-m", "tests.replica", "--port", "0", *args],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL if quiet else None, text=True,
            start_new_session=True,
        )
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        if not line.startswith("http://"):
            process.kill()
            raise RuntimeError(f"replica process did not start: {line!r}")
        replica = cls(url=line)
        replica.process = process
        return replica

    # --- lifecycle --------------------------------------------------------------------------------------

    def start(self) -> None:
        """Serve the in-thread replica (no-op when attached to a URL)."""
        if self.server is not None and self._thread is None:
            self._thread = threading.Thread(target=self.server.serve_forever, name="replica", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Stop the in-thread server or the child process (SIGTERM, then wait)."""
        self._client.close()
        if self.server is not None and self._thread is not None:
            self.server.state.stop.set()
            self.server.shutdown()
            self.server.server_close()
            self._thread.join(10)
            self._thread = None
        if self.process is not None:
            os.kill(self.process.pid, signal.SIGTERM)
            self.process.wait(10)
            if self.process.stdout:
                self.process.stdout.close()
            self.process = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- control API ------------------------------------------------------------------------------------

    def _call(self, method: str, route: str, body: dict[str, Any] | None = None,
              params: dict[str, Any] | None = None) -> Any:
        response = self._client.request(method, route, json=body, params=params)
        if response.status_code >= 400:
            raise RuntimeError(f"replica {method} {route}: {response.status_code} {response.text}")
        return response.json()

    def health(self) -> dict[str, Any]:
        return self._call("GET", "health")

    def config(self) -> dict[str, Any]:
        return self._call("GET", "config")

    def set_config(self, **changes: Any) -> dict[str, Any]:
        """Change switches: error_status, unknown_id_status, stall_seconds, retry_after, ... (state.Config)."""
        return self._call("POST", "config", changes)

    def set_order(self, mode: str, **drift: Any) -> dict[str, Any]:
        """``stable``, ``shuffle`` or ``drift`` (options inserts_per_call, max_inserts, reshuffle)."""
        return self._call("POST", "order", {"mode": mode, **drift})

    def set_faults(self, rate: float, kinds: dict[str, float] | list[str] | None = None, *,
                   paths: list[str] | None = None, max_failures: int = 2, seed: int = 0) -> dict[str, Any]:
        """A transient fault mix on ``rate`` of the URLs of ``paths`` (search, redirect, page)."""
        body: dict[str, Any] = {"rate": rate, "max_failures": max_failures, "seed": seed}
        if kinds:
            body["kinds"] = kinds
        if paths:
            body["paths"] = paths
        return self._call("POST", "faults", body)

    def clear_faults(self) -> dict[str, Any]:
        return self._call("DELETE", "faults")

    def set_report_fault(self, upload_info_id: int, fault: str | None, *, attempts: int = 2,
                         on: str = "page") -> dict[str, Any]:
        """A per-report fault; transient ones spoil the first ``attempts`` requests of its page (or redirect)."""
        return self._call("POST", f"reports/{upload_info_id}/fault", {"fault": fault, "attempts": attempts, "on": on})

    def correct(self, upload_info_id: int, mode: str = "in_place", *, days_later: int = 1) -> int:
        """Correct a report: ``in_place`` changes its page behind the same id; ``new_id`` lists a corrected
        report for the same fund, type and year, sent ``days_later`` days after it. Returns the id carrying it."""
        body = {"mode": mode, "days_later": days_later}
        return int(self._call("POST", f"reports/{upload_info_id}/correct", body)["upload_info_id"])

    def publish(self, count: int, report_type_code: str = "FB030010", report_year: str = "2025", *,
                fund_type: str = "", send_from: str | None = None, send_to: str | None = None,
                faults: dict[str, int] | None = None, rate: float = 0.0) -> list[int]:
        """Add ``count`` generated reports to a partition; returns their uploadInfoIds.

        With ``rate`` > 0 they are published in the background, ``rate`` per second, and the list is empty
        (read them from :meth:`catalogue` later).
        """
        body = {"count": count, "report_type_code": report_type_code, "report_year": report_year,
                "fund_type": fund_type, "send_from": send_from, "send_to": send_to, "faults": faults or {},
                "rate": rate}
        return self._call("POST", "publish", body)["ids"]

    def catalogue(self, ids: list[int] | None = None) -> list[dict[str, Any]]:
        return self._call("GET", "catalogue", params=_ids(ids))["reports"]

    def oracle(self, ids: list[int] | None = None) -> dict[int, dict[str, Any]]:
        """uploadInfoId -> {sha256, state, reason, also_accepted, fault, ...}."""
        reports = self._call("GET", "oracle", params=_ids(ids))["reports"]
        return {int(key): value for key, value in reports.items()}

    def expected(self, upload_info_id: int) -> dict[str, Any]:
        """The generator's fundcrawl.report/1 document for a generated report."""
        return self._call("GET", f"expected/{upload_info_id}")

    def log_position(self) -> int:
        """How many requests the log holds: pass it to :meth:`log` later to read only what came after."""
        return int(self.health()["requests"])

    def log(self, since: int = 0) -> list[dict[str, Any]]:
        return self._call("GET", "log", params={"since": since})["entries"]

    def reset_log(self) -> None:
        self._call("DELETE", "log")

    def reset(self) -> None:
        self._call("POST", "reset")


def _ids(ids: list[int] | None) -> dict[str, str]:
    return {"ids": ",".join(map(str, ids))} if ids else {}
