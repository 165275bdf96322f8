"""Whole units of work, callable from the CLI and from Airflow tasks alike.

Each function takes and returns small plain values (paths, ids, counts), never article
bodies, so a DAG can hand its results through XCom.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
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


def prepare_indices(settings: Settings) -> str:
    """Create the index template, aliases and dead-letter index if missing; returns the read alias."""
    names = IndexNames(settings.index_prefix)
    ensure_indices(connect(settings), names)
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
    names = IndexNames(settings.index_prefix)
    client = connect(settings)
    ensure_indices(client, names)
    items = read_files(folder, relative_paths, source_name=source_name or folder.name)
    extractor = Extractor(
        model_name=settings.spacy_model, batch_size=settings.batch_size, n_process=settings.spacy_n_process
    )
    return ingest(
        items,
        client=client,
        names=names,
        extractor=extractor,
        run=RunInfo(run_id=run_id, dag_id=dag_id),
        batch_size=settings.batch_size,
        progress=progress,
    )


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
