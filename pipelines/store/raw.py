"""The raw store in Elasticsearch: every article exactly as a source delivered it, keyed by document id.

Acquisition only stores here; enrichment (clean → extract → sink) reads from here. Re-enriching
after a parser, cleaning or model upgrade therefore needs no re-fetching, and any window can be
replayed: ``fetched_at`` is when this version arrived (an unchanged article keeps its first), and
``pending`` marks what was stored since its last enrichment — what the enrich stage is due to do.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from itertools import islice
from typing import TYPE_CHECKING, Any

from pipelines.errors import MissingRawRecord, StoreError
from pipelines.models import Failure, RawArticle, RunInfo
from pipelines.store.base import RawSelection, StoreResult
from pipelines.store.names import IndexNames

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

CHUNK = 200
PUT_CHUNK = 1000  # articles per existence check and bulk request when storing (a batch of feeds: few round trips)


def raw_document(raw: RawArticle, run: RunInfo) -> dict[str, Any]:
    """The stored form of a raw article (shared by every backend)."""
    return {
        "doc_id": raw.doc_id,
        "source": raw.source,
        "source_ref": raw.source_ref,
        "url": raw.url,
        "title": raw.title,
        "body": raw.body,
        "content_type": raw.content_type,
        "encoding": raw.encoding,
        "published_at": raw.published_at.isoformat() if raw.published_at else None,
        "fetched_at": (raw.fetched_at or datetime.now(UTC)).isoformat(),
        "content_hash": raw.content_hash,
        "metadata": dict(raw.metadata),
        "ingest_run_id": run.run_id,
        "ingest_dag_id": run.dag_id,
        "pending": True,
    }


def raw_article(document: dict[str, Any]) -> RawArticle:
    def when(value: str | None) -> datetime | None:
        return datetime.fromisoformat(value) if value else None

    return RawArticle(
        doc_id=document["doc_id"],
        source=document["source"],
        source_ref=document["source_ref"],
        body=document["body"],
        title=document.get("title"),
        content_type=document.get("content_type") or "text/plain",
        encoding=document.get("encoding"),
        published_at=when(document.get("published_at")),
        fetched_at=when(document.get("fetched_at")),
        url=document.get("url"),
        metadata=document.get("metadata") or {},
    )


def split(batch: Sequence[RawArticle | Failure]) -> tuple[dict[str, RawArticle], list[Failure]]:
    """A batch's articles by id (a repeated id keeps its first) and its failures."""
    raws: dict[str, RawArticle] = {}
    for item in batch:
        if isinstance(item, RawArticle):
            raws.setdefault(item.doc_id, item)
    return raws, [item for item in batch if isinstance(item, Failure)]


def missing(doc_id: str) -> Failure:
    error = MissingRawRecord("no raw article stored under this id", source_ref=doc_id, doc_id=doc_id)
    return Failure.from_error(error, source=None)


class ElasticsearchRawStore:
    def __init__(self, client: Elasticsearch, names: IndexNames) -> None:
        self.client = client
        self.index = names.raw_articles

    def put(self, items: Iterable[RawArticle | Failure], run: RunInfo) -> StoreResult:
        from pipelines.store.client import bulk_with_backoff

        result = StoreResult()
        wrote = False
        iterator = iter(items)
        while batch := list(islice(iterator, PUT_CHUNK)):
            raws, failures = split(batch)
            existing = self._sources(list(raws), ["content_hash", "ingest_run_id"])
            changed = [raw for doc_id, raw in raws.items() if existing.get(doc_id, {}).get("content_hash") != raw.content_hash]
            changed_ids = {raw.doc_id for raw in changed}
            # Same content stored by this very run: an earlier attempt was cut off (outage, kill) after storing it.
            again = {doc_id for doc_id in raws if doc_id not in changed_ids and existing[doc_id].get("ingest_run_id") == run.run_id}
            actions = ({"_index": self.index, "_id": raw.doc_id, "_source": raw_document(raw, run)} for raw in changed)
            rejected = set()
            wrote = wrote or bool(changed)
            # 429s are waited out and a write block raises ClusterRefusedWrites: only a document's own fault is its failure.
            for outcome in bulk_with_backoff(self.client, actions, chunk_size=PUT_CHUNK):
                raw = raws[outcome.get("_id")]
                error = StoreError(str(outcome.get("error"))[:500], source_ref=raw.source_ref, doc_id=raw.doc_id)
                failures.append(Failure.from_error(error, source=raw.source))
                rejected.add(raw.doc_id)
            result.add_chunk(batch, raws, (changed_ids - rejected) | again, failures, rejected)
        if wrote:  # nothing to make visible when every article was unchanged
            self.client.indices.refresh(index=self.index)
        return result

    def get(self, doc_ids: Sequence[str]) -> Iterator[RawArticle | Failure]:
        for start in range(0, len(doc_ids), CHUNK):
            response = self.client.mget(index=self.index, ids=list(doc_ids[start : start + CHUNK]))
            for doc in response["docs"]:
                yield raw_article(doc["_source"]) if doc.get("found") else missing(doc["_id"])

    def _sources(self, doc_ids: Sequence[str], fields: list[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(doc_ids), PUT_CHUNK):  # few fields: one request per thousand ids
            response = self.client.mget(index=self.index, ids=list(doc_ids[start : start + PUT_CHUNK]), source_includes=fields)
            found.update({doc["_id"]: doc["_source"] for doc in response["docs"] if doc.get("found")})
        return found

    def content_hashes(self, doc_ids: Sequence[str]) -> dict[str, str]:
        return {doc_id: doc["content_hash"] for doc_id, doc in self._sources(doc_ids, ["content_hash"]).items()}

    def metadata(self, doc_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        return {doc_id: doc.get("metadata") or {} for doc_id, doc in self._sources(doc_ids, ["metadata"]).items()}

    def select(self, selection: RawSelection) -> list[str]:
        from elasticsearch import helpers

        filters: list[dict[str, Any]] = []
        window = {key: value.isoformat() for key, value in (("gte", selection.fetched_from), ("lt", selection.fetched_to)) if value}
        if window:
            filters.append({"range": {"fetched_at": window}})
        if selection.ingest_run_ids is not None:
            filters.append({"terms": {"ingest_run_id": list(selection.ingest_run_ids)}})
        if selection.sources:
            filters.append({"terms": {"source": list(selection.sources)}})
        if selection.doc_ids is not None:
            filters.append({"ids": {"values": list(selection.doc_ids)}})
        if selection.pending:
            filters.append({"term": {"pending": True}})
        self.client.indices.refresh(index=self.index)
        query = {"query": {"bool": {"filter": filters}}, "_source": False}
        return sorted(hit["_id"] for hit in helpers.scan(self.client, index=self.index, query=query, preserve_order=False))

    def _set(self, doc_ids: Sequence[str], fields: dict[str, Any]) -> int:
        from pipelines.store.client import bulk_with_backoff

        actions = [{"_op_type": "update", "_index": self.index, "_id": doc_id, "doc": fields} for doc_id in doc_ids]
        # No refresh here: ``select`` refreshes before it searches, and waiting per batch would
        # cost up to a refresh interval each time. Refused items are ids not in the store.
        return len(actions) - len(bulk_with_backoff(self.client, actions))

    def pending(self, doc_ids: Sequence[str]) -> set[str]:
        return {doc_id for doc_id, doc in self._sources(doc_ids, ["pending"]).items() if doc.get("pending")}

    def mark_enriched(self, doc_ids: Sequence[str]) -> None:
        if doc_ids:
            self._set(doc_ids, {"pending": False, "enriched_at": datetime.now(UTC).isoformat()})

    def mark_pending(self, doc_ids: Sequence[str]) -> int:
        return self._set(doc_ids, {"pending": True}) if doc_ids else 0
