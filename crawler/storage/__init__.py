"""Everything that speaks SQL: engines, schema and migrations, and the :class:`Store` repository."""

from crawler.storage.engine import WalState, checkpoint, dispose_engines, make_engine
from crawler.storage.schema import current_revision, ensure_current, head_revision, upgrade
from crawler.storage.store import Claim, Store, make_store

__all__ = [
    "Claim",
    "Store",
    "WalState",
    "checkpoint",
    "current_revision",
    "dispose_engines",
    "ensure_current",
    "head_revision",
    "make_engine",
    "make_store",
    "upgrade",
]
