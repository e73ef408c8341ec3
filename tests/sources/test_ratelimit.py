"""The fleet-wide rate limiter with real processes, on real Redis and on the local file backend.

The property checked is correctness, not speed: grant times (on the limiter's shared clock) never put more
than R grants in any one-second window, however many processes ask. Single-process tests of the file backend
run on a fake clock; the Redis backend reads Redis's own clock (``TIME``), which no test can move.
"""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import pytest
import redis

from crawler.exceptions import RateLimitedError, SourceError
from crawler.settings import Settings
from crawler.sources.ratelimit import (
    FileRateLimiter,
    RateLimiter,
    RedisRateLimiter,
    limiter_from_settings,
)
from tests.fakes.clock import FakeClock
from tests.sources.conftest import REDIS_URL

RATE = 10
PROCESSES = 4


def make_limiter(backend: str, where: str, rate: float = RATE, clock: FakeClock | None = None) -> RateLimiter:
    """A limiter on the shared state at ``where``; a file one on ``clock`` when given."""
    if backend == "redis":
        return RedisRateLimiter(REDIS_URL, rate, prefix=where)
    if clock is None:
        return FileRateLimiter(Path(where), rate)
    return FileRateLimiter(Path(where), rate, clock=clock, sleep=clock.sleep)


def _hammer(backend: str, where: str, until: float, results: multiprocessing.Queue) -> None:
    limiter = make_limiter(backend, where)
    grants = []
    while time.time() < until:
        grants.append(limiter.acquire())
    results.put(grants)


@pytest.fixture(params=["redis", "file"])
def limiter_state(request: pytest.FixtureRequest, redis_prefix: str, tmp_path: Path) -> tuple[str, str]:
    """(backend name, its shared location): a unique Redis prefix or a state file."""
    return (request.param, redis_prefix if request.param == "redis" else str(tmp_path / "limiter.json"))


def test_processes_share_one_budget_never_above_rate_per_second(limiter_state: tuple[str, str]) -> None:
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    until = time.time() + 2.5
    workers = [context.Process(target=_hammer, args=(*limiter_state, until, results)) for _ in range(PROCESSES)]
    for worker in workers:
        worker.start()
    per_process = [results.get(timeout=30) for _ in workers]
    for worker in workers:
        worker.join(10)
    grants = sorted(grant for grants in per_process for grant in grants)
    assert all(per_process), "every process got requests through"
    windows = [sum(1 for later in grants if start <= later < start + 1.0) for start in grants]
    assert max(windows) <= RATE, f"{max(windows)} grants in one second at rate {RATE}"
    assert len(grants) > RATE


def test_pause_holds_back_another_process(limiter_state: tuple[str, str]) -> None:
    clock = FakeClock()
    first, second = make_limiter(*limiter_state, clock=clock), make_limiter(*limiter_state, clock=clock)
    before = first.acquire()
    second.pause(0.6)
    after = first.acquire()
    assert round(after - before, 6) >= 0.6


def test_wait_beyond_max_wait_raises_instead_of_blocking(limiter_state: tuple[str, str]) -> None:
    limiter = make_limiter(*limiter_state, clock=FakeClock())
    limiter.pause(300)
    with pytest.raises(RateLimitedError) as caught:
        limiter.acquire(max_wait=0.1)
    assert 290 < caught.value.retry_after <= 300


def test_file_grants_are_one_interval_apart_on_its_clock(tmp_path: Path) -> None:
    clock = FakeClock()
    limiter = make_limiter("file", str(tmp_path / "limiter.json"), clock=clock)
    grants = [limiter.acquire() for _ in range(3)]
    assert grants[1] - grants[0] == pytest.approx(limiter.interval)
    assert grants[2] - grants[1] == pytest.approx(limiter.interval)
    assert clock.slept == [pytest.approx(limiter.interval)] * 2


def test_an_http_date_retry_after_pauses_until_that_time(tmp_path: Path) -> None:
    clock = FakeClock()
    limiter = make_limiter("file", str(tmp_path / "limiter.json"), clock=clock)
    assert limiter.pause_until(clock() + 42) == pytest.approx(42)


def test_hostile_retry_after_is_capped_at_an_hour(limiter_state: tuple[str, str]) -> None:
    assert make_limiter(*limiter_state).pause(10**9) <= 3600


def test_unreachable_redis_is_a_transient_error_not_a_free_pass() -> None:
    limiter = RedisRateLimiter("redis://127.0.0.1:1/0", RATE, prefix="fundcrawl-test:nowhere")
    with pytest.raises(SourceError, match="rate limiter unavailable"):
        limiter.acquire()


def test_settings_choose_redis_when_the_fleet_has_one(tmp_path: Path, redis_prefix: str) -> None:
    shared = Settings(data_dir=tmp_path, redis_url=REDIS_URL, politeness_key_prefix=redis_prefix, rate_limit=5)
    local = Settings(data_dir=tmp_path, rate_limit=5, broker_url=None, redis_url=None)
    assert isinstance(limiter_from_settings(shared), RedisRateLimiter)
    limiter = limiter_from_settings(local)
    assert isinstance(limiter, FileRateLimiter) and limiter.path.is_relative_to(tmp_path)


#: How far the wall clock steps back in the clock-step tests: far beyond any interval or pause.
STEP_BACK = 3 * 3600.0


def test_file_limiter_after_the_clock_stepped_back_waits_only_what_was_left(tmp_path: Path) -> None:
    clock = FakeClock()
    limiter = make_limiter("file", str(tmp_path / "limiter.json"), clock=clock)
    limiter.acquire()
    limiter.pause(30)
    clock.advance(-STEP_BACK)
    with pytest.raises(RateLimitedError) as caught:
        limiter.acquire(max_wait=0.1)
    assert caught.value.retry_after == pytest.approx(30)
    granted = limiter.acquire()
    assert granted == pytest.approx(clock()) and sum(clock.slept) == pytest.approx(30)


def test_file_limiter_after_the_clock_stepped_back_grants_one_interval_later(tmp_path: Path) -> None:
    clock = FakeClock()
    limiter = make_limiter("file", str(tmp_path / "limiter.json"), clock=clock)
    first = limiter.acquire()
    clock.advance(-STEP_BACK)
    second = limiter.acquire()
    assert second - (first - STEP_BACK) == pytest.approx(limiter.interval)
    assert clock.slept == [pytest.approx(limiter.interval)]


def test_redis_limiter_undoes_a_backward_step_of_the_clock(redis_prefix: str) -> None:
    # Redis's clock cannot be stepped here: the state is written as a Redis whose clock stood 3 h ahead left it.
    client = redis.Redis.from_url(REDIS_URL)
    seconds, micros = client.time()
    ahead = seconds + micros / 1e6 + STEP_BACK
    client.hset(f"{redis_prefix}:ratelimit", mapping={"tat": ahead + 0.5, "paused": ahead + 2, "at": ahead})
    limiter = make_limiter("redis", redis_prefix)
    with pytest.raises(RateLimitedError) as caught:
        limiter.acquire(max_wait=0.1)
    assert 1 < caught.value.retry_after <= 2
    time.sleep(caught.value.retry_after)
    limiter.acquire(max_wait=0.5)
