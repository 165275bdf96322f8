"""Indexing: the article index layout, document building, and bulk writes.

Layout (``P`` is the index prefix, ``newsflow-`` by default)::

    P-articles-template     composable index template for P-articles-*
    P-articles-000001       the concrete index
    P-articles              alias for reads, and the write alias (is_write_index)
    P-deadletters           every input that could not be indexed, with stage and reason

Document ids come from the source (``RawArticle.doc_id``), so every write is an upsert
and re-runs, retries and backfills never create duplicates.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pipelines import __version__
from pipelines.errors import IndexingError
from pipelines.extraction import FACET_LABELS
from pipelines.models import EnrichedArticle, Failure, stable_id
from pipelines.near_duplicates import Signature, band_keys, best_match

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

FACET_FIELDS = tuple(FACET_LABELS)
_KEYWORD = {"type": "keyword", "ignore_above": 512}
# Facets keep their display value; ``.folded`` matches regardless of case ("vladimir putin").
_FACET = {**_KEYWORD, "fields": {"folded": {"type": "keyword", "normalizer": "folded", "ignore_above": 512}}}
# Only "lowercase": the Maven distribution's core has it, asciifolding lives in analysis-common.
ARTICLE_ANALYSIS = {"normalizer": {"folded": {"type": "custom", "filter": ["lowercase"]}}}


@dataclass(frozen=True)
class IndexNames:
    prefix: str

    @property
    def articles(self) -> str:
        return f"{self.prefix}articles"

    @property
    def articles_write(self) -> str:
        """Write alias: moves to a new concrete index only when a migration swaps it."""
        return f"{self.prefix}articles-write"

    @property
    def articles_template(self) -> str:
        return f"{self.prefix}articles-template"

    @property
    def first_articles_index(self) -> str:
        return f"{self.prefix}articles-000001"

    @property
    def deadletters(self) -> str:
        return f"{self.prefix}deadletters"


@dataclass(frozen=True)
class RunInfo:
    """Who wrote a document: recorded on every document so a run's output can be found again."""

    run_id: str
    dag_id: str | None = None


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


def article_mappings(*, english: bool) -> dict[str, Any]:
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
            **{facet: _FACET for facet in FACET_FIELDS},
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
            "indexed_at": {"type": "date"},
            "content_hash": {"type": "keyword"},
            "duplicate_of": {"type": "keyword"},
            "removed_shortcodes": {"type": "keyword"},
            "cleaning": {
                "properties": {
                    "captions_moved": {"type": "integer"},
                    "boilerplate_lines": {"type": "keyword", "ignore_above": 512},
                    "apostrophe_repairs": {"type": "keyword"},
                    "encoding_repaired": {"type": "boolean"},
                    "html_removed": {"type": "boolean"},
                }
            },
            "pipeline_version": {"type": "keyword"},
            "model": {"type": "keyword"},
            "run_id": {"type": "keyword"},
            "dag_id": {"type": "keyword"},
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


def create_index_once(client: Elasticsearch, index: str, **body: Any) -> None:
    """Create ``index`` unless it exists; a concurrent creator winning the race is not an error."""
    from elasticsearch import BadRequestError

    if client.indices.exists(index=index):
        return
    try:
        client.indices.create(index=index, **body)
    except BadRequestError as error:
        if error.error != "resource_already_exists_exception":
            raise IndexingError(f"cannot create {index}: {error}") from error


def ensure_indices(client: Elasticsearch, names: IndexNames, *, update_live_mapping: bool = True) -> None:
    """Create the template, the first concrete index, its aliases and the dead-letter index, once;
    add new fields to the live index (``update_live_mapping``)."""
    settings = {"number_of_shards": 1, "auto_expand_replicas": "0-1"}
    create_index_once(client, names.deadletters, settings=settings, mappings=DEADLETTER_MAPPINGS)
    mappings = article_mappings(english=has_analyzer(client, "english", names.deadletters))
    client.indices.put_index_template(
        name=names.articles_template,
        index_patterns=[f"{names.articles}-*"],
        priority=200,
        template={"settings": {**settings, "analysis": ARTICLE_ANALYSIS}, "mappings": mappings},
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


def build_document(
    article: EnrichedArticle, run: RunInfo, *, duplicate_of: str | None = None, duplicate_similarity: float | None = None
) -> dict[str, Any]:
    clean = article.clean
    raw = clean.raw
    return {
        "doc_id": raw.doc_id,
        "source": raw.source,
        "source_ref": raw.source_ref,
        "url": raw.url,
        "title": article.title,
        "body": clean.body,
        "captions": list(clean.captions),
        **{facet: list(article.facets.get(facet, ())) for facet in FACET_FIELDS},
        "entities": [asdict(entity) for entity in article.entities],
        "language": article.language,
        "word_count": article.word_count,
        "keywords": list(article.keywords),
        "dates_mentioned": list(article.dates_mentioned),
        "summary": article.summary,
        "reading_time_minutes": article.reading_time_minutes,
        "minhash": list(article.minhash),
        "minhash_bands": band_keys(article.minhash),
        "duplicate_similarity": duplicate_similarity if duplicate_of else None,
        "published_at": raw.published_at.isoformat() if raw.published_at else None,
        "fetched_at": raw.fetched_at.isoformat() if raw.fetched_at else None,
        "indexed_at": datetime.now(UTC).isoformat(),
        "content_hash": raw.content_hash,
        "duplicate_of": duplicate_of,
        "removed_shortcodes": list(clean.removed_shortcodes),
        "cleaning": {  # what the cleaner did, for debugging a document from Kibana
            "captions_moved": len(clean.captions),
            "boilerplate_lines": list(clean.dropped_lines),
            "apostrophe_repairs": list(clean.repairs),
            "encoding_repaired": clean.encoding_repaired,
            "html_removed": clean.html_removed,
        },
        "pipeline_version": __version__,
        "model": article.model,
        "run_id": run.run_id,
        "dag_id": run.dag_id,
    }


def fetch_fingerprints(client: Elasticsearch, names: IndexNames, doc_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """What is already indexed for these ids: content hash and the versions that produced it."""
    if not doc_ids:
        return {}
    response = client.mget(
        index=names.articles,
        ids=list(doc_ids),
        source_includes=["content_hash", "pipeline_version", "model"],
    )
    return {doc["_id"]: doc["_source"] for doc in response["docs"] if doc.get("found")}


def find_by_content_hash(client: Elasticsearch, names: IndexNames, hashes: Iterable[str]) -> dict[str, str]:
    """content hash → id of an already indexed document with that exact content."""
    hashes = sorted(set(hashes))
    if not hashes:
        return {}
    response = client.search(
        index=names.articles,
        query={"bool": {"filter": [{"terms": {"content_hash": hashes}}], "must_not": [{"exists": {"field": "duplicate_of"}}]}},
        source_includes=["content_hash"],
        size=len(hashes) * 2,
        sort=[{"doc_id": "asc"}],
    )
    found: dict[str, str] = {}
    for hit in response["hits"]["hits"]:
        found.setdefault(hit["_source"]["content_hash"], hit["_id"])
    return found


def find_near_duplicates(
    client: Elasticsearch, names: IndexNames, signatures: dict[str, Signature], *, candidates_per_document: int = 10
) -> dict[str, tuple[str, float]]:
    """doc id → (id, similarity) of the indexed original it nearly duplicates, for those that have one.

    One search per document (in one msearch): indexed originals ranked by how many LSH bands they
    share with it; the best few are confirmed by signature similarity.
    """
    bands = {doc_id: keys for doc_id, sig in signatures.items() if (keys := band_keys(sig))}
    if not bands:
        return {}
    searches: list[dict[str, Any]] = []
    for keys in bands.values():
        searches.append({"index": names.articles})
        searches.append({
            "query": {"bool": {
                "should": [{"constant_score": {"filter": {"term": {"minhash_bands": key}}}} for key in keys],
                "minimum_should_match": 1,
                "must_not": [{"exists": {"field": "duplicate_of"}}],
            }},
            "_source": ["minhash"],
            "size": candidates_per_document,
        })
    responses = client.msearch(searches=searches)["responses"]
    found = {}
    for doc_id, response in zip(bands, responses, strict=True):
        if "error" in response:
            raise IndexingError(f"near-duplicate search failed for {doc_id}: {response['error']}")
        candidates = {hit["_id"]: hit["_source"].get("minhash") or [] for hit in response["hits"]["hits"]}
        match = best_match(signatures[doc_id], candidates, exclude=doc_id)
        if match:
            found[doc_id] = match
    return found


def bulk_index(
    client: Elasticsearch, names: IndexNames, documents: Sequence[dict[str, Any]], *, chunk_size: int = 200
) -> list[Failure]:
    """Upsert documents by id; returns one Failure per rejected document, never raises for one."""
    from elasticsearch import helpers

    actions = (
        {"_op_type": "index", "_index": names.articles_write, "_id": doc["doc_id"], "_source": doc} for doc in documents
    )
    by_id = {doc["doc_id"]: doc for doc in documents}
    failures = []
    for ok, item in helpers.streaming_bulk(
        client,
        actions,
        chunk_size=chunk_size,
        max_retries=5,
        initial_backoff=1,
        raise_on_error=False,
        raise_on_exception=False,
    ):
        if ok:
            continue
        result = item.get("index", {})
        error = result.get("error") or {}
        doc = by_id.get(result.get("_id"), {})
        failures.append(
            Failure(
                stage="index",
                source_ref=doc.get("source_ref", "?"),
                doc_id=result.get("_id"),
                error_type=error.get("type", "bulk_error") if isinstance(error, dict) else "bulk_error",
                message=_bulk_error_message(error),
            )
        )
    return failures


def _bulk_error_message(error: object) -> str:
    """The reason and its root cause: "failed to parse field [url]" alone does not say why."""
    if not isinstance(error, dict):
        return str(error)
    reasons = []
    while isinstance(error, dict):
        if error.get("reason"):
            reasons.append(str(error["reason"]))
        error = error.get("caused_by")
    return "; caused by: ".join(reasons) or "bulk item rejected"


def record_failures(client: Elasticsearch, names: IndexNames, failures: Sequence[Failure], run: RunInfo, source: str) -> None:
    """Dead-letter failures; the id makes a repeated failure of the same input one entry, not many."""
    from elasticsearch import helpers

    if not failures:
        return
    now = datetime.now(UTC).isoformat()
    actions = (
        {
            "_op_type": "index",
            "_index": names.deadletters,
            "_id": stable_id(failure.stage, failure.source or source, failure.source_ref),
            "_source": {
                "stage": failure.stage,
                "error_type": failure.error_type,
                "message": failure.message,
                "source": failure.source or source,
                "source_ref": failure.source_ref,
                "doc_id": failure.doc_id,
                "run_id": run.run_id,
                "dag_id": run.dag_id,
                "failed_at": now,
            },
        }
        for failure in failures
    )
    _, errors = helpers.bulk(client, actions, raise_on_error=False, refresh="wait_for")
    if errors:
        raise IndexingError(f"could not dead-letter {len(errors)} failures: {errors[:3]}")


def iter_documents(client: Elasticsearch, index: str, query: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    from elasticsearch import helpers

    for hit in helpers.scan(client, index=index, query={"query": query or {"match_all": {}}}):
        yield hit["_source"]


def resolve_dead_letters(client: Elasticsearch, names: IndexNames, indexed: Sequence[tuple[str, str]]) -> int:
    """Remove dead letters of inputs that have now been indexed ((source, source_ref) pairs); returns how many."""
    from elasticsearch import helpers

    if not indexed:
        return 0
    wanted = set(indexed)
    response = client.search(
        index=names.deadletters,
        query={"terms": {"source_ref": sorted({ref for _, ref in wanted})}},
        source_includes=["source", "source_ref"],
        size=min(10_000, len(wanted) * 4),
    )
    stale = [hit["_id"] for hit in response["hits"]["hits"] if (hit["_source"]["source"], hit["_source"]["source_ref"]) in wanted]
    if stale:
        helpers.bulk(client, ({"_op_type": "delete", "_index": names.deadletters, "_id": i} for i in stale), raise_on_error=False)
    return len(stale)
