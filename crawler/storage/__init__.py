"""Everything that speaks SQL: engines, schema and migrations, and the :class:`Store` repository with the smaller
repositories hanging off it (``store.runs``, ``store.partitions``, ``store.checkpoints``, ``store.jobs``,
``store.health``, ``store.exports``)."""

from crawler.storage.checkpoints import DayCheckpoint
from crawler.storage.documents import DocumentError
from crawler.storage.engine import (
    WalState,
    checkpoint,
    database_error,
    dispose_engines,
    make_engine,
    sentry_integration,
)
from crawler.storage.pages import ReparseWork
from crawler.storage.partitions import PartitionKey
from crawler.storage.saving import Saved
from crawler.storage.schema import current_revision, ensure_current, head_revision, upgrade, upgrade_embedded
from crawler.storage.store import Claim, Store

__all__ = [
    "Claim",
    "DayCheckpoint",
    "DocumentError",
    "PartitionKey",
    "ReparseWork",
    "Saved",
    "Store",
    "WalState",
    "checkpoint",
    "current_revision",
    "database_error",
    "dispose_engines",
    "ensure_current",
    "head_revision",
    "make_engine",
    "sentry_integration",
    "upgrade",
    "upgrade_embedded",
]
