"""State shared by every crawling process: a Redis connection, or an fcntl-locked JSON file on one machine.

The rate limiter and the circuit breaker keep their state in one of these so that the politeness budget is
one budget for the whole deployment, not one per process.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis

from crawler.exceptions import SourceError

#: Redis calls must never hang a worker on a half-open connection.
REDIS_SOCKET_TIMEOUT = 5.0


def connect_redis(url: str) -> redis.Redis:
    """A Redis client with socket timeouts and keepalive; never log ``url`` (it may hold a password)."""
    return redis.Redis.from_url(
        url,
        socket_timeout=REDIS_SOCKET_TIMEOUT,
        socket_connect_timeout=REDIS_SOCKET_TIMEOUT,
        socket_keepalive=True,
        health_check_interval=25,
    )


class RedisScript:
    """A Lua script run with EVALSHA; Redis failures become a transient :class:`SourceError`.

    Without its shared state a process cannot know whether it may talk to the site, so it must not: the
    caller's task is retried later instead.
    """

    def __init__(self, client: redis.Redis, source: str, what: str) -> None:
        self._script = client.register_script(source)
        self._what = what

    def __call__(self, keys: list[str], args: list[Any]) -> Any:
        try:
            return self._script(keys=keys, args=args)
        except redis.RedisError as error:
            raise SourceError(f"{self._what} unavailable: {type(error).__name__}") from error


def state_path(data_dir: Path, prefix: str, kind: str) -> Path:
    """Where the file backend of ``kind`` keeps its state; the prefix keeps test runs apart."""
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in prefix)
    return data_dir / "politeness" / f"{safe}.{kind}.json"


@contextmanager
def locked_state(path: Path) -> Iterator[dict[str, Any]]:
    """Yield the JSON state at ``path`` under an exclusive flock; write it back when the block succeeds.

    Every process on this machine serialises on the lock, so read-modify-write is atomic. A missing or
    unreadable file is an empty state: the worst case is one early token, never a crash loop.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        state = _read_state(fd)
        yield state
        payload = json.dumps(state).encode()
        os.lseek(fd, 0, os.SEEK_SET)
        os.ftruncate(fd, 0)
        os.write(fd, payload)
    finally:
        os.close(fd)


def undo_backward_step(state: dict[str, Any], now: float, times: tuple[str, ...],
                       time_lists: tuple[str, ...] = ()) -> float:
    """Move the epoch times in ``state`` back by as much as the clock stepped back since the state was last
    used (``state["at"]``), then record ``now`` as the last use; returns the step (0.0 when none).

    A wall clock stepped back (by hand, a bad NTP server, a restored VM) would otherwise leave every deadline in
    the state that much further away: a next grant hours ahead stalls the whole deployment for hours. Undone,
    the step costs only the time it hid. A time of 0 means "not set" and stays 0.
    """
    step = max(float(state.get("at", now)) - now, 0.0)
    if step:
        for key in times:
            if float(state.get(key, 0.0)) > 0:
                state[key] = float(state[key]) - step
        for key in time_lists:
            state[key] = [float(value) - step for value in state.get(key, [])]
    state["at"] = now
    return step


def _read_state(fd: int) -> dict[str, Any]:
    raw = os.pread(fd, 1 << 16, 0)
    try:
        state = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return state if isinstance(state, dict) else {}
