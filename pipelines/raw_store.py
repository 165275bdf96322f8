"""The raw store: every article exactly as a source delivered it, keyed by document id.

Ingestion only fetches and stores here; enrichment (clean → extract → index) reads from
here. Re-enriching a date window after a model or cleaning upgrade therefore needs no
re-fetching, and any window can be replayed: ``fetched_at`` is when this version of the
article arrived, and an unchanged article keeps its first ``fetched_at``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from typing import TYPE_CHECKING, Any

from pipelines.indexing import IndexNames, RunInfo, create_index_once, record_failures
from pipelines.models import Failure, RawArticle

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

RAW_MAPPINGS: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "doc_id": {"type": "keyword"},
        "source": {"type": "keyword"},
        "source_ref": {"type": "keyword"},
        "url": {"type": "keyword", "ignore_above": 2048},
        "title": {"type": "text", "index": False},
        "body": {"type": "text", "index": False},  # stored for replay, searched in the articles index
        "published_at": {"type": "date"},
        "fetched_at": {"type": "date"},
        "content_hash": {"type": "keyword"},
        "metadata": {"type": "object", "enabled": False},
        "ingest_run_id": {"type": "keyword"},
        "ingest_dag_id": {"type": "keyword"},
    },
}


def raw_index(names: IndexNames) -> str:
    return f"{names.prefix}raw-articles"


def ensure_raw_index(client: Elasticsearch, names: IndexNames) -> str:
    index = raw_index(names)
    create_index_once(client, index, settings={"number_of_shards": 1, "auto_expand_replicas": "0-1"}, mappings=RAW_MAPPINGS)
    return index


@dataclass
class StoreResult:
    """What storing a batch did: ids of every article now in the store, and what failed."""

    doc_ids: list[str] = field(default_factory=list)  # stored or already there, in input order
    stored: int = 0  # new or changed
    unchanged: int = 0
    failures: list[Failure] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "doc_ids": self.doc_ids,
            "stored": self.stored,
            "unchanged": self.unchanged,
            "failures": [
                {"stage": f.stage, "source_ref": f.source_ref, "error_type": f.error_type, "message": f.message[:300],
                 "doc_id": f.doc_id, "source": f.source}
                for f in self.failures
            ],
        }


def _document(raw: RawArticle, run: RunInfo) -> dict[str, Any]:
    return {
        "doc_id": raw.doc_id,
        "source": raw.source,
        "source_ref": raw.source_ref,
        "url": raw.url,
        "title": raw.title,
        "body": raw.body,
        "published_at": raw.published_at.isoformat() if raw.published_at else None,
        "fetched_at": (raw.fetched_at or datetime.now(UTC)).isoformat(),
        "content_hash": raw.content_hash,
        "metadata": dict(raw.metadata),
        "ingest_run_id": run.run_id,
        "ingest_dag_id": run.dag_id,
    }


def store_raw(
    client: Elasticsearch, names: IndexNames, items: Iterable[RawArticle | Failure], run: RunInfo, *, chunk: int = 200
) -> StoreResult:
    """Store new and changed articles; unchanged ones keep their stored version and ``fetched_at``.

    Read failures are dead-lettered here, so nothing a source produced is lost.
    """
    from elasticsearch import helpers

    index = ensure_raw_index(client, names)
    result = StoreResult()
    iterator = iter(items)
    while batch := list(islice(iterator, chunk)):
        failures = [item for item in batch if isinstance(item, Failure)]
        raws = {item.doc_id: item for item in batch if isinstance(item, RawArticle)}
        existing = {}
        if raws:
            response = client.mget(index=index, ids=list(raws), source_includes=["content_hash"])
            existing = {doc["_id"]: doc["_source"]["content_hash"] for doc in response["docs"] if doc.get("found")}
        changed = [raw for doc_id, raw in raws.items() if existing.get(doc_id) != raw.content_hash]
        actions = ({"_index": index, "_id": raw.doc_id, "_source": _document(raw, run)} for raw in changed)
        for ok, item in helpers.streaming_bulk(client, actions, raise_on_error=False, max_retries=5):
            if not ok:
                result_item = item.get("index", {})
                raw = raws[result_item.get("_id")]
                failures.append(Failure("store", raw.source_ref, "store_rejected", str(result_item.get("error"))[:500],
                                        raw.doc_id, raw.source))
        failed_ids = {failure.doc_id for failure in failures}
        result.doc_ids.extend(doc_id for doc_id in raws if doc_id not in failed_ids)
        result.stored += sum(1 for raw in changed if raw.doc_id not in failed_ids)
        result.unchanged += len(raws) - len(changed)
        result.failures.extend(failures)
        if failures:
            record_failures(client, names, failures, run, next(iter(raws.values())).source if raws else "unknown")
    client.indices.refresh(index=index)
    return result


def _raw_article(source: dict[str, Any]) -> RawArticle:
    def when(value: str | None) -> datetime | None:
        return datetime.fromisoformat(value) if value else None

    return RawArticle(
        doc_id=source["doc_id"],
        source=source["source"],
        source_ref=source["source_ref"],
        body=source["body"],
        title=source.get("title"),
        published_at=when(source.get("published_at")),
        fetched_at=when(source.get("fetched_at")),
        url=source.get("url"),
        metadata=source.get("metadata") or {},
    )


def load_raw(client: Elasticsearch, names: IndexNames, doc_ids: Sequence[str]) -> Iterator[RawArticle | Failure]:
    """The stored articles for these ids; an id missing from the store comes back as a Failure."""
    index = raw_index(names)
    for start in range(0, len(doc_ids), 200):
        response = client.mget(index=index, ids=list(doc_ids[start : start + 200]))
        for doc in response["docs"]:
            if doc.get("found"):
                yield _raw_article(doc["_source"])
            else:
                yield Failure("load", doc["_id"], "missing_raw_article", "no raw article stored under this id", doc["_id"])


def select_raw_ids(
    client: Elasticsearch,
    names: IndexNames,
    *,
    fetched_from: datetime | None = None,
    fetched_to: datetime | None = None,
    ingest_run_ids: Sequence[str] | None = None,
    sources: Sequence[str] | None = None,
) -> list[str]:
    """Ids of stored articles fetched in ``[fetched_from, fetched_to)``, or stored by these ingestion runs."""
    from elasticsearch import helpers

    filters: list[dict[str, Any]] = []
    if fetched_from or fetched_to:
        window: dict[str, str] = {}
        if fetched_from:
            window["gte"] = fetched_from.isoformat()
        if fetched_to:
            window["lt"] = fetched_to.isoformat()
        filters.append({"range": {"fetched_at": window}})
    if ingest_run_ids is not None:
        filters.append({"terms": {"ingest_run_id": list(ingest_run_ids)}})
    if sources:
        filters.append({"terms": {"source": list(sources)}})
    ensure_raw_index(client, names)
    query = {"query": {"bool": {"filter": filters}}, "_source": False, "sort": ["_doc"]}
    return sorted(hit["_id"] for hit in helpers.scan(client, index=raw_index(names), query=query, preserve_order=False))
