"""Fault decisions: seeded, deterministic, per URL, so a test can predict and count every failure.

Two sources of faults:

* a **mix**: a share of URLs (by path kind: search, redirect, page) fail their first k attempts with a
  transient fault, then succeed. Whether a URL is hit, by what and for how many attempts depends only on the
  seed and the URL, not on request order.
* **per-report** faults, set at publish time or through the control API: transient ones (same names, first
  k attempts of that report's URLs) and permanent or hostile ones.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from tests.replica.catalogue import stable_int

TRANSIENT = ("http_500", "http_502", "http_503", "http_429", "stall", "truncate", "wrong_type", "error_page", "reset",
             "trickle_headers")

#: Permanent and hostile per-report faults -> what the daemon should end with: (state, reason).
#: state "failed" with a reason from crawler.exceptions.FAILURE_REASONS; "stored" when it must be stored
#: byte-exact; "absent" when the listing row itself is invalid (never stored; failed "schema" also accepted).
PERMANENT: dict[str, tuple[str, str | None]] = {
    "not_found": ("failed", "http_404"),
    "malformed": ("failed", "not_a_report"),
    "always_503": ("failed", "retries_exhausted"),
    "always_trickle": ("failed", "retries_exhausted"),
    "huge_body": ("failed", "too_large"),
    "endless_body": ("failed", "too_large"),
    "gzip_bomb": ("failed", "too_large"),
    "gzip_gzip_bomb": ("failed", "too_large"),
    "deep_nesting": ("stored", None),
    "gb2312_mislabel": ("stored", None),
    "redirect_other_host": ("failed", "redirect_blocked"),
    "redirect_invalid_host": ("failed", "redirect_blocked"),
    "redirect_file": ("failed", "redirect_blocked"),
    "redirect_chain": ("failed", "redirect_blocked"),
    "listing_string_id": ("absent", "schema"),
    "listing_null_fund_code": ("absent", "schema"),
    "listing_nan": ("absent", "schema"),
    "listing_traversal_id": ("absent", "schema"),
    "listing_sql_id": ("absent", "schema"),
    "listing_long_id": ("absent", "schema"),
    "name_sql": ("stored", None),
    "name_sql_or": ("stored", None),
    "name_rtl": ("stored", None),
    "name_emoji": ("stored", None),
}

#: Outcomes a test may accept besides the main one (a deep page may also be refused by the parser).
ALSO_ACCEPTED: dict[str, list[tuple[str, str | None]]] = {
    "deep_nesting": [("failed", "parse_error"), ("failed", "not_a_report")],
    "listing_string_id": [("failed", "schema"), ("failed", "invalid_id")],
    "listing_null_fund_code": [("failed", "schema")],
    "listing_nan": [("failed", "schema")],
    "listing_traversal_id": [("failed", "schema"), ("failed", "invalid_id")],
    "listing_sql_id": [("failed", "schema"), ("failed", "invalid_id")],
    "listing_long_id": [("failed", "schema"), ("failed", "invalid_id")],
    "gzip_bomb": [("failed", "encoding")],
    "gzip_gzip_bomb": [("failed", "encoding")],
}

PATH_KINDS = ("search", "redirect", "page")
PAGE_FAULTS = {"not_found", "malformed", "always_503", "always_trickle", "huge_body", "endless_body", "gzip_bomb", "gzip_gzip_bomb",
               "deep_nesting", "gb2312_mislabel"}
REDIRECT_FAULTS = {"redirect_other_host", "redirect_invalid_host", "redirect_file", "redirect_chain"}
LISTING_FAULTS = {"listing_string_id", "listing_null_fund_code", "listing_nan", "listing_traversal_id",
                  "listing_sql_id", "listing_long_id"}

#: The transient fault mix in percent of requests (with ``rate=0.31`` it is that mix exactly),
#: plus headers trickled one line at a time, which only a whole-request deadline cuts short.
DEFAULT_WEIGHTS = {
    "http_500": 3.34, "http_502": 3.33, "http_503": 3.33, "http_429": 5, "stall": 5,
    "truncate": 3, "wrong_type": 3, "error_page": 3, "reset": 2, "trickle_headers": 1,
}


def known_fault(name: str | None) -> bool:
    return name is None or name in TRANSIENT or name in PERMANENT


@dataclass
class FaultMix:
    """A share of URLs that fail transiently: ``rate`` of them, for 1..``max_failures`` attempts each."""

    rate: float = 0.0
    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    paths: tuple[str, ...] = PATH_KINDS
    max_failures: int = 2
    seed: int = 0

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FaultMix:
        weights = data.get("kinds") or data.get("weights") or dict(DEFAULT_WEIGHTS)
        if isinstance(weights, list):
            weights = {name: 1.0 for name in weights}
        unknown = [name for name in weights if name not in TRANSIENT]
        if unknown:
            raise ValueError(f"unknown transient fault kinds: {unknown}")
        paths = tuple(data.get("paths") or PATH_KINDS)
        if any(path not in PATH_KINDS for path in paths):
            raise ValueError(f"paths must be among {PATH_KINDS}")
        return cls(
            rate=float(data.get("rate", 0.0)),
            weights={k: float(v) for k, v in weights.items()},
            paths=paths,
            max_failures=max(1, int(data.get("max_failures", 2))),
            seed=int(data.get("seed", 0)),
        )

    def to_json(self) -> dict[str, Any]:
        return {"rate": self.rate, "kinds": self.weights, "paths": list(self.paths),
                "max_failures": self.max_failures, "seed": self.seed}

    def plan(self, kind: str, key: str) -> tuple[str, int] | None:
        """The fault planned for URL ``key`` and how many first attempts it spoils, or None."""
        if self.rate <= 0 or kind not in self.paths or not self.weights:
            return None
        if stable_int(self.seed, "hit", key) / 2**64 >= self.rate:
            return None
        total = sum(self.weights.values())
        point = stable_int(self.seed, "kind", key) / 2**64 * total
        for name, weight in sorted(self.weights.items()):
            point -= weight
            if point < 0:
                return name, 1 + stable_int(self.seed, "k", key) % self.max_failures
        return None


class FaultState:
    """The active mix plus per-URL attempt counters, shared by all handler threads."""

    def __init__(self) -> None:
        self.mix = FaultMix()
        self._attempts: dict[str, int] = {}
        self._lock = threading.Lock()

    def attempt(self, key: str) -> int:
        """Count one more attempt at ``key`` and return its number (1 for the first)."""
        with self._lock:
            self._attempts[key] = self._attempts.get(key, 0) + 1
            return self._attempts[key]

    def attempts(self, key: str) -> int:
        return self._attempts.get(key, 0)

    def set_mix(self, mix: FaultMix) -> None:
        """A new mix counts attempts afresh: "the first k attempts" start when the mix is set."""
        with self._lock:
            self.mix = mix
            self._attempts = {k: v for k, v in self._attempts.items() if k.startswith("report/")}

    def forget(self, prefix: str) -> None:
        with self._lock:
            self._attempts = {k: v for k, v in self._attempts.items() if not k.startswith(prefix)}

    def decide_mix(self, kind: str, key: str, attempt: int) -> str | None:
        planned = self.mix.plan(kind, key)
        if planned and attempt <= planned[1]:
            return planned[0]
        return None

    def reset(self) -> None:
        with self._lock:
            self._attempts.clear()
        self.mix = FaultMix()


def expected_outcome(fault: str | None) -> dict[str, Any]:
    """The oracle for a report with ``fault``: expected terminal state, reason and other accepted outcomes."""
    state, reason = PERMANENT.get(fault or "", ("stored", None))
    also = [{"state": s, "reason": r} for s, r in ALSO_ACCEPTED.get(fault or "", [])]
    return {"state": state, "reason": reason, "also_accepted": also}
