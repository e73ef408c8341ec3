"""The EID site: the only package that speaks HTTP, plus the fleet-wide politeness it must obey.

``EidClient`` (search listings, fetch report pages), ``RateLimiter`` (one request budget for every process
on every machine) and ``CircuitBreaker`` (pause all crawling after repeated 429/403).
"""

from crawler.sources.breaker import (
    CircuitBreaker,
    FileCircuitBreaker,
    RedisCircuitBreaker,
    breaker_from_settings,
)
from crawler.sources.eid import EidClient
from crawler.sources.ratelimit import FileRateLimiter, RateLimiter, RedisRateLimiter, limiter_from_settings

__all__ = [
    "CircuitBreaker",
    "EidClient",
    "FileCircuitBreaker",
    "FileRateLimiter",
    "RateLimiter",
    "RedisCircuitBreaker",
    "RedisRateLimiter",
    "breaker_from_settings",
    "limiter_from_settings",
]
