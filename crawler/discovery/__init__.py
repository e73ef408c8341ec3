"""Discovery: what to ask the site, what is new, per-send-date checkpoints and reconciliation.

Public API (called by the Celery tasks and the CLI):

- :func:`discover` ``(client, store, plan_or_spec, today=None, *, policy=None)`` -> :class:`DiscoveryResult`:
  a schedule entry's ``discover:`` spec (or a :class:`DiscoveryPlan`); new ids are already inserted as
  pending rows, the caller enqueues them.
- :func:`reconcile_partitions` ``(client, store, partitions=None, *, policy=None)`` -> :class:`DiscoveryResult`
- :func:`partition_status` ``(store)`` -> one dict per partition for ``fundcrawl status``
- :func:`walk` ``(client, query)`` -> :class:`WalkResult`: the convergent walk of one query

Modules: :mod:`.query` (a search), :mod:`.paging` (one pass), :mod:`.walk` (convergence and splitting),
:mod:`.sync` (checkpoints), :mod:`.incremental` (runs). Backfill lives in :mod:`.backfill`, re-checks of stored pages in :mod:`.reverify`, scheduled runs in :mod:`.runs`.
"""

from __future__ import annotations

from typing import Any

from crawler.discovery.incremental import (
    DiscoveryPlan,
    DiscoveryResult,
    beijing_today,
    discover,
    reconcile_partitions,
)
from crawler.discovery.sync import DiscoveryStore
from crawler.discovery.walk import Piece, Query, WalkPolicy, WalkResult, walk
from crawler.storage.partitions import PartitionKey


def partition_status(store: DiscoveryStore) -> list[dict[str, Any]]:
    """Per partition: site total, discovered, stored, failed, complete, last checked, last error."""
    return store.partitions.status()


__all__ = [
    "DiscoveryPlan",
    "DiscoveryResult",
    "PartitionKey",
    "Piece",
    "Query",
    "WalkPolicy",
    "WalkResult",
    "beijing_today",
    "discover",
    "partition_status",
    "reconcile_partitions",
    "walk",
]
