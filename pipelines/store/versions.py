"""Every distinct version of an article, beside the raw store: one document per (article id,
content hash), so ids are stable and recording the same version again changes nothing but
when it was last seen. What a version is and how versions compare is ``pipelines.revisions``'s job.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pipelines.models import stable_id
from pipelines.store.names import IndexNames

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

MAX_VERSIONS = 1000  # per article and request: far more than any real article has


def version_id(doc_id: str, content_hash: str) -> str:
    return stable_id(doc_id, content_hash)


def by_article(documents: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Versions grouped by article id, oldest first (ties broken by hash, so the order is stable)."""
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for document in documents:
        grouped[document["doc_id"]].append(document)
    return {doc_id: sorted(versions, key=lambda v: (v["first_seen_at"], v["content_hash"]))
            for doc_id, versions in grouped.items()}


class ElasticsearchVersions:
    def __init__(self, client: Elasticsearch, names: IndexNames) -> None:
        self.client = client
        self.index = names.raw_versions

    def of(self, doc_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """id → its versions, oldest first (ids without versions are left out)."""
        if not doc_ids:
            return {}
        from elasticsearch import helpers

        self.client.indices.refresh(index=self.index)  # a forced refresh is quick; waiting for one is not
        query = {"query": {"terms": {"doc_id": list(doc_ids)}}}
        return by_article([hit["_source"] for hit in helpers.scan(self.client, index=self.index, query=query)])

    def save(self, versions: Sequence[dict[str, Any]]) -> None:
        """Upsert versions (new ones, and known ones seen again); ``of`` refreshes before it reads."""
        if not versions:
            return
        from pipelines.errors import IndexingError
        from pipelines.store.client import bulk_with_backoff

        actions = ({"_index": self.index, "_id": version_id(v["doc_id"], v["content_hash"]), "_source": v}
                   for v in versions)
        # 429s are waited out like every other write of the run; a version refused for itself is a bug.
        if refused := bulk_with_backoff(self.client, actions):
            raise IndexingError(f"{len(refused)} article version(s) refused, e.g. {refused[0]}")
