"""The Elasticsearch store: raw store, article versions, source state, dead letters, run reports and the
politeness ledger as indices of one cluster."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipelines.store.deadletters import ElasticsearchDeadLetters
from pipelines.store.names import IndexNames
from pipelines.store.politeness import ElasticsearchPoliteness
from pipelines.store.raw import ElasticsearchRawStore
from pipelines.store.runs import ElasticsearchRunReports
from pipelines.store.schema import ensure_store_indices
from pipelines.store.state import ElasticsearchStateStore
from pipelines.store.versions import ElasticsearchVersions

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch


class ElasticsearchStore:
    def __init__(self, client: Elasticsearch, names: IndexNames) -> None:
        self.client = client
        self.names = names
        self.raw = ElasticsearchRawStore(client, names)
        self.state = ElasticsearchStateStore(client, names)
        self.deadletters = ElasticsearchDeadLetters(client, names)
        self.versions = ElasticsearchVersions(client, names)
        self.runs = ElasticsearchRunReports(client, names)
        self.politeness = ElasticsearchPoliteness(client, names)

    def prepare(self) -> None:
        ensure_store_indices(self.client, self.names)

    def close(self) -> None:
        """The client belongs to whoever made it (the pipeline shares it with the sink)."""
