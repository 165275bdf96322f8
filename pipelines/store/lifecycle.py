"""Index lifecycle: apply a new mapping with zero downtime.

Readers use the read alias (``P-articles``), writers the write alias (``P-articles-write``);
both point at one versioned concrete index (``P-articles-000001``, ``-000002``, …). A migration
creates the next index from the current template, copies every document into it, swaps both
aliases in one atomic ``_aliases`` call, then copies again whatever was written to the old
index while the first copy ran. Searches never see a missing or half-filled index.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pipelines.errors import IndexingError
from pipelines.store.names import BULK_REFRESH_INTERVAL, IndexNames
from pipelines.store.schema import ensure_indices

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

_SUFFIX = re.compile(r"-(\d{6})$")


@dataclass(frozen=True)
class MigrationReport:
    source_index: str
    target_index: str
    documents_before: int
    documents_after: int
    copied: int
    caught_up: int
    used_reindex_api: bool
    seconds: float

    @property
    def complete(self) -> bool:
        return self.documents_after >= self.documents_before


def current_index(client: Elasticsearch, names: IndexNames) -> str:
    """The concrete index behind the write alias."""
    indices = list(client.indices.get_alias(name=names.articles_write).body)
    if len(indices) != 1:
        raise IndexingError(f"{names.articles_write} must point at exactly one index, found {indices}")
    return indices[0]


def next_index_name(index: str) -> str:
    match = _SUFFIX.search(index)
    if not match:
        raise IndexingError(f"{index} does not end in a six-digit version")
    return f"{index[: match.start()]}-{int(match.group(1)) + 1:06d}"


def _has_reindex_api(client: Elasticsearch) -> bool:
    """Whether every node has the reindex module (the Maven distribution does not)."""
    nodes = client.nodes.info(metric="plugins")["nodes"].values()
    return all(any(module["name"] == "reindex" for module in node.get("modules", [])) for node in nodes)


def _copy(client: Elasticsearch, source: str, target: str, query: dict[str, Any] | None, use_api: bool) -> int:
    from elasticsearch import helpers

    if use_api:
        body: dict[str, Any] = {"source": {"index": source}, "dest": {"index": target}, "conflicts": "proceed"}
        if query:
            body["source"]["query"] = query
        response = client.reindex(body=body, refresh=True, wait_for_completion=True)  # type: ignore[call-arg]
        return int(response["created"]) + int(response["updated"])
    copied = 0

    def actions():  # noqa: ANN202
        nonlocal copied
        for hit in helpers.scan(client, index=source, query={"query": query or {"match_all": {}}}, size=500):
            copied += 1
            yield {"_op_type": "index", "_index": target, "_id": hit["_id"], "_source": hit["_source"]}

    _, errors = helpers.bulk(client, actions(), chunk_size=500, raise_on_error=False)
    if errors:
        raise IndexingError(f"{len(errors)} documents could not be copied to {target}: {errors[:2]}")
    return copied


def migrate(
    client: Elasticsearch,
    names: IndexNames,
    *,
    progress: Callable[[str], None] | None = None,
    before_swap: Callable[[], None] | None = None,
) -> MigrationReport:
    """Move the articles to a new index built from the current mapping, with no downtime."""
    say = progress or (lambda message: None)
    started = time.perf_counter()
    # Puts the current template, which the new index takes; the live index is left as it is.
    ensure_indices(client, names, update_live_mapping=False)
    source = current_index(client, names)
    target = next_index_name(source)
    if client.indices.exists(index=target):
        raise IndexingError(f"{target} already exists: a previous migration did not finish; delete it and retry")

    client.indices.refresh(index=source)
    before = client.count(index=source)["count"]
    copy_started = datetime.now(UTC) - timedelta(seconds=5)  # margin for clock skew between writers
    say(f"creating {target} and copying {before} documents from {source}")
    client.indices.create(index=target, settings={"index": {"refresh_interval": "-1"}})
    use_api = _has_reindex_api(client)
    copied = _copy(client, source, target, None, use_api)
    client.indices.put_settings(index=target, settings={"index": {"refresh_interval": BULK_REFRESH_INTERVAL}})
    client.indices.refresh(index=target)
    if before_swap:
        before_swap()

    say(f"swapping {names.articles} and {names.articles_write} to {target}")
    client.indices.update_aliases(
        actions=[
            {"remove": {"index": source, "alias": names.articles_write}},
            {"remove": {"index": source, "alias": names.articles}},
            {"add": {"index": target, "alias": names.articles_write, "is_write_index": True}},
            {"add": {"index": target, "alias": names.articles}},
        ]
    )
    # Writes that reached the old index during the copy; newer copies in the target win.
    caught_up = _catch_up(client, source, target, copy_started)
    client.indices.refresh(index=[source, target])
    after = client.count(index=target)["count"]
    report = MigrationReport(source, target, before, after, copied, caught_up, use_api, time.perf_counter() - started)
    say(f"{source}: {before} documents → {target}: {after} documents ({caught_up} caught up)")
    return report


def _catch_up(client: Elasticsearch, source: str, target: str, since: datetime) -> int:
    from elasticsearch import helpers

    client.indices.refresh(index=source)
    query = {"range": {"indexed_at": {"gte": since.isoformat()}}}
    late = {hit["_id"]: hit["_source"] for hit in helpers.scan(client, index=source, query={"query": query})}
    if not late:
        return 0
    existing = client.mget(index=target, ids=list(late), source_includes=["indexed_at"])["docs"]
    newer_in_target = {
        doc["_id"] for doc in existing if doc.get("found") and doc["_source"].get("indexed_at", "") >= late[doc["_id"]].get("indexed_at", "")
    }
    actions = [
        {"_op_type": "index", "_index": target, "_id": doc_id, "_source": source_doc}
        for doc_id, source_doc in late.items()
        if doc_id not in newer_in_target
    ]
    helpers.bulk(client, actions)
    return len(actions)
