"""Search: a query string over title, body and captions, with highlights and facet counts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from pipelines.models import FACETS, METADATA_FACETS
from pipelines.store.names import IndexNames

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

SEARCH_FIELDS = ("title^3", "body", "captions")
AGGREGATED_FIELDS = (*FACETS, *METADATA_FACETS, "countries", "source", "language")
_FOLDED = frozenset((*FACETS, *METADATA_FACETS))


@dataclass(frozen=True)
class Near:
    """Articles with a resolved place within ``km`` of a point."""

    lat: float
    lon: float
    km: float

    @classmethod
    def parse(cls, text: str) -> Near:
        """``LAT,LON,KM`` (``51.5,-0.12,50``)."""
        try:
            lat, lon, km = (float(part) for part in text.split(","))
        except ValueError:
            raise ValueError(f"expected LAT,LON,KM, got {text!r}") from None
        if not (-90 <= lat <= 90 and -180 <= lon <= 180 and km > 0):
            raise ValueError(f"{text!r}: latitude within ±90, longitude within ±180 and a positive distance")
        return cls(lat, lon, km)


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
    per_day: tuple[tuple[str, int], ...] = ()  # (YYYY-MM-DD, count) by publication date
    undated: int = 0  # matches with no publication date (not in ``per_day``)
    about: tuple[str, ...] = ()  # terms unusually frequent in the matches (significant_text)


def build_query(
    query: str,
    filters: dict[str, list[str]] | None = None,
    *,
    published_from: date | None = None,
    published_to: date | None = None,
    near: Near | None = None,
) -> dict[str, Any]:
    must: list[dict[str, Any]] = (
        [{"simple_query_string": {"query": query, "fields": list(SEARCH_FIELDS), "default_operator": "and"}}]
        if query.strip()
        else [{"match_all": {}}]
    )
    filter_clauses: list[dict[str, Any]] = []
    for name, values in (filters or {}).items():
        if not values:
            continue
        if name == "mentioned_dates":  # a month finds the days in it too
            filter_clauses.append({"bool": {"should": [{"prefix": {name: value}} for value in values], "minimum_should_match": 1}})
        elif name == "countries":  # ISO codes: "gb" is GB
            filter_clauses.append({"terms": {name: [value.upper() for value in values]}})
        elif name in _FOLDED:  # case-insensitive on facets: "vladimir putin" finds "Vladimir Putin"
            filter_clauses.append({"terms": {f"{name}.folded": [value.lower() for value in values]}})
        else:
            filter_clauses.append({"terms": {name: values}})
    if published_from or published_to:
        bounds = {"format": "strict_date"}
        if published_from:
            bounds["gte"] = published_from.isoformat()
        if published_to:
            bounds["lte"] = published_to.isoformat()
        filter_clauses.append({"range": {"published_at": bounds}})
    if near is not None:
        filter_clauses.append(
            {"geo_distance": {"distance": f"{near.km}km", "locations_geo": {"lat": near.lat, "lon": near.lon}}})
    return {"bool": {"must": must, "filter": filter_clauses}}


def search(
    client: Elasticsearch,
    names: IndexNames,
    query: str,
    *,
    filters: dict[str, list[str]] | None = None,
    published_from: date | None = None,
    published_to: date | None = None,
    near: Near | None = None,
    size: int = 10,
    facet_size: int = 10,
    about: bool = False,
) -> SearchResult:
    aggregations: dict[str, Any] = {field: {"terms": {"field": field, "size": facet_size}} for field in AGGREGATED_FIELDS}
    aggregations["per_day"] = {"date_histogram": {"field": "published_at", "calendar_interval": "day", "format": "yyyy-MM-dd"}}
    aggregations["undated"] = {"missing": {"field": "published_at"}}
    if about:
        # What sets these matches apart from the whole index, on the best 200 per shard.
        aggregations["about"] = {
            "sampler": {"shard_size": 200},
            "aggs": {"terms": {"significant_text": {"field": "body", "size": 12, "filter_duplicate_text": True}}},
        }
    response = client.search(
        index=names.articles,
        query=build_query(query, filters, published_from=published_from, published_to=published_to, near=near),
        size=size,
        track_total_hits=True,
        source_excludes=["entities", "minhash", "minhash_bands"],
        highlight={
            "fields": {"body": {}, "title": {}, "captions": {}},
            "pre_tags": ["«"],
            "post_tags": ["»"],
            "fragment_size": 160,
            "number_of_fragments": 2,
        },
        aggs=aggregations,
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
    results = response["aggregations"]
    facets = {
        field: tuple((bucket["key"], bucket["doc_count"]) for bucket in results[field]["buckets"])
        for field in AGGREGATED_FIELDS
    }
    per_day = tuple(
        (bucket["key_as_string"], bucket["doc_count"]) for bucket in results["per_day"]["buckets"] if bucket["doc_count"]
    )
    return SearchResult(
        total=response["hits"]["total"]["value"],
        hits=hits,
        facets=facets,
        per_day=per_day,
        undated=results["undated"]["doc_count"],
        about=tuple(bucket["key"] for bucket in results["about"]["terms"]["buckets"]) if about else (),
    )
