"""Politeness bench: N worker processes share one Redis rate limit of R requests/second.

Starts the site replica as a child process, runs ``--processes`` workers that each download reports in a
loop through :class:`crawler.sources.EidClient` (every request, the 302 and the page, passes the shared
limiter) for ``--seconds``, then reads the replica's request log and prints JSON:

    configured_rate, achieved_rate, min/max over sliding 10-second windows, max over sliding 1-second
    windows, requests, per-process fetch counts and errors.

Run: ``.venv/bin/python bench/politeness.py --rate 5 --processes 4 --seconds 30``
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
import uuid
from multiprocessing.synchronize import Barrier
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from crawler.exceptions import CrawlerError
from crawler.sources import EidClient, RedisCircuitBreaker, RedisRateLimiter
from tests.replica import Replica

USER_AGENT = "fundcrawl-bench/1 (+https://github.com/fundcrawl/fundcrawl)"


def worker(index: int, args: argparse.Namespace, url: str, prefix: str, ids: list[int], ready: Barrier,
           results: multiprocessing.Queue) -> None:
    """Fetch reports round-robin for ``args.seconds`` after every worker is up; report (fetches, errors)."""
    limiter = RedisRateLimiter(args.redis_url, args.rate, prefix)
    breaker = RedisCircuitBreaker(args.redis_url, prefix, threshold=5, window=60, cooldown=300)
    fetched, errors = 0, {}
    with EidClient(url, USER_AGENT, limiter=limiter, breaker=breaker) as client:
        ready.wait()
        until, step = time.time() + args.seconds, index
        while time.time() < until:
            try:
                client.fetch_report(ids[step % len(ids)])
                fetched += 1
            except CrawlerError as error:
                errors[type(error).__name__] = errors.get(type(error).__name__, 0) + 1
            step += args.processes
    results.put((index, fetched, errors))


def sliding_counts(times: list[float], width: float, step: float) -> list[float]:
    """Requests in [t, t + width) for t from the first request to the last full window, every ``step``."""
    counts, start, last = [], times[0], times[-1] - width
    low = high = 0
    while start <= last + 1e-9:
        while low < len(times) and times[low] < start:
            low += 1
        while high < len(times) and times[high] < start + width:
            high += 1
        counts.append(high - low)
        start += step
    return counts


def max_in_any_window(times: list[float], width: float) -> int:
    """The most requests in any half-open window [t, t + width), t ranging over every request time."""
    best, high = 0, 0
    for low, start in enumerate(times):
        while high < len(times) and times[high] < start + width:
            high += 1
        best = max(best, high - low)
    return best


def summarise(times: list[float], args: argparse.Namespace, workers: list[tuple]) -> dict:
    ten = [count / 10.0 for count in sliding_counts(times, 10.0, 0.1)]
    return {
        "configured_rate": args.rate,
        "processes": args.processes,
        "seconds": round(times[-1] - times[0], 2),
        "requests": len(times),
        "achieved_rate": round((len(times) - 1) / (times[-1] - times[0]), 3),
        "min_10s_window_rate": min(ten),
        "max_10s_window_rate": max(ten),
        "max_requests_in_any_1s_window": max_in_any_window(times, 1.0),
        "within_0.9R_1.0R_every_10s": min(ten) >= 0.9 * args.rate and max(ten) <= args.rate,
        "fetches_per_process": {index: fetched for index, fetched, _ in sorted(workers)},
        "errors": {index: errors for index, _, errors in sorted(workers) if errors},
    }


def run(args: argparse.Namespace) -> dict:
    prefix = f"fundcrawl-bench:{uuid.uuid4().hex}"
    replica = Replica.spawn("--generate", "200", "--seed", "1", python=sys.executable)
    try:
        ids = [entry["upload_info_id"] for entry in replica.catalogue()]
        replica.reset_log()
        context = multiprocessing.get_context("spawn")
        results = context.Queue()
        ready = context.Barrier(args.processes)
        procs = [context.Process(target=worker, args=(i, args, replica.url, prefix, ids, ready, results))
                 for i in range(args.processes)]
        for proc in procs:
            proc.start()
        workers = [results.get(timeout=args.seconds + 120) for _ in procs]
        for proc in procs:
            proc.join(30)
        times = sorted(entry["ts"] for entry in replica.log())
    finally:
        replica.close()
        store = redis.Redis.from_url(args.redis_url, socket_timeout=5)
        for key in store.scan_iter(match=f"{prefix}:*"):
            store.delete(key)
    return summarise(times, args, workers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=5.0, help="requests/second for the whole fleet")
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    print(json.dumps(run(parser.parse_args()), indent=2))


if __name__ == "__main__":
    main()
