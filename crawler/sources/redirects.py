"""The redirect policy: follow the site's 302 by hand, only within its own origin.

OWASP's advice is to disable automatic redirects and allow-list the destination. The only legitimate hop on
this site is ``instance_html_view.do`` -> ``/xbrl/REPORT/HTML/...`` on the same host, so
the allow-list is exactly the configured scheme, host and port. A refused hop is never requested.
"""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

from crawler.exceptions import RedirectBlockedError, SourceError

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

Origin = tuple[str, str, int]


def origin_of(url: str) -> Origin:
    """(scheme, lower-case host, port with the scheme's default filled in)."""
    parts = urlsplit(url)
    default = 443 if parts.scheme == "https" else 80
    return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port or default


def next_hop(current: str, location: str, hops_done: int, max_redirects: int, allowed: Origin) -> str:
    """The URL to request next, or RedirectBlockedError (off-origin, credentials, too many hops)."""
    if not location:
        raise SourceError("redirect without a Location header")
    if hops_done >= max_redirects:
        raise RedirectBlockedError(f"more than {max_redirects} redirects")
    target = urljoin(current, location.strip()).split("#", 1)[0]
    try:
        origin = origin_of(target)
        credentials = urlsplit(target).username is not None
    except ValueError as error:
        raise RedirectBlockedError(f"unusable redirect target: {error}") from error
    if origin != allowed or credentials:
        raise RedirectBlockedError(f"redirect to another origin refused: {origin[0]}://{origin[1]}:{origin[2]}")
    return target
