"""Whole units of work, callable from the CLI and from Airflow tasks alike.

Each function takes and returns small plain values (paths, ids, counts), never article
bodies, so a DAG can hand its results through XCom.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from pipelines.config import Settings
from pipelines.elastic import connect, describe
from pipelines.extraction import Extractor
from pipelines.indexing import IndexNames, RunInfo, ensure_indices
from pipelines.runner import IngestSummary, Progress, ingest
from pipelines.sources.folder import iter_article_files, read_files

log = logging.getLogger(__name__)

SUMMARY_MARKER = "NEWSFLOW_SUMMARY"


def _ready(settings: Settings) -> tuple[Any, IndexNames]:
    """A client and the index names, with the indices in place (idempotent, cheap)."""
    names = IndexNames(settings.index_prefix)
    client = connect(settings)
    ensure_indices(client, names)
    return client, names


def prepare_indices(settings: Settings) -> str:
    """Create the index template, aliases and dead-letter index if missing; returns the read alias."""
    _, names = _ready(settings)
    log.info("indices ready on %s: %s", describe(settings), names.articles)
    return names.articles


def ingest_folder(
    folder: Path,
    *,
    settings: Settings,
    run_id: str,
    source_name: str | None = None,
    dag_id: str | None = None,
    on_total: Callable[[int], None] | None = None,
    progress: Progress | None = None,
) -> IngestSummary:
    """Every article file under ``folder`` through clean → extract → index."""
    files = list(iter_article_files(folder))
    if on_total:
        on_total(len(files))
    return ingest_folder_files(
        folder, [path.relative_to(folder).as_posix() for path in files],
        settings=settings, run_id=run_id, source_name=source_name, dag_id=dag_id, progress=progress,
    )


def plan_folder_batches(folder: Path, *, files_per_batch: int, source_name: str | None = None) -> list[dict[str, Any]]:
    """Split a folder into batch references (relative paths only) for mapped tasks."""
    if not folder.is_dir():
        raise FileNotFoundError(f"article folder does not exist: {folder}")
    paths = [path.relative_to(folder).as_posix() for path in iter_article_files(folder)]
    batches = []
    for start in range(0, len(paths), files_per_batch):
        chunk = paths[start : start + files_per_batch]
        batches.append({
            "folder": str(folder),
            "source_name": source_name or folder.name,
            "files": chunk,
            "label": f"files {start + 1}-{start + len(chunk)} of {len(paths)}",
        })
    return batches


def ingest_folder_files(
    folder: Path,
    relative_paths: Sequence[str],
    *,
    settings: Settings,
    run_id: str,
    source_name: str | None = None,
    dag_id: str | None = None,
    progress: Progress | None = None,
) -> IngestSummary:
    """Both stages inline (the CLI's path): store the files' articles raw, then enrich them."""
    stored = store_folder_files(
        folder, relative_paths, settings=settings, run_id=run_id, dag_id=dag_id, source_name=source_name
    )
    if progress and stored["failures"]:
        progress(len(stored["failures"]))
    enriched = enrich_documents(stored["doc_ids"], settings=settings, run_id=run_id, dag_id=dag_id, progress=progress)
    return enriched.add(read_failures_summary(stored))


def store_folder_files(
    folder: Path,
    relative_paths: Sequence[str],
    *,
    settings: Settings,
    run_id: str,
    source_name: str | None = None,
    dag_id: str | None = None,
) -> dict[str, Any]:
    """Ingestion stage: read the files and keep their articles in the raw store (ids and counts out)."""
    from pipelines.raw_store import store_raw

    client, names = _ready(settings)
    items = read_files(folder, relative_paths, source_name=source_name or folder.name)
    result = store_raw(client, names, items, RunInfo(run_id=run_id, dag_id=dag_id))
    log.info("raw store: %d new or changed, %d unchanged, %d failed", result.stored, result.unchanged, len(result.failures))
    return result.to_dict()


def read_failures_summary(stored: dict[str, Any]) -> IngestSummary:
    """The ingestion stage's failures, in the enrichment summary's terms (seen and failed)."""
    from pipelines.models import Failure

    failures = [Failure(**failure) for failure in stored["failures"]]
    return IngestSummary(seen=len(failures), failed=len(failures), failures=failures)


def enrich_documents(
    doc_ids: Sequence[str],
    *,
    settings: Settings,
    run_id: str,
    dag_id: str | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> IngestSummary:
    """Enrichment stage: clean → extract → index the stored raw articles with these ids."""
    from pipelines.raw_store import load_raw

    client, names = _ready(settings)
    extractor = Extractor(
        model_name=settings.spacy_model, batch_size=settings.batch_size, n_process=settings.spacy_n_process
    )
    return ingest(
        load_raw(client, names, list(doc_ids)),
        client=client,
        names=names,
        extractor=extractor,
        run=RunInfo(run_id=run_id, dag_id=dag_id),
        batch_size=settings.batch_size,
        progress=progress,
        force=force,
    )


def id_batches(doc_ids: Sequence[str], per_batch: int, what: str = "articles") -> list[dict[str, Any]]:
    """Split ids into labelled batches for mapped tasks (ids are small; bodies never travel)."""
    return [
        {"doc_ids": list(doc_ids[start : start + per_batch]),
         "label": f"{what} {start + 1}-{min(start + per_batch, len(doc_ids))} of {len(doc_ids)}"}
        for start in range(0, len(doc_ids), per_batch)
    ]


def select_stale_documents(
    settings: Settings,
    *,
    fetched_from: datetime | None,
    fetched_to: datetime | None,
    sources: Sequence[str] = (),
    only_stale: bool = True,
) -> list[str]:
    """Ids of indexed articles in a fetch window (and sources), optionally only those an older
    pipeline or model version produced: what a reprocess run would touch."""
    from elasticsearch import helpers

    from pipelines import __version__

    client, names = _ready(settings)
    filters: list[dict[str, Any]] = []
    window = {key: value.isoformat() for key, value in (("gte", fetched_from), ("lt", fetched_to)) if value}
    if window:
        filters.append({"range": {"fetched_at": window}})
    if sources:
        filters.append({"terms": {"source": list(sources)}})
    must_not: list[dict[str, Any]] = []
    if only_stale:
        model = Extractor(model_name=settings.spacy_model).model_version
        must_not.append({"bool": {"filter": [{"term": {"pipeline_version": __version__}}, {"term": {"model": model}}]}})
    query = {"query": {"bool": {"filter": filters, "must_not": must_not}}, "_source": False}
    return sorted(hit["_id"] for hit in helpers.scan(client, index=names.articles, query=query))


def summarize(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Add up per-batch summaries and log one machine-readable line for operators and the demo."""
    total = IngestSummary()
    for result in results:
        total = total.add(IngestSummary.from_dict(result))
    summary = total.to_dict()
    log.info("%s %s", SUMMARY_MARKER, json.dumps(total.counts()))
    for failure in total.failures:
        log.warning("failed [%s] %s: %s: %s", failure.stage, failure.source_ref, failure.error_type, failure.message)
    return summary


def select_for_enrichment(
    settings: Settings,
    *,
    ingest_run_ids: Sequence[str] | None = None,
    sources: Sequence[str] = (),
    fetched_from: datetime | None = None,
    fetched_to: datetime | None = None,
    per_batch: int = 200,
) -> list[dict[str, Any]]:
    """Batches of raw-article ids to enrich: those stored by given ingestion runs, of given
    sources, and/or fetched in a window."""
    from pipelines.raw_store import select_raw_ids

    client = connect(settings)
    ids = select_raw_ids(
        client, IndexNames(settings.index_prefix), fetched_from=fetched_from, fetched_to=fetched_to,
        ingest_run_ids=ingest_run_ids, sources=sources,
    )
    log.info("selected %d raw articles (runs=%s sources=%s window=%s..%s)", len(ids), ingest_run_ids, list(sources),
             fetched_from, fetched_to)
    return id_batches(ids, per_batch)


def summarize_store(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Add up the ingestion stage's batches; logs one NEWSFLOW_STORE line."""
    from pipelines.models import Failure

    total = {"articles": 0, "stored": 0, "unchanged": 0, "failed": 0}
    failures = []
    for result in results:
        total["articles"] += result["articles"]
        total["stored"] += result["stored"]
        total["unchanged"] += result["unchanged"]
        total["failed"] += len(result["failures"])
        failures.extend(result["failures"])
    log.info("NEWSFLOW_STORE %s", json.dumps(total))
    for failure in map(lambda f: Failure(**f), failures):
        log.warning("failed [%s] %s: %s: %s", failure.stage, failure.source_ref, failure.error_type, failure.message)
    return {**total, "failures": failures[:50]}
