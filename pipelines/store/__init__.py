"""Storage: every index and alias name, mappings, the raw store, per-source state, dead letters and
the article index lifecycle. Nothing here imports cleaning or extraction: data flows into the
store from sources and out of it to the enrich stage, never the other way round.

``open_store(settings)`` picks the backend: Elasticsearch (default), or one SQLite file when the
sink is JSON Lines (ingestion without a cluster).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipelines.store.base import (
    DeadLetterPage, DeadLetters, RawSelection, RawStore, RunReports, StateStore, Store, StoreResult,
)
from pipelines.store.names import SHARD_SETTINGS, IndexNames

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

    from pipelines.settings import Settings

__all__ = [
    "SHARD_SETTINGS",
    "DeadLetterPage",
    "DeadLetters",
    "IndexNames",
    "RawSelection",
    "RawStore",
    "RunReports",
    "StateStore",
    "Store",
    "StoreResult",
    "open_store",
]


def open_store(settings: Settings, client: Elasticsearch | None = None) -> Store:
    """The store for these settings; with the Elasticsearch sink, ``client`` (or a new one) is used."""
    if settings.uses_elasticsearch:
        from pipelines.store.client import connect
        from pipelines.store.elastic import ElasticsearchStore

        return ElasticsearchStore(client or connect(settings), IndexNames(settings.index_prefix))
    from pipelines.store.sqlite import SqliteStore

    return SqliteStore(settings.state_dir / "store.sqlite3")
