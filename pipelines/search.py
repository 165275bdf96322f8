"""Search: a query string over title, body and captions, with highlights and facet counts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pipelines.indexing import FACET_FIELDS, IndexNames

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

SEARCH_FIELDS = ("title^3", "body", "captions")
AGGREGATED_FIELDS = (*FACET_FIELDS, "source", "language")


@dataclass(frozen=True)
class Hit:
    doc_id: str
    score: float
    title: str
    source_ref: str
    highlights: tuple[str, ...]
    document: dict[str, Any]


@dataclass(frozen=True)
class SearchResult:
    total: int
    hits: tuple[Hit, ...]
    facets: dict[str, tuple[tuple[str, int], ...]]  # facet → (value, count), most frequent first


def build_query(query: str, filters: dict[str, list[str]] | None = None) -> dict[str, Any]:
    must: list[dict[str, Any]] = (
        [{"simple_query_string": {"query": query, "fields": list(SEARCH_FIELDS), "default_operator": "and"}}]
        if query.strip()
        else [{"match_all": {}}]
    )
    filter_clauses = [{"terms": {name: values}} for name, values in (filters or {}).items() if values]
    return {"bool": {"must": must, "filter": filter_clauses}}


def search(
    client: Elasticsearch,
    names: IndexNames,
    query: str,
    *,
    filters: dict[str, list[str]] | None = None,
    size: int = 10,
    facet_size: int = 10,
) -> SearchResult:
    response = client.search(
        index=names.articles,
        query=build_query(query, filters),
        size=size,
        track_total_hits=True,
        source_excludes=["entities"],
        highlight={
            "fields": {"body": {}, "title": {}, "captions": {}},
            "pre_tags": ["«"],
            "post_tags": ["»"],
            "fragment_size": 160,
            "number_of_fragments": 2,
        },
        aggs={field: {"terms": {"field": field, "size": facet_size}} for field in AGGREGATED_FIELDS},
    )
    hits = tuple(
        Hit(
            doc_id=hit["_id"],
            score=hit["_score"] or 0.0,
            title=hit["_source"].get("title", ""),
            source_ref=hit["_source"].get("source_ref", ""),
            highlights=tuple(fragment for fragments in hit.get("highlight", {}).values() for fragment in fragments),
            document=hit["_source"],
        )
        for hit in response["hits"]["hits"]
    )
    facets = {
        field: tuple((bucket["key"], bucket["doc_count"]) for bucket in response["aggregations"][field]["buckets"])
        for field in AGGREGATED_FIELDS
    }
    return SearchResult(total=response["hits"]["total"]["value"], hits=hits, facets=facets)
