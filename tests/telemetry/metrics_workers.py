"""A stand-in for a prefork worker: the main process serves metrics, two forked children count.

``python -m tests.telemetry.metrics_workers --data-dir D --port P [--single]`` prints one JSON line once the
children have counted (``{"finished": pid, "running": pid}``), then serves until its stdin closes. With
``--single`` nothing forks and the process counts in memory, as beat and the CLI do.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
from pathlib import Path

from crawler.settings import Settings
from crawler.telemetry import metrics


def count_some(stored: int, reason: str) -> None:
    metrics.count_discovered(stored + 1)
    for _ in range(stored):
        metrics.count_stored()
        metrics.count_request("page", 200)
    metrics.count_request("search", 429)
    metrics.count_failed(reason)
    metrics.count_dropped("DedupePipeline")
    with metrics.parse_timer():
        pass


def stay(stored: int, reason: str, ready: multiprocessing.synchronize.Event, stop: multiprocessing.synchronize.Event
         ) -> None:
    count_some(stored, reason)
    ready.set()
    stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--single", action="store_true")
    args = parser.parse_args()
    settings = Settings(data_dir=args.data_dir, metrics_port=args.port)
    if args.single:
        count_some(3, "http_404")
        metrics.start_metrics_server(settings, addr="127.0.0.1")
        print(json.dumps({"single": True}), flush=True)
        sys.stdin.read()
        return
    metrics.prepare_multiprocess(settings)
    metrics.start_metrics_server(settings, addr="127.0.0.1")
    fork = multiprocessing.get_context("fork")
    finished = fork.Process(target=count_some, args=(2, "http_404"))
    finished.start()
    finished.join()
    ready, stop = fork.Event(), fork.Event()
    running = fork.Process(target=stay, args=(3, "not_a_report", ready, stop))
    running.start()
    ready.wait(30)
    print(json.dumps({"finished": finished.pid, "running": running.pid}), flush=True)
    sys.stdin.read()
    stop.set()
    running.join()


if __name__ == "__main__":
    main()
