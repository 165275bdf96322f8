"""Mappings of every index (``pipelines.store.names`` lists them) and creating them idempotently.

Mappings are strict: a field nobody declared is an error, not a guess. Enrichment components
declare the mapping of what they add (``Component.mapping``); it is placed under
``enrichments.<component>`` and added to the live index like any new field.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from pipelines import __version__
from pipelines.errors import IndexingError
from pipelines.models import FACETS, METADATA_FACETS
from pipelines.store.names import BULK_WRITTEN_SETTINGS, SHARD_SETTINGS, IndexNames

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

_KEYWORD = {"type": "keyword", "ignore_above": 512}
# Facets keep their display value; ``.folded`` matches regardless of case ("vladimir putin").
_FACET = {**_KEYWORD, "fields": {"folded": {"type": "keyword", "normalizer": "folded", "ignore_above": 512}}}
# Only "lowercase": the Maven distribution's core has it, asciifolding lives in analysis-common.
ARTICLE_ANALYSIS = {"normalizer": {"folded": {"type": "custom", "filter": ["lowercase"]}}}


def has_analyzer(client: Elasticsearch, analyzer: str, index: str) -> bool:
    """Whether the cluster has ``analyzer`` (the embedded node lacks analysis-common, so no ``english``).

    Asked through one of our own indices: analyzing without an index needs a cluster
    privilege the pipeline's least-privilege role does not have.
    """
    from elasticsearch import BadRequestError

    try:
        client.indices.analyze(index=index, analyzer=analyzer, text="running")
    except BadRequestError:
        return False
    return True


def _text_field(english: bool) -> dict[str, Any]:
    field: dict[str, Any] = {"type": "text"}
    if english:
        field["fields"] = {"english": {"type": "text", "analyzer": "english"}}
    return field


REVISION_PROPERTIES: dict[str, Any] = {
    "revision_count": {"type": "integer"},
    "first_seen_at": {"type": "date"},
    "last_changed_at": {"type": "date"},
    "headline_changed": {"type": "boolean"},
    "changes": {
        "properties": {
            "title": {"type": "boolean"},
            "body": {"type": "boolean"},
            "entities_added": _KEYWORD,
            "entities_removed": _KEYWORD,
        }
    },
}


def article_mappings(*, english: bool, enrichments: Mapping[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The article index's mapping; ``enrichments`` maps a component's name to the mapping of its output."""
    title = _text_field(english)
    title.setdefault("fields", {})["raw"] = _KEYWORD
    return {
        "dynamic": "strict",
        "properties": {
            "doc_id": {"type": "keyword"},
            "source": {"type": "keyword"},
            "source_ref": {"type": "keyword"},
            "url": {"type": "keyword"},
            "title": title,
            "body": _text_field(english),
            "captions": _text_field(english),
            **{facet: _FACET for facet in FACETS},
            # The raw date mentions ("last month", "Saturday") stay searchable as words.
            "dates": {**_FACET, "fields": {**_FACET["fields"], "text": {"type": "text"}}},
            **{facet: _FACET for facet in METADATA_FACETS},
            "location_ids": {"type": "keyword"},  # GeoNames ids of the resolved locations
            "countries": {"type": "keyword"},  # their ISO 3166-1 alpha-2 codes
            "locations_geo": {"type": "geo_point"},
            "entities": {
                "type": "nested",
                "properties": {
                    "text": _KEYWORD,
                    "label": {"type": "keyword"},
                    "count": {"type": "integer"},
                    "first_offset": {"type": "integer"},
                },
            },
            "language": {"type": "keyword"},
            "word_count": {"type": "integer"},
            "keywords": _KEYWORD,
            "dates_mentioned": {"type": "date", "format": "strict_date||strict_year_month||strict_year"},
            "summary": {"type": "text"},
            "reading_time_minutes": {"type": "integer"},
            "minhash": {"type": "long", "index": False, "doc_values": False},
            "minhash_bands": {"type": "keyword"},
            "duplicate_similarity": {"type": "float"},
            "published_at": {"type": "date"},
            "fetched_at": {"type": "date"},
            "date": {"type": "date"},  # published_at, else fetched_at
            "indexed_at": {"type": "date"},
            "content_hash": {"type": "keyword"},
            "duplicate_of": {"type": "keyword"},
            **REVISION_PROPERTIES,
            "entity_mentions": {"type": "integer"},
            "removed_shortcodes": {"type": "keyword"},
            "cleaning": {
                "properties": {
                    "captions_moved": {"type": "integer"},
                    "boilerplate_lines": {"type": "keyword", "ignore_above": 512},
                    "boilerplate_removed": {"type": "integer"},
                    "lines_kept": {"type": "integer"},
                    "apostrophe_repairs": {"type": "keyword"},
                    "encoding_repaired": {"type": "boolean"},
                    "html_removed": {"type": "boolean"},
                }
            },
            "pipeline_version": {"type": "keyword"},
            "model": {"type": "keyword"},
            "run_id": {"type": "keyword"},
            "dag_id": {"type": "keyword"},
            "enrichments": {"properties": {name: mapping for name, mapping in (enrichments or {}).items()}},
        },
    }


DEADLETTER_MAPPINGS: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "stage": {"type": "keyword"},
        "error_type": {"type": "keyword"},
        "message": {"type": "text", "fields": {"raw": _KEYWORD}},
        "source": {"type": "keyword"},
        "source_ref": {"type": "keyword"},
        "doc_id": {"type": "keyword"},
        "run_id": {"type": "keyword"},
        "dag_id": {"type": "keyword"},
        "failed_at": {"type": "date"},
    },
}

RAW_MAPPINGS: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "doc_id": {"type": "keyword"},
        "source": {"type": "keyword"},
        "source_ref": {"type": "keyword"},
        "url": {"type": "keyword", "ignore_above": 2048},
        "title": {"type": "text", "index": False},
        "body": {"type": "text", "index": False},  # stored for replay, searched in the articles index
        "content_type": {"type": "keyword"},
        "encoding": {"type": "keyword"},
        "published_at": {"type": "date"},
        "fetched_at": {"type": "date"},
        "content_hash": {"type": "keyword"},
        "metadata": {"type": "object", "enabled": False},
        "ingest_run_id": {"type": "keyword"},
        "ingest_dag_id": {"type": "keyword"},
        "pending": {"type": "boolean"},  # stored since its last enrichment: due for the enrich stage
        "enriched_at": {"type": "date"},
    },
}

# One document per distinct version of an article: id = stable_id(doc_id, content_hash).
VERSION_MAPPINGS: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "doc_id": {"type": "keyword"},
        "source": {"type": "keyword"},
        "content_hash": {"type": "keyword"},  # title + cleaned body
        "raw_content_hash": {"type": "keyword"},  # as delivered: re-cleaning the same delivery is no revision
        "title": {"type": "text", "fields": {"raw": _KEYWORD}},
        "body": {"type": "text", "index": False},
        "entities": _KEYWORD,
        "first_seen_at": {"type": "date"},
        "last_seen_at": {"type": "date"},
        "run_id": {"type": "keyword"},
    },
}

_SHARE = {"type": "float"}
HEALTH_METRICS = ("median_body_words", "undated_share", "boilerplate_share", "entities_per_1000_words",
                  "other_language_share", "deadletter_rate")

# One document per source and day (id = stable_id(source, day)): recomputed from the articles, so idempotent.
HEALTH_MAPPINGS: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "source": {"type": "keyword"},
        "day": {"type": "date", "format": "strict_date"},
        "articles": {"type": "integer"},
        "deadletters": {"type": "integer"},
        **{metric: _SHARE for metric in HEALTH_METRICS},
        "main_language": {"type": "keyword"},
        "languages": {"properties": {"language": {"type": "keyword"}, "articles": {"type": "integer"}}},
        "baseline": {"properties": {metric: _SHARE for metric in HEALTH_METRICS}},
        "baseline_days": {"type": "integer"},
        "alerts": {
            "properties": {
                "metric": {"type": "keyword"},
                "value": {"type": "float"},
                "baseline": {"type": "float"},
                "change": {"type": "float"},
                "threshold": {"type": "float"},
                "examples": {"type": "keyword"},
                "message": {"type": "text"},
            }
        },
        "alert_count": {"type": "integer"},
        "computed_at": {"type": "date"},
    },
}

# One document per run, stage, unit and source (``pipelines.pipeline.RunReport``).
RUNS_MAPPINGS: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "run_id": {"type": "keyword"},
        "dag_id": {"type": "keyword"},
        "stage": {"type": "keyword"},
        "source": {"type": "keyword"},
        "unit": {"type": "keyword", "ignore_above": 512},
        "status": {"type": "keyword"},
        "reconciled": {"type": "boolean"},
        **{bucket: {"type": "long"} for bucket in ("seen", "indexed", "unchanged", "duplicate", "failed")},
        "failure_refs": {"type": "keyword", "ignore_above": 2048},
        "error": {"type": "text"},
        "recorded_at": {"type": "date"},
    },
}

# One document per source unit (a feed, a sitemap): typed fields for health charts, the rest in ``data``.
STATE_MAPPINGS: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "kind": {"type": "keyword"},
        "name": {"type": "keyword"},
        "url": {"type": "keyword"},
        "final_url": {"type": "keyword"},
        "etag": {"type": "keyword", "index": False},
        "last_modified": {"type": "keyword", "index": False},
        "last_attempt": {"type": "date"},
        "last_success": {"type": "date"},
        "last_outcome": {"type": "keyword"},
        "last_status": {"type": "integer"},
        "last_error": {"type": "text", "fields": {"raw": {"type": "keyword", "ignore_above": 512}}},
        "consecutive_failures": {"type": "integer"},
        "entries_seen": {"type": "long"},
        "last_entries": {"type": "integer"},
        "next_poll": {"type": "date"},
        "next_poll_reason": {"type": "keyword"},
        "requested_interval_s": {"type": "float"},
        "bozo": {"type": "boolean"},
        "bozo_reason": {"type": "text", "fields": {"raw": {"type": "keyword", "ignore_above": 512}}},
        "updated_at": {"type": "date"},
        "data": {"type": "object", "enabled": False},
    },
}


_COUNT = {"type": "integer"}
_SECONDS = {"type": "float"}
# One document per (run, unit, host): what the unit's fetches asked of the host (pipelines.sources.ledger).
POLITENESS_MAPPINGS: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "host": {"type": "keyword"},
        "unit": {"type": "keyword"},
        "run_id": {"type": "keyword"},
        "dag_id": {"type": "keyword"},
        "day": {"type": "date", "format": "strict_date"},
        "recorded_at": {"type": "date"},
        "requests": _COUNT,
        "bytes": {"type": "long"},
        "not_modified": _COUNT,
        "not_modified_share": {"type": "float"},
        "retry_after_responses": _COUNT,
        "retry_after_s": _SECONDS,
        "waited_s": _SECONDS,
        "robots_allowed": _COUNT,
        "robots_blocked": _COUNT,
        "blocked_urls": {"type": "keyword", "ignore_above": 2048},
        "errors": _COUNT,
        "error_types": {"type": "keyword"},
        "crawl_delay_s": _SECONDS,
    },
}


def create_index_once(client: Elasticsearch, index: str, **body: Any) -> bool:
    """Create ``index`` unless it exists (returns whether it did); a concurrent creator winning the
    race is not an error."""
    from elasticsearch import BadRequestError

    if client.indices.exists(index=index):
        return False
    try:
        client.indices.create(index=index, **body)
    except BadRequestError as error:
        if error.error != "resource_already_exists_exception":
            raise IndexingError(f"cannot create {index}: {error}") from error
        return False
    return True


def ensure_store_indices(client: Elasticsearch, names: IndexNames) -> None:
    """The raw store and its versions, source state, source health, dead-letter, run-report and politeness indices, once.

    One request when they all exist with this version's fields: every task of a DAG run starts
    here, and a mapping update, even one that changes nothing, queues on the master node."""
    wanted = {
        names.deadletters: DEADLETTER_MAPPINGS, names.raw_articles: RAW_MAPPINGS, names.source_state: STATE_MAPPINGS,
        names.raw_versions: VERSION_MAPPINGS, names.source_health: HEALTH_MAPPINGS, names.runs: RUNS_MAPPINGS,
        names.politeness: POLITENESS_MAPPINGS,
    }
    current = client.indices.get_mapping(index=list(wanted), ignore_unavailable=True, allow_no_indices=True).body
    for index, mappings in wanted.items():
        existing = current.get(index, {}).get("mappings")
        settings = BULK_WRITTEN_SETTINGS if index in (names.raw_articles, names.raw_versions) else SHARD_SETTINGS
        if existing is None and create_index_once(client, index, settings=settings, mappings=mappings):
            continue
        if existing is None or not _contains(existing.get("properties", {}), mappings["properties"]):
            # Made by an earlier version: add the fields this one writes (additive, in place).
            client.indices.put_mapping(index=index, properties=mappings["properties"])


def _contains(current: Any, wanted: Any) -> bool:
    """Whether a mapping already holds everything ``wanted`` declares (same fields, same settings)."""
    if isinstance(wanted, dict):
        return isinstance(current, dict) and all(key in current and _contains(current[key], value)
                                                 for key, value in wanted.items())
    return current == wanted


def ensure_indices(
    client: Elasticsearch,
    names: IndexNames,
    *,
    update_live_mapping: bool = True,
    enrichments: Mapping[str, dict[str, Any]] | None = None,
) -> None:
    """Create every index, the article template, the first article index and its aliases, once;
    add new fields to the live article index (``update_live_mapping``)."""
    ensure_store_indices(client, names)
    ensure_article_indices(client, names, update_live_mapping=update_live_mapping, enrichments=enrichments)


def ensure_article_indices(
    client: Elasticsearch,
    names: IndexNames,
    *,
    update_live_mapping: bool = True,
    enrichments: Mapping[str, dict[str, Any]] | None = None,
) -> None:
    """The article template, the first article index and its aliases, once; new fields on the live
    article index. The sink's part: the store makes its own indices (``ensure_store_indices``)
    before, so a task checks each index once."""
    # The analyzer probe asks through the dead-letter index: it must exist even for a sink used alone.
    create_index_once(client, names.deadletters, settings=SHARD_SETTINGS, mappings=DEADLETTER_MAPPINGS)
    mappings = article_mappings(english=has_analyzer(client, "english", names.deadletters), enrichments=enrichments)
    client.indices.put_index_template(
        name=names.articles_template,
        index_patterns=[names.articles_pattern],
        priority=200,
        template={"settings": {**BULK_WRITTEN_SETTINGS, "analysis": ARTICLE_ANALYSIS}, "mappings": mappings},
        meta={"managed_by": "newsflow", "pipeline_version": __version__},
    )
    if update_live_mapping and client.indices.exists_alias(name=names.articles_write):
        _apply_new_fields(client, names, mappings)
    if not client.indices.exists_alias(name=names.articles):
        create_index_once(
            client, names.first_articles_index,
            aliases={names.articles: {}, names.articles_write: {"is_write_index": True}},
        )
    elif not client.indices.exists_alias(name=names.articles_write):
        # Indices made before the write alias existed: add it where the read alias points.
        (current,) = client.indices.get_alias(name=names.articles).body
        client.indices.put_alias(index=current, name=names.articles_write, is_write_index=True)


def _apply_new_fields(client: Elasticsearch, names: IndexNames, mappings: dict[str, Any]) -> None:
    """Add fields a newer pipeline version writes to the live index (additive, in place).

    Changes Elasticsearch cannot apply in place (a new analyzer, a changed type) need a new
    index: that is what ``newsflow index migrate`` is for, and the error says so.
    """
    from elasticsearch import BadRequestError

    try:
        client.indices.put_mapping(index=names.articles_write, properties=mappings["properties"], dynamic="strict")
    except BadRequestError as error:
        raise IndexingError(
            f"the mapping of {names.articles_write} cannot take this pipeline version's fields in place "
            f"({error.message}); run `newsflow index migrate` to move the articles to a new index"
        ) from error


def iter_documents(client: Elasticsearch, index: str, query: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """Every document's source in ``index`` (matching ``query``), in no particular order."""
    from elasticsearch import helpers

    for hit in helpers.scan(client, index=index, query={"query": query or {"match_all": {}}}):
        yield hit["_source"]


