"""The sink seam: where enriched articles go. Two sinks ship: Elasticsearch and JSON Lines files.

A sink is named by a spec (``elasticsearch``, ``jsonl:PATH``; ``Settings.sink``, ``--sink``) and
built through ``SINKS``. Besides writing, a sink answers what the pipeline needs to stay
idempotent and to find duplicates: what it already holds for an id (``fingerprints``) and which
held originals a new article copies (``originals_by_hash``, ``near_originals``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from pipelines import __version__
from pipelines.deduplication import Signature, band_keys
from pipelines.models import FACETS, EnrichedArticle, Failure, Revision, RunInfo
from pipelines.registry import Registry

if TYPE_CHECKING:
    from pipelines.settings import Settings


class Sink(Protocol):
    name: str

    def prepare(self, enrichments: Mapping[str, dict[str, Any]]) -> None:
        """Create what writing needs; ``enrichments`` maps each component to the mapping of its output."""

    def fingerprints(self, doc_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """id → ``content_hash``, ``pipeline_version``, ``model`` of what the sink holds for it."""

    def originals_by_hash(self, hashes: Sequence[str]) -> dict[str, str]:
        """content hash → id of a held original (not itself a duplicate) with that content."""

    def near_originals(self, signatures: Mapping[str, Signature]) -> dict[str, tuple[str, float]]:
        """id → (id of a held original it nearly copies, estimated similarity), for those that do."""

    def write(self, articles: Sequence[EnrichedArticle], run: RunInfo) -> list[Failure]:
        """Upsert by id; one ``Stage.INDEX`` failure per rejected article, never an exception for one."""

    def flush(self) -> None:
        """Make what was written visible to readers (a refresh, a file put in place)."""

    def close(self) -> None: ...


def article_document(article: EnrichedArticle, run: RunInfo) -> dict[str, Any]:
    """The indexed (or exported) form of an enriched article: the same in every sink."""
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
        **{facet: list(article.facets.get(facet, ())) for facet in FACETS},
        **{facet: list(values) for facet, values in article.metadata_facets().items()},
        **article.geo_fields(),
        "entities": [asdict(entity) for entity in article.entities],
        "language": article.language,
        "word_count": article.word_count,
        "keywords": list(article.keywords),
        "dates_mentioned": list(article.dates_mentioned),
        "summary": article.summary,
        "reading_time_minutes": article.reading_time_minutes,
        "minhash": list(article.minhash),
        "minhash_bands": band_keys(article.minhash),
        "duplicate_similarity": article.duplicate_similarity if article.duplicate_of else None,
        "published_at": raw.published_at.isoformat() if raw.published_at else None,
        "fetched_at": raw.fetched_at.isoformat() if raw.fetched_at else None,
        # One time field for every article (Kibana's data view): the raw store always sets fetched_at.
        "date": when.isoformat() if (when := raw.published_at or raw.fetched_at) else None,
        "indexed_at": datetime.now(UTC).isoformat(),
        "content_hash": raw.content_hash,
        "duplicate_of": article.duplicate_of,
        **revision_fields(article.revision),
        "entity_mentions": article.entity_mentions,
        "removed_shortcodes": list(clean.removed_shortcodes),
        "cleaning": {  # what the cleaner did, for debugging a document from Kibana
            "captions_moved": len(clean.captions),
            "boilerplate_lines": list(clean.dropped_lines),
            "boilerplate_removed": len(clean.dropped_lines),
            "lines_kept": sum(1 for line in clean.body.splitlines() if line.strip()),
            "apostrophe_repairs": list(clean.repairs),
            "encoding_repaired": clean.encoding_repaired,
            "html_removed": clean.html_removed,
        },
        "pipeline_version": __version__,
        "model": article.model,
        "run_id": run.run_id,
        "dag_id": run.dag_id,
        "enrichments": dict(article.enrichments),
    }


def revision_fields(revision: Revision | None) -> dict[str, Any]:
    """The article's version history (``pipelines.revisions``); empty when revisions are not tracked."""
    if revision is None:
        return {}
    return {
        "revision_count": revision.revision_count,
        "first_seen_at": revision.first_seen_at.isoformat(),
        "last_changed_at": revision.last_changed_at.isoformat() if revision.last_changed_at else None,
        "headline_changed": revision.headline_changed,
        "changes": {
            "title": revision.title_changed,
            "body": revision.body_changed,
            "entities_added": list(revision.entities_added),
            "entities_removed": list(revision.entities_removed),
        },
    }


SINKS: Registry[Any] = Registry("sink")  # kind → factory(settings, argument, client) -> Sink


def build_sink(spec: str, settings: Settings, client: Any = None) -> Sink:
    """A sink from its spec: ``elasticsearch`` or ``jsonl:PATH`` (or any registered ``kind[:argument]``)."""
    kind, _, argument = spec.partition(":")
    return SINKS.get(kind)(settings, argument or None, client)
