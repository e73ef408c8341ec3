"""The fundcrawl error tree.

    CrawlerError
    ├── ConfigError                 bad settings or schedule file: fail at start-up, name file and key
    ├── SchemaError                 the database schema is missing or behind: run `fundcrawl db upgrade`
    ├── TransientError              worth retrying later; the report stays pending
    │   ├── SourceError             the site could not be read this time (timeout, reset, 5xx, error page)
    │   │   ├── RateLimitedError    429/403 from the site; carries retry_after seconds
    │   │   └── CircuitOpenError    crawling is paused fleet-wide after repeated 429/403
    │   └── StorageUnavailableError the database could not be reached or was busy
    │       ├── OutOfSpaceError     the data's disk is full: wait for space; the attempt is not counted
    │       └── DatabaseLockedError another process holds the SQLite file's lock; the attempt is not counted
    ├── PermanentError              retrying cannot help; the report ends failed with `reason`
    │   ├── NotFoundError           http_404
    │   ├── HTTPStatusError         http_4xx: another client error
    │   ├── NotAReportError         not_a_report: 200 but not a report page
    │   ├── TooLargeError           too_large: body over the decoded-size cap
    │   ├── RedirectBlockedError    redirect_blocked: off-host, off-scheme or too many hops
    │   ├── ListingSchemaError      schema: listing JSON with wrong types or missing fields
    │   ├── InvalidIdError          invalid_id: an id that is not a positive integer
    │   ├── EncodingError           encoding: a body that does not decode cleanly
    │   └── ParseError              parse_error: the page could not be parsed at all
    └── (nothing else)

Only the standard library is imported here so that every process (worker, beat, CLI, Scrapy) can unpickle
these errors. Every class pickles through ``__reduce__`` with its constructor arguments.
"""

from __future__ import annotations

from typing import Any

#: The closed set of reasons a report can end ``failed``. Stored in ``reports.failure_reason``.
FAILURE_REASONS: frozenset[str] = frozenset(
    {
        "http_404",
        "http_4xx",
        "not_a_report",
        "too_large",
        "redirect_blocked",
        "schema",
        "invalid_id",
        "encoding",
        "parse_error",
        "retries_exhausted",
        "poison",
        "dropped",
    }
)


class CrawlerError(Exception):
    """Root of every error fundcrawl raises on purpose."""

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.__class__, (self.message,), self.__dict__)

    def __str__(self) -> str:
        return self.message


class ConfigError(CrawlerError):
    """A setting or schedule entry is wrong; ``source`` names the file or variable, ``key`` the entry."""

    def __init__(self, message: str, source: str = "", key: str = "") -> None:
        super().__init__(message)
        self.source = source
        self.key = key

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.__class__, (self.message, self.source, self.key))

    def __str__(self) -> str:
        where = ": ".join(part for part in (self.source, self.key) if part)
        return f"{where}: {self.message}" if where else self.message


class SchemaError(CrawlerError):
    """The database schema is missing or older than this code."""


class TransientError(CrawlerError):
    """Retrying later may succeed."""


class SourceError(TransientError):
    """The site could not be read this time."""


class RateLimitedError(SourceError):
    """The site asked us to slow down (429, or 403 used as a throttle)."""

    def __init__(self, message: str, retry_after: float | None = None, status: int = 429) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.__class__, (self.message, self.retry_after, self.status))


class CircuitOpenError(SourceError):
    """Crawling is paused for the whole fleet until ``reopen_in`` seconds have passed."""

    def __init__(self, message: str, reopen_in: float = 0.0) -> None:
        super().__init__(message)
        self.reopen_in = reopen_in

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.__class__, (self.message, self.reopen_in))


class StorageUnavailableError(TransientError):
    """The database is down, locked or timed out; never a reason to fail a report."""


class OutOfSpaceError(StorageUnavailableError):
    """The disk that holds the data (database, archive or broker) is full: wait until space is freed.

    Like an unreachable database it is the machine's condition, not the report's: the work waits and is
    retried, and the execution it spoiled is not counted against the report.
    """


class DatabaseLockedError(StorageUnavailableError):
    """Another process (an analyst's ``BEGIN EXCLUSIVE``, say) held the SQLite file's lock past the busy timeout.

    The machine's condition, not the report's: the work waits and the spoiled execution is not counted.
    """


class PermanentError(CrawlerError):
    """Retrying cannot help. ``reason`` is one of :data:`FAILURE_REASONS`."""

    reason = "dropped"


class NotFoundError(PermanentError):
    reason = "http_404"


class HTTPStatusError(PermanentError):
    reason = "http_4xx"


class NotAReportError(PermanentError):
    reason = "not_a_report"


class TooLargeError(PermanentError):
    reason = "too_large"


class RedirectBlockedError(PermanentError):
    reason = "redirect_blocked"


class ListingSchemaError(PermanentError):
    reason = "schema"


class InvalidIdError(PermanentError):
    reason = "invalid_id"


class EncodingError(PermanentError):
    reason = "encoding"


class ParseError(PermanentError):
    """A page, or one section of it, could not be read. ``section`` names the section when known."""

    reason = "parse_error"

    def __init__(self, message: str, section: str = "") -> None:
        super().__init__(message)
        self.section = section

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.__class__, (self.message, self.section))
