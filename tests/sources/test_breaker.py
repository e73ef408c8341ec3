"""The fleet-wide circuit breaker on real Redis and on the file backend: open, half-open trial, close."""

from __future__ import annotations

import logging
import multiprocessing
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from crawler.exceptions import CircuitOpenError
from crawler.settings import Settings
from crawler.sources.breaker import (
    CircuitBreaker,
    FileCircuitBreaker,
    OnOpen,
    RedisCircuitBreaker,
    breaker_from_settings,
)
from tests.sources.conftest import REDIS_URL

COOLDOWN = 0.5
Factory = Callable[..., CircuitBreaker]


@pytest.fixture(params=["redis", "file"])
def make_breaker(request: pytest.FixtureRequest, redis_prefix: str, tmp_path: Path) -> Factory:
    """Build breakers that share one state, as breakers in different processes do."""

    def make(on_open: OnOpen | None = None, cooldown: float = COOLDOWN) -> CircuitBreaker:
        if request.param == "redis":
            return RedisCircuitBreaker(REDIS_URL, redis_prefix, 3, 60, cooldown, on_open, trial_lease=30)
        return FileCircuitBreaker(tmp_path / "breaker.json", 3, 60, cooldown, on_open, trial_lease=30)

    return make


def test_opens_at_the_threshold_for_everyone_and_says_why(make_breaker: Factory, caplog) -> None:
    opened: list[tuple[str, float]] = []
    worker_a = make_breaker(lambda why, seconds: opened.append((why, seconds)))
    worker_b = make_breaker()
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


def test_half_open_lets_one_trial_through_and_success_closes(make_breaker: Factory) -> None:
    worker_a, worker_b = make_breaker(), make_breaker()
    _open(worker_a)
    time.sleep(COOLDOWN + 0.1)
    assert worker_a.check() is True
    with pytest.raises(CircuitOpenError):
        worker_b.check()
    worker_a.record_success()
    assert worker_b.check() is False
    assert worker_a.check() is False


def test_throttled_trial_reopens_at_once(make_breaker: Factory) -> None:
    opened: list[float] = []
    worker = make_breaker(lambda why, seconds: opened.append(seconds))
    _open(worker)
    time.sleep(COOLDOWN + 0.1)
    assert worker.check() is True
    worker.record_throttle(429)
    with pytest.raises(CircuitOpenError):
        worker.check()
    assert len(opened) == 2


def test_throttles_outside_the_window_do_not_add_up(tmp_path: Path) -> None:
    breaker = FileCircuitBreaker(tmp_path / "b.json", threshold=3, window=0.3, cooldown=60)
    for _ in range(4):
        breaker.record_throttle(429)
        time.sleep(0.2)
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
