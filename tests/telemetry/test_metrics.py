"""The Prometheus endpoint, scraped over HTTP, adds up counters from every worker child."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.constants import REPO


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Callable[..., tuple[int, dict[str, Any]]]]:
    port = _free_port()
    started: list[subprocess.Popen[str]] = []

    def start(*flags: str) -> tuple[int, dict[str, Any]]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.telemetry.metrics_workers", "--data-dir", str(tmp_path),
             "--port", str(port), *flags], cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        started.append(proc)
        assert proc.stdout is not None
        return port, json.loads(proc.stdout.readline())

    yield start
    for proc in started:
        proc.communicate(timeout=30)


def test_endpoint_adds_up_counters_of_finished_and_running_children(workers, tmp_path):
    port, pids = workers()
    samples = _scrape(port)

    assert samples[("fundcrawl_reports_stored_total", ())] == 5
    assert samples[("fundcrawl_reports_discovered_total", ())] == 7
    assert samples[("fundcrawl_reports_failed_total", (("reason", "http_404"),))] == 1
    assert samples[("fundcrawl_reports_failed_total", (("reason", "not_a_report"),))] == 1
    assert samples[("fundcrawl_site_requests_total", (("kind", "page"), ("status", "200")))] == 5
    assert samples[("fundcrawl_site_requests_total", (("kind", "search"), ("status", "429")))] == 2
    assert samples[("fundcrawl_pipeline_drops_total", (("pipeline", "DedupePipeline"),))] == 2
    assert samples[("fundcrawl_parse_seconds_count", ())] == 2

    # The finished child's files were folded into one archive; the running child still has its own.
    folder = tmp_path / "metrics"
    names = {path.name for path in folder.glob("*/*.db")}
    assert f"counter_{pids['finished']}.db" not in names and "counter_archive.db" in names
    assert f"counter_{pids['running']}.db" in names
    assert _scrape(port)[("fundcrawl_reports_stored_total", ())] == 5


def test_single_process_serves_its_own_counters(workers):
    port, _ = workers("--single")
    samples = _scrape(port)
    assert samples[("fundcrawl_reports_stored_total", ())] == 3
    assert samples[("fundcrawl_parse_seconds_count", ())] == 1
