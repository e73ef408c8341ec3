"""Fleet-wide circuit breaker: repeated 429/403 answers pause all crawling for a while.

States, shared by every process through Redis (Lua, Redis clock) or a locked file under the data dir:

    closed --(threshold throttles within window)--> open --(cooldown passed)--> half-open
    half-open --(one trial request succeeds)--> closed
    half-open --(the trial is throttled)--> open again

The state records when it was last used (``at``); when the clock reads earlier than that it stepped back, and
every time in the state (cooldown end, trial lease, recent throttles) moves back by the step, so a clock stepped
back by hours neither keeps the breaker open nor keeps old throttles counting for hours.

While open, :meth:`CircuitBreaker.check` raises :class:`CircuitOpenError` before any request is made. In
half-open, exactly one process at a time gets a trial request (leased for ``trial_lease`` seconds, so a trial
that dies does not wedge the breaker). Only the process whose answer opened the breaker logs the WARNING and
calls ``on_open(reason, cooldown)``, the hook the alerts side (crawler.telemetry.alerts) uses to send a Sentry event.
"""

from __future__ import annotations

import logging
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any

from crawler.exceptions import CircuitOpenError
from crawler.settings import Settings
from crawler.sources.coordination import (
    RedisScript,
    connect_redis,
    locked_state,
    state_path,
    undo_backward_step,
)

log = logging.getLogger(__name__)

#: Reads the current time in epoch seconds (``time.time``; tests pass a fake one).
Clock = Callable[[], float]

#: Called as on_open(reason, cooldown_seconds) by the process whose answer opened the breaker
#: (e.g. ``crawler.telemetry.alerts.breaker_opened``); its return value is ignored.
OnOpen = Callable[[str, float], object]

# Answer codes shared by the Lua script and the file backend.
CLOSED, OPEN, OPENED, TRIAL, RECOVERED = 0, 1, 2, 3, 4

_BREAKER_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local op, threshold, window = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local cooldown, lease = tonumber(ARGV[4]), tonumber(ARGV[5])
local h, hits = KEYS[1], KEYS[2]
local function fmt(x) return string.format('%.6f', x) end
local open_until = tonumber(redis.call('HGET', h, 'open_until') or '0')
local trial_until = tonumber(redis.call('HGET', h, 'trial_until') or '0')
local half = redis.call('HGET', h, 'half_open') == '1'
local at = tonumber(redis.call('HGET', h, 'at') or '0')
if at > now then
  local step = at - now
  if open_until > 0 then open_until = open_until - step end
  if trial_until > 0 then trial_until = trial_until - step end
  redis.call('HSET', h, 'open_until', fmt(open_until), 'trial_until', fmt(trial_until))
  local seen = redis.call('ZRANGE', hits, 0, -1, 'WITHSCORES')
  for i = 1, #seen, 2 do redis.call('ZADD', hits, tonumber(seen[i + 1]) - step, seen[i]) end
end
if redis.call('EXISTS', h) == 1 then redis.call('HSET', h, 'at', fmt(now)) end
local function save(o, hf, tr)
  redis.call('HSET', h, 'open_until', fmt(o), 'half_open', hf, 'trial_until', fmt(tr), 'at', fmt(now))
  redis.call('PEXPIRE', h, math.ceil((cooldown + window + 3600) * 1000))
end
if open_until > 0 and now >= open_until then
  half, open_until = true, 0
  save(0, '1', 0)
end
if open_until > now then return {1, fmt(open_until - now)} end
if op == 'check' then
  if not half then return {0, '0'} end
  if trial_until > now then return {1, fmt(trial_until - now)} end
  save(0, '1', now + lease)
  return {3, '0'}
elseif op == 'throttle' then
  if not half then
    redis.call('ZADD', hits, now, fmt(now) .. ':' .. ARGV[6])
    redis.call('ZREMRANGEBYSCORE', hits, '-inf', now - window)
    redis.call('PEXPIRE', hits, math.ceil(window * 1000) + 1000)
    if redis.call('ZCARD', hits) < threshold then return {0, '0'} end
  end
  redis.call('DEL', hits)
  save(now + cooldown, '0', 0)
  return {2, fmt(cooldown)}
end
if half then
  redis.call('DEL', hits)
  save(0, '0', 0)
  return {4, '0'}
end
return {0, '0'}
"""


class CircuitBreaker(ABC):
    """Counts throttling answers fleet-wide and refuses requests while the site wants us gone."""

    def __init__(
        self,
        threshold: int,
        window: float,
        cooldown: float,
        on_open: OnOpen | None = None,
        trial_lease: float = 60.0,
    ) -> None:
        self.threshold = threshold
        self.window = window
        self.cooldown = cooldown
        self.on_open = on_open
        self.trial_lease = trial_lease

    def check(self) -> bool:
        """Raise :class:`CircuitOpenError` while open; return True when this request is the half-open trial."""
        code, value = self._run("check")
        if code == OPEN:
            raise CircuitOpenError(f"circuit open: crawling paused for {value:.0f}s more", reopen_in=value)
        return code == TRIAL

    def record_throttle(self, status: int) -> None:
        """Count a 429/403; opens the breaker at the threshold (or at once when the trial was throttled)."""
        code, value = self._run("throttle")
        if code == OPENED:
            reason = f"{self.threshold} throttling answers within {self.window:.0f}s (last: HTTP {status})"
            log.warning("circuit breaker opened: %s; all crawling paused for %.0fs", reason, value)
            if self.on_open is not None:
                self.on_open(reason, value)

    def record_success(self) -> None:
        """A trial request got a normal answer: close the breaker."""
        code, _ = self._run("success")
        if code == RECOVERED:
            log.info("circuit breaker closed: trial request succeeded")

    def _params(self) -> list[Any]:
        return [repr(float(self.threshold)), repr(self.window), repr(self.cooldown), repr(self.trial_lease)]

    @abstractmethod
    def _run(self, op: str) -> tuple[int, float]:
        """Apply ``op`` (check, throttle, success) to the shared state; return (code, seconds)."""


class RedisCircuitBreaker(CircuitBreaker):
    """State in a Redis hash plus a sorted set of recent throttles, on Redis's clock."""

    def __init__(self, url: str, prefix: str, threshold: int, window: float, cooldown: float,
                 on_open: OnOpen | None = None, trial_lease: float = 60.0) -> None:
        super().__init__(threshold, window, cooldown, on_open, trial_lease)
        self._keys = [f"{prefix}:breaker", f"{prefix}:breaker:hits"]
        self._script = RedisScript(connect_redis(url), _BREAKER_LUA, "circuit breaker")

    def _run(self, op: str) -> tuple[int, float]:
        code, value = self._script(self._keys, [op, *self._params(), uuid.uuid4().hex])
        return int(code), float(value)


class FileCircuitBreaker(CircuitBreaker):
    """State in a locked JSON file: the embedded-mode equivalent for every process on this machine.

    Time is read from ``clock`` (every process on one machine shares its clock), so tests can move it on.
    """

    def __init__(self, path: Path, threshold: int, window: float, cooldown: float,
                 on_open: OnOpen | None = None, trial_lease: float = 60.0, *, clock: Clock = time.time) -> None:
        super().__init__(threshold, window, cooldown, on_open, trial_lease)
        self.path = path
        self.clock = clock

    def _run(self, op: str) -> tuple[int, float]:
        with locked_state(self.path) as state:
            return self._apply(state, op, self.clock())

    def _apply(self, state: dict[str, Any], op: str, now: float) -> tuple[int, float]:
        """The same transitions as the Lua script, on a plain dict."""
        undo_backward_step(state, now, ("open_until", "trial_until"), time_lists=("hits",))
        open_until = min(float(state.get("open_until", 0.0)), now + self.cooldown)
        if open_until > 0 and now >= open_until:
            state.update(open_until=0.0, half_open=True, trial_until=0.0)
            open_until = 0.0
        if open_until > now:
            return OPEN, open_until - now
        half = bool(state.get("half_open", False))
        if op == "check":
            return self._check_half_open(state, now) if half else (CLOSED, 0.0)
        if op == "throttle":
            return self._throttle(state, now, half)
        if half:
            state.update(open_until=0.0, half_open=False, trial_until=0.0, hits=[])
            return RECOVERED, 0.0
        return CLOSED, 0.0

    def _check_half_open(self, state: dict[str, Any], now: float) -> tuple[int, float]:
        trial_until = float(state.get("trial_until", 0.0))
        if trial_until > now:
            return OPEN, trial_until - now
        state["trial_until"] = now + self.trial_lease
        return TRIAL, 0.0

    def _throttle(self, state: dict[str, Any], now: float, half: bool) -> tuple[int, float]:
        hits = [float(hit) for hit in state.get("hits", []) if float(hit) > now - self.window]
        hits.append(now)
        state["hits"] = hits
        if not half and len(hits) < self.threshold:
            return CLOSED, 0.0
        state.update(open_until=now + self.cooldown, half_open=False, trial_until=0.0, hits=[])
        return OPENED, self.cooldown


def breaker_from_settings(settings: Settings, on_open: OnOpen | None = None) -> CircuitBreaker:
    """Redis when the deployment has one, else the local file under the data dir."""
    args = (settings.breaker_threshold, settings.breaker_window, settings.breaker_cooldown, on_open)
    if settings.redis is not None:
        return RedisCircuitBreaker(settings.redis, settings.politeness_key_prefix, *args)
    return FileCircuitBreaker(state_path(settings.data_dir, settings.politeness_key_prefix, "breaker"), *args)
