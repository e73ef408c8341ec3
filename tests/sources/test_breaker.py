"""The fleet-wide circuit breaker on real Redis and on the file backend: open, half-open trial, close.

The file backend runs on a fake clock. The Redis backend reads Redis's own clock (``TIME``), which no test can
move, so its cooldowns are short and really waited out.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from crawler.exceptions import CircuitOpenError
from crawler.settings import Settings
from crawler.sources.breaker import (
    CircuitBreaker,
    FileCircuitBreaker,
    OnOpen,
    RedisCircuitBreaker,
    breaker_from_settings,
)
from tests.fakes.clock import FakeClock
from tests.sources.conftest import REDIS_URL

COOLDOWN = 0.5


@dataclass
class Breakers:
    """Breakers that share one state, as breakers in different processes do, and the clock they share."""

    make: Callable[..., CircuitBreaker]
    pass_time: Callable[[float], None]


@pytest.fixture(params=["redis", "file"])
def breakers(request: pytest.FixtureRequest, redis_prefix: str, tmp_path: Path) -> Breakers:
    if request.param == "redis":
        def make_redis(on_open: OnOpen | None = None) -> CircuitBreaker:
            return RedisCircuitBreaker(REDIS_URL, redis_prefix, 3, 60, COOLDOWN, on_open, trial_lease=30)

        return Breakers(make_redis, time.sleep)
    clock = FakeClock()

    def make_file(on_open: OnOpen | None = None) -> CircuitBreaker:
        return FileCircuitBreaker(tmp_path / "breaker.json", 3, 60, COOLDOWN, on_open, trial_lease=30, clock=clock)

    return Breakers(make_file, clock.advance)


def test_opens_at_the_threshold_for_everyone_and_says_why(breakers: Breakers, caplog) -> None:
    opened: list[tuple[str, float]] = []
    worker_a = breakers.make(lambda why, seconds: opened.append((why, seconds)))
    worker_b = breakers.make()
    worker_a.record_throttle(429)
    worker_b.record_throttle(403)
    assert worker_a.check() is False
    with caplog.at_level(logging.WARNING, logger="crawler.sources.breaker"):
        worker_a.record_throttle(429)
    for worker in (worker_a, worker_b):
        with pytest.raises(CircuitOpenError) as caught:
            worker.check()
        assert 0 < caught.value.reopen_in <= COOLDOWN
    assert len(opened) == 1 and opened[0][1] == pytest.approx(COOLDOWN)
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "opened" in warning.getMessage() and "HTTP 429" in warning.getMessage()


def _open(breaker: CircuitBreaker) -> None:
    for _ in range(3):
        breaker.record_throttle(429)


def test_half_open_lets_one_trial_through_and_success_closes(breakers: Breakers) -> None:
    worker_a, worker_b = breakers.make(), breakers.make()
    _open(worker_a)
    breakers.pass_time(COOLDOWN + 0.1)
    assert worker_a.check() is True
    with pytest.raises(CircuitOpenError):
        worker_b.check()
    worker_a.record_success()
    assert worker_b.check() is False
    assert worker_a.check() is False


def test_throttled_trial_reopens_at_once(breakers: Breakers) -> None:
    opened: list[float] = []
    worker = breakers.make(lambda why, seconds: opened.append(seconds))
    _open(worker)
    breakers.pass_time(COOLDOWN + 0.1)
    assert worker.check() is True
    worker.record_throttle(429)
    with pytest.raises(CircuitOpenError):
        worker.check()
    assert len(opened) == 2


def test_throttles_outside_the_window_do_not_add_up(tmp_path: Path) -> None:
    clock = FakeClock()
    breaker = FileCircuitBreaker(tmp_path / "b.json", threshold=3, window=0.3, cooldown=60, clock=clock)
    for _ in range(4):
        breaker.record_throttle(429)
        clock.advance(0.2)
    assert breaker.check() is False


def _open_in_child(prefix: str) -> None:
    _open(RedisCircuitBreaker(REDIS_URL, prefix, 3, 60, 60))


def test_breaker_opened_by_another_process_stops_this_one(redis_prefix: str) -> None:
    child = multiprocessing.get_context("fork").Process(target=_open_in_child, args=(redis_prefix,))
    child.start()
    child.join(20)
    with pytest.raises(CircuitOpenError):
        RedisCircuitBreaker(REDIS_URL, redis_prefix, 3, 60, 60).check()


def test_settings_choose_the_backend(tmp_path: Path, redis_prefix: str) -> None:
    shared = Settings(data_dir=tmp_path, redis_url=REDIS_URL, politeness_key_prefix=redis_prefix)
    assert isinstance(breaker_from_settings(shared), RedisCircuitBreaker)
    assert isinstance(breaker_from_settings(Settings(data_dir=tmp_path, broker_url=None, redis_url=None)), FileCircuitBreaker)


#: How far the wall clock steps back in the clock-step tests: far beyond the cooldown and the trial lease.
STEP_BACK = 3 * 3600.0


def test_file_breaker_open_when_the_clock_stepped_back_reopens_after_its_cooldown(tmp_path: Path) -> None:
    clock = FakeClock()
    breaker = FileCircuitBreaker(tmp_path / "b.json", threshold=3, window=60, cooldown=60, clock=clock)
    _open(breaker)
    clock.advance(-STEP_BACK)
    with pytest.raises(CircuitOpenError) as caught:
        breaker.check()
    assert caught.value.reopen_in == pytest.approx(60)
    clock.advance(61)
    assert breaker.check() is True
    clock.advance(-STEP_BACK)
    with pytest.raises(CircuitOpenError) as trial:  # the trial's lease is kept, not stretched by the step
        breaker.check()
    assert trial.value.reopen_in == pytest.approx(60)


def test_file_breaker_throttles_before_a_backward_step_leave_the_window_in_its_time(tmp_path: Path) -> None:
    clock = FakeClock()
    breaker = FileCircuitBreaker(tmp_path / "b.json", threshold=3, window=10, cooldown=60, clock=clock)
    breaker.record_throttle(429)
    breaker.record_throttle(429)
    clock.advance(-STEP_BACK)
    assert breaker.check() is False
    clock.advance(11)
    breaker.record_throttle(429)
    assert breaker.check() is False, "the throttles before the step left the window 10 s after it"


def test_redis_breaker_undoes_a_backward_step_of_the_clock(redis_prefix: str) -> None:
    # Redis's clock cannot be stepped here: the state is written as a Redis whose clock stood 3 h ahead left it.
    client = redis.Redis.from_url(REDIS_URL)
    seconds, micros = client.time()
    ahead = seconds + micros / 1e6 + STEP_BACK
    client.hset(f"{redis_prefix}:breaker",
                mapping={"open_until": ahead + COOLDOWN, "half_open": "0", "trial_until": 0, "at": ahead})
    breaker = RedisCircuitBreaker(REDIS_URL, redis_prefix, 3, 60, COOLDOWN, trial_lease=30)
    with pytest.raises(CircuitOpenError) as caught:
        breaker.check()
    assert 0 < caught.value.reopen_in <= COOLDOWN
    time.sleep(caught.value.reopen_in + 0.05)
    assert breaker.check() is True
