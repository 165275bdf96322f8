"""Runs the stages over a stream of raw articles, in batches: the one code path behind the CLI and the DAGs.

Every input ends in exactly one bucket of ``IngestSummary``: indexed (new or changed),
unchanged (same content, same pipeline and model versions: skipped before any extraction),
duplicate (same content as another indexed document, or nearly the same by MinHash:
indexed with ``duplicate_of``), or
failed (dead-lettered with stage and reason).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import TYPE_CHECKING, Any

from pipelines import __version__
from pipelines.cleaning import CleaningConfig, clean_article
from pipelines.extraction import Extractor
from pipelines.indexing import (
    IndexNames,
    RunInfo,
    build_document,
    bulk_index,
    fetch_fingerprints,
    find_by_content_hash,
    find_near_duplicates,
    record_failures,
    resolve_dead_letters,
)
from pipelines.models import CleanArticle, EnrichedArticle, Failure, RawArticle
from pipelines.near_duplicates import SignatureIndex

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

Progress = Callable[[int], None]  # called with how many more inputs are done


@dataclass
class IngestSummary:
    seen: int = 0
    indexed: int = 0
    unchanged: int = 0
    duplicate: int = 0
    failed: int = 0
    failures: list[Failure] = field(default_factory=list)

    def add(self, other: IngestSummary) -> IngestSummary:
        return IngestSummary(
            seen=self.seen + other.seen,
            indexed=self.indexed + other.indexed,
            unchanged=self.unchanged + other.unchanged,
            duplicate=self.duplicate + other.duplicate,
            failed=self.failed + other.failed,
            failures=[*self.failures, *other.failures],
        )

    @property
    def accounted(self) -> bool:
        return self.seen == self.indexed + self.unchanged + self.duplicate + self.failed

    def counts(self) -> dict[str, int]:
        return {
            "seen": self.seen,
            "indexed": self.indexed,
            "unchanged": self.unchanged,
            "duplicate": self.duplicate,
            "failed": self.failed,
        }

    def to_dict(self) -> dict[str, Any]:
        """Small and JSON-safe: fit for XCom (failure details are capped, the dead-letter index has them all)."""
        return {
            **self.counts(),
            "failures": [
                {"stage": f.stage, "source_ref": f.source_ref, "error_type": f.error_type, "message": f.message[:300]}
                for f in self.failures[:50]
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IngestSummary:
        failures = [Failure(**failure) for failure in data.get("failures", [])]
        return cls(**{key: data[key] for key in ("seen", "indexed", "unchanged", "duplicate", "failed")}, failures=failures)


def _batches(items: Iterable[RawArticle | Failure], size: int) -> Iterator[list[RawArticle | Failure]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def _is_unchanged(raw: RawArticle, fingerprint: dict[str, Any] | None, model: str) -> bool:
    return (
        fingerprint is not None
        and fingerprint.get("content_hash") == raw.content_hash
        and fingerprint.get("pipeline_version") == __version__
        and fingerprint.get("model") == model
    )


def _clean_all(raws: list[RawArticle], failures: list[Failure]) -> list[CleanArticle]:
    cleaned = []
    config = CleaningConfig.from_env()  # NEWSFLOW_CLEANING_CONFIG: extra shortcodes and boilerplate
    for raw in raws:
        try:
            cleaned.append(clean_article(raw, config))
        except Exception as error:  # one bad article must not stop the batch
            failures.append(Failure("clean", raw.source_ref, type(error).__name__, str(error), raw.doc_id))
    return cleaned


def _extract_all(extractor: Extractor, articles: list[CleanArticle], failures: list[Failure]) -> list[EnrichedArticle]:
    try:
        return list(extractor.pipe(articles))
    except Exception:
        # Find the culprit one document at a time so the rest of the batch still goes through.
        enriched = []
        for article in articles:
            try:
                enriched.append(extractor(article))
            except Exception as error:
                raw = article.raw
                failures.append(Failure("extract", raw.source_ref, type(error).__name__, str(error), raw.doc_id))
        return enriched


def ingest_batch(
    batch: list[RawArticle | Failure],
    *,
    client: Elasticsearch,
    names: IndexNames,
    extractor: Extractor,
    run: RunInfo,
    seen_hashes: dict[str, str] | None = None,
    seen_signatures: SignatureIndex | None = None,
    force: bool = False,
) -> IngestSummary:
    """Clean, extract and index one batch; ``seen_hashes`` and ``seen_signatures`` carry exact- and
    near-duplicate detection across batches of one run."""
    seen_hashes = {} if seen_hashes is None else seen_hashes
    seen_signatures = SignatureIndex() if seen_signatures is None else seen_signatures
    failures = [item for item in batch if isinstance(item, Failure)]
    raws = [item for item in batch if isinstance(item, RawArticle)]

    fingerprints = fetch_fingerprints(client, names, [raw.doc_id for raw in raws])
    model = extractor.model_version
    # ``force`` re-enriches even what this pipeline and model version already indexed.
    changed = raws if force else [raw for raw in raws if not _is_unchanged(raw, fingerprints.get(raw.doc_id), model)]
    unchanged = len(raws) - len(changed)

    enriched = _extract_all(extractor, _clean_all(changed, failures), failures)

    indexed_elsewhere = find_by_content_hash(client, names, (a.clean.raw.content_hash for a in enriched))
    nearly_indexed = find_near_duplicates(client, names, {a.clean.raw.doc_id: a.minhash for a in enriched})
    documents, duplicates = [], 0
    for article in enriched:
        raw = article.clean.raw
        original = seen_hashes.get(raw.content_hash) or indexed_elsewhere.get(raw.content_hash)
        duplicate_of = original if original not in (None, raw.doc_id) else None
        similarity = 1.0 if duplicate_of else None
        if duplicate_of is None:
            near = seen_signatures.match(article.minhash, exclude=raw.doc_id) or nearly_indexed.get(raw.doc_id)
            duplicate_of, similarity = near if near else (None, None)
        seen_hashes.setdefault(raw.content_hash, raw.doc_id)
        if duplicate_of is None:
            seen_signatures.add(raw.doc_id, article.minhash)
        duplicates += duplicate_of is not None
        documents.append(build_document(article, run, duplicate_of=duplicate_of, duplicate_similarity=similarity))

    index_failures = bulk_index(client, names, documents)
    failed_ids = {failure.doc_id for failure in index_failures}
    duplicates -= sum(1 for doc in documents if doc["duplicate_of"] and doc["doc_id"] in failed_ids)
    failures.extend(index_failures)
    if failures:
        source = raws[0].source if raws else "unknown"
        record_failures(client, names, failures, run, source)
    # An input that failed before and went through now is no longer a dead letter.
    resolve_dead_letters(client, names, [(d["source"], d["source_ref"]) for d in documents if d["doc_id"] not in failed_ids])

    return IngestSummary(
        seen=len(batch),
        indexed=len(documents) - len(index_failures) - duplicates,
        unchanged=unchanged,
        duplicate=duplicates,
        failed=len(failures),
        failures=failures,
    )


def ingest(
    items: Iterable[RawArticle | Failure],
    *,
    client: Elasticsearch,
    names: IndexNames,
    extractor: Extractor,
    run: RunInfo,
    batch_size: int = 64,
    progress: Progress | None = None,
    force: bool = False,
) -> IngestSummary:
    """Ingest a whole stream in batches, then refresh so the result is searchable at once."""
    summary = IngestSummary()
    seen_hashes: dict[str, str] = {}
    seen_signatures = SignatureIndex()
    for batch in _batches(items, batch_size):
        result = ingest_batch(
            batch, client=client, names=names, extractor=extractor, run=run,
            seen_hashes=seen_hashes, seen_signatures=seen_signatures, force=force,
        )
        summary = summary.add(result)
        if progress:
            progress(len(batch))
    client.indices.refresh(index=[names.articles, names.deadletters])
    return summary
