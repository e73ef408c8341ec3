"""The C allocator setting of a process that parses pages: glibc's fastbins off.

lxml builds each page's tree from a great many small C allocations and frees them all when the page is done.
glibc keeps small freed blocks in "fastbins" and merges them only when a large block is next requested, so
whatever asked for one after a parse (a database round trip, the next page's buffer) paid for merging the whole
tree. Measured on the corpus pages: 2-4 ms of CPU at the first large allocation after each parse, which in a
re-parse landed in the duplicate check (7.7 ms a report with fastbins, 3.7 without). With fastbins off
(``M_MXFAST`` = 0), freed blocks are merged as they are freed, and the parse itself got no slower.

Every ``fundcrawl`` command sets it at start, so the worker's forked children and the embedded consumers inherit
it; the benches set it too, so their parse-only reference is measured as the daemon parses.
"""

from __future__ import annotations

import ctypes
import logging

log = logging.getLogger(__name__)

#: ``mallopt``'s parameter number for the largest fastbin block size (glibc's malloc.h).
M_MXFAST = 1


def turn_off_fastbins() -> bool:
    """Set ``M_MXFAST`` to 0 in this process (and the children it forks later); False where the C library is
    not glibc (it has no such setting, and nothing is changed)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library this interpreter runs on
    except (OSError, AttributeError):
        mallopt = None
    if mallopt is None:
        log.debug("no glibc mallopt here: the allocator keeps its defaults")
        return False
    return bool(mallopt(M_MXFAST, 0))
