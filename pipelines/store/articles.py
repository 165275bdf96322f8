"""Queries over the article index that operators' tools use (reprocess, export)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pipelines import __version__
from pipelines.store.names import IndexNames
from pipelines.store.schema import iter_documents

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch


def stale_article_ids(
    client: Elasticsearch,
    names: IndexNames,
    *,
    fetched_from: datetime | None,
    fetched_to: datetime | None,
    sources: Sequence[str] = (),
    model: str | None = None,
) -> list[str]:
    """Ids of indexed articles fetched in ``[fetched_from, fetched_to)`` (and of ``sources``); with
    ``model``, only those another pipeline version or model produced: what a reprocess run touches."""
    from elasticsearch import helpers

    filters: list[dict[str, Any]] = []
    window = {key: value.isoformat() for key, value in (("gte", fetched_from), ("lt", fetched_to)) if value}
    if window:
        filters.append({"range": {"fetched_at": window}})
    if sources:
        filters.append({"terms": {"source": list(sources)}})
    must_not: list[dict[str, Any]] = []
    if model:
        must_not.append({"bool": {"filter": [{"term": {"pipeline_version": __version__}}, {"term": {"model": model}}]}})
    query = {"query": {"bool": {"filter": filters, "must_not": must_not}}, "_source": False}
    return sorted(hit["_id"] for hit in helpers.scan(client, index=names.articles, query=query))


def iter_articles(client: Elasticsearch, names: IndexNames, sources: Sequence[str] = ()) -> Iterator[dict[str, Any]]:
    """Every indexed article (of ``sources``), for export."""
    client.indices.refresh(index=names.articles)
    yield from iter_documents(client, names.articles, {"terms": {"source": list(sources)}} if sources else None)
