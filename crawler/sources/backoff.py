"""How long to wait before retrying the site: exponential backoff with full jitter.

Every retry of the site (a listing page inside a walk, a report task) waits this long, so many workers that
failed together do not come back together.
"""

from __future__ import annotations

import random

#: The exponent stops growing here: past a million times the base every cap in use wins anyway, and a long run
#: of retries never builds a huge number.
MAX_DOUBLINGS = 20


def full_jitter(attempt: int, *, base: float, cap: float) -> float:
    """Seconds before retry ``attempt``: uniform between 0 and ``base * 2**attempt``, never above ``cap``."""
    return random.uniform(0, min(cap, base * 2 ** min(attempt, MAX_DOUBLINGS)))
