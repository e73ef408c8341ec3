"""One politeness budget for the whole deployment: ``rate`` requests per second, shared by every process.

Celery's ``rate_limit`` is per worker, so the budget lives in shared state instead. With Redis it is
a Lua script that reads Redis's own clock (``TIME``), so machines with skewed clocks still share one
schedule; without Redis it is a file under the data dir locked with ``fcntl`` (one machine, every process).

The bucket holds one token (burst 1): a grant sets the earliest next grant to ``now + interval``, so grants
are at least ``interval`` apart whatever the number of processes. ``interval`` is ``1 / (rate * (1 -
headroom))``: the small headroom absorbs the jitter between our grant and the request reaching the site,
so the site never sees more than ``rate`` requests in any one-second window.

A 429 or ``Retry-After`` calls :meth:`RateLimiter.pause`, which holds back every process, not just one.

Both backends record when the state was last used (``at``): when the clock now reads earlier than that, it
stepped back, and the next grant and the pause are moved back by the step, so a clock stepped back by hours
does not stall crawling for hours.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path

from crawler.exceptions import RateLimitedError
from crawler.settings import Settings
from crawler.sources.coordination import (
    RedisScript,
    connect_redis,
    locked_state,
    state_path,
    undo_backward_step,
)

log = logging.getLogger(__name__)

#: A hostile or mistaken Retry-After never stops the fleet for longer than this.
MAX_PAUSE = 3600.0
DEFAULT_HEADROOM = 0.04

#: Reads the current time in epoch seconds (``time.time``; tests pass a fake one).
Clock = Callable[[], float]
#: Waits a number of seconds (``time.sleep``; a fake clock's sleep moves its time on instead).
Sleep = Callable[[float], None]

_ACQUIRE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local interval = tonumber(ARGV[1])
local tat = tonumber(redis.call('HGET', KEYS[1], 'tat') or '0')
local paused = tonumber(redis.call('HGET', KEYS[1], 'paused') or '0')
local at = tonumber(redis.call('HGET', KEYS[1], 'at') or '0')
if at > now then
  if tat > 0 then tat = tat - (at - now) end
  if paused > 0 then paused = paused - (at - now) end
  redis.call('HSET', KEYS[1], 'tat', string.format('%.6f', tat), 'paused', string.format('%.6f', paused))
end
redis.call('HSET', KEYS[1], 'at', string.format('%.6f', now))
local ready = math.max(tat, paused)
if now < ready then
  return {0, string.format('%.6f', ready - now)}
end
redis.call('HSET', KEYS[1], 'tat', string.format('%.6f', now + interval))
redis.call('PEXPIRE', KEYS[1], math.ceil((interval + 60) * 1000))
return {1, string.format('%.6f', now)}
"""

_PAUSE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local paused = tonumber(redis.call('HGET', KEYS[1], 'paused') or '0')
local at = tonumber(redis.call('HGET', KEYS[1], 'at') or '0')
if at > now and paused > 0 then paused = paused - (at - now) end
local untl = math.max(paused, now + tonumber(ARGV[1]))
redis.call('HSET', KEYS[1], 'paused', string.format('%.6f', untl), 'at', string.format('%.6f', now))
redis.call('PEXPIRE', KEYS[1], math.ceil((untl - now + 60) * 1000))
return string.format('%.6f', untl - now)
"""


class RateLimiter(ABC):
    """Blocks each caller until the shared bucket grants it a request.

    ``clock`` is this process's time (it turns an HTTP-date ``Retry-After`` into seconds) and ``sleep`` how it
    waits for a token; tests pass fakes for both.
    """

    def __init__(self, rate: float, headroom: float = DEFAULT_HEADROOM, *, clock: Clock = time.time,
                 sleep: Sleep = time.sleep) -> None:
        if rate <= 0 or not 0 <= headroom < 0.5:
            raise ValueError("rate must be positive and headroom in [0, 0.5)")
        self.rate = rate
        self.interval = 1.0 / (rate * (1.0 - headroom))
        self.clock = clock
        self.sleep = sleep

    def acquire(self, max_wait: float | None = None) -> float:
        """Wait for a token and return the grant time on the shared clock (epoch seconds).

        Raises :class:`RateLimitedError` instead of waiting longer than ``max_wait`` seconds, so a task under
        a time limit gives up and retries later rather than being killed mid-wait (e.g. a fleet-wide pause).
        """
        waited = 0.0
        while True:
            granted, value = self._attempt()
            if granted:
                return value
            if max_wait is not None and waited + value > max_wait:
                raise RateLimitedError(f"politeness budget busy for {value:.1f}s", retry_after=value)
            self.sleep(value)
            waited += value

    def pause(self, seconds: float) -> float:
        """Hold back every process for ``seconds`` (capped at :data:`MAX_PAUSE`); returns the pause left."""
        seconds = min(max(seconds, 0.0), MAX_PAUSE)
        left = self._pause(seconds)
        log.info("politeness: all requests paused for %.1fs", left)
        return left

    def pause_until(self, when: float) -> float:
        """Hold back every process until epoch time ``when`` (an HTTP-date ``Retry-After``)."""
        return self.pause(when - self.clock())

    @abstractmethod
    def _attempt(self) -> tuple[bool, float]:
        """(True, grant time) or (False, seconds to wait before trying again)."""

    @abstractmethod
    def _pause(self, seconds: float) -> float:
        """Extend the shared pause to now + seconds; return the pause left."""


class RedisRateLimiter(RateLimiter):
    """The bucket in one Redis hash, updated atomically by Lua on Redis's clock."""

    def __init__(self, url: str, rate: float, prefix: str, headroom: float = DEFAULT_HEADROOM, *,
                 clock: Clock = time.time, sleep: Sleep = time.sleep) -> None:
        super().__init__(rate, headroom, clock=clock, sleep=sleep)
        client = connect_redis(url)
        self._key = f"{prefix}:ratelimit"
        self._acquire = RedisScript(client, _ACQUIRE_LUA, "rate limiter")
        self._pause_script = RedisScript(client, _PAUSE_LUA, "rate limiter")

    def _attempt(self) -> tuple[bool, float]:
        granted, value = self._acquire([self._key], [repr(self.interval)])
        return bool(granted), float(value)

    def _pause(self, seconds: float) -> float:
        return float(self._pause_script([self._key], [repr(seconds)]))


class FileRateLimiter(RateLimiter):
    """The bucket in a state file under the data dir, for every process on this machine (embedded mode).

    Grants are on ``clock``: every process on one machine shares it.
    """

    def __init__(self, path: Path, rate: float, headroom: float = DEFAULT_HEADROOM, *, clock: Clock = time.time,
                 sleep: Sleep = time.sleep) -> None:
        super().__init__(rate, headroom, clock=clock, sleep=sleep)
        self.path = path

    def _attempt(self) -> tuple[bool, float]:
        with locked_state(self.path) as state:
            now = self.clock()
            undo_backward_step(state, now, ("tat", "paused"))
            # Clamp what is still too far ahead (a state file written before ``at`` was recorded).
            tat = min(float(state.get("tat", 0.0)), now + self.interval)
            ready = max(tat, min(float(state.get("paused", 0.0)), now + MAX_PAUSE))
            if now < ready:
                return False, ready - now
            state["tat"] = now + self.interval
            return True, now

    def _pause(self, seconds: float) -> float:
        with locked_state(self.path) as state:
            now = self.clock()
            undo_backward_step(state, now, ("tat", "paused"))
            until = max(float(state.get("paused", 0.0)), now + seconds)
            state["paused"] = until
            return until - now


def limiter_from_settings(settings: Settings) -> RateLimiter:
    """Redis when the deployment has one (``settings.redis``), else the local file under the data dir."""
    prefix = settings.politeness_key_prefix
    if settings.redis is not None:
        return RedisRateLimiter(settings.redis, settings.rate_limit, prefix)
    return FileRateLimiter(state_path(settings.data_dir, prefix, "ratelimit"), settings.rate_limit)
