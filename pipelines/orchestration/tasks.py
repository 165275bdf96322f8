"""What each Airflow task does, as one function call each: the DAG files only wire these together.

Every function takes settings and small plain values (units, ids, counts, run ids) and returns
small JSON-safe values, never article bodies: the raw store is the hand-off between stages, so
nothing large travels through XCom. No Airflow import here: these run and are tested without it.

The shape is the same for every polled or bulk source: ``plan`` → ``acquire`` (one mapped task per
unit, or per batch of feeds or sitemaps: ``plan_polled``) → ``summarize_acquisition`` (one Asset
event per run) → ``newsflow_enrich``: ``plan_enrichment`` → ``enrich`` (mapped batches) →
``summarize_enrichment``. The inbox, where seconds count, does both halves in one task
(``ingest_inbox``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pipelines.models import Failure, RunInfo
from pipelines.orchestration import ARTICLES_PER_BATCH
from pipelines.pipeline import IngestSummary, Pipeline, describe_failure
from pipelines.store import RawSelection

if TYPE_CHECKING:
    from pipelines.settings import Settings

log = logging.getLogger(__name__)

STORE_MARKER = "NEWSFLOW_STORE"
SUMMARY_MARKER = "NEWSFLOW_SUMMARY"
SOURCES_MARKER = "NEWSFLOW_SOURCES_SUMMARY"
REPROCESS_MARKER = "NEWSFLOW_REPROCESS"
HEALTH_MARKER = "NEWSFLOW_HEALTH_ALERT"
FAILURE_DETAILS_PER_TASK = 50


def prepare(settings: Settings) -> str:
    """Indices (or files) in place before the mapped tasks start; returns where articles go."""
    Pipeline.shared(settings).prepare()
    return settings.sink


# ---------------------------------------------------------------------------- acquisition


def plan(settings: Settings, kind: str, **options: Any) -> list[dict[str, Any]]:
    """A source's units for this run; a folder that does not exist is an error here, before any mapping."""
    works = Pipeline.shared(settings).plan(kind, **options)
    log.info("planned %d %s unit(s)", len(works), kind)
    return works


def plan_polled(settings: Settings, kind: str, **options: Any) -> list[dict[str, Any]]:
    """A polled source's units (feeds, sitemaps) in tasks of ``poll_units_per_task``, so thousands
    of feeds are a few mapped tasks, never near ``[core] max_map_length``. Units are grouped by host
    (tasks run in separate processes, each with its own per-host limits: one host's feeds in one
    task keep it asked politely); only names travel through XCom."""
    works = sorted(plan(settings, kind, **options), key=lambda work: work["unit"].get("host") or "")
    size, total = settings.poll_units_per_task, len(works)
    return [
        {"kind": kind, "names": [work["label"] for work in works[start : start + size]],
         "label": f"{kind} {start + 1}-{min(start + size, total)} of {total}"}
        for start in range(0, total, size)
    ]


def acquire(settings: Settings, work: dict[str, Any], *, run_id: str, dag_id: str | None, force: bool = False,
            run_lists: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One planned task into the raw store; returns its report row with counts.

    ``work`` is a unit from ``plan`` (a folder's batch of files), or a batch of polled units from
    ``plan_polled``: their entries are read again from the run's list (``run_lists[kind]``, the
    DAG's Param of that name) or the list file, and acquired together (``Pipeline.acquire_units``).
    """
    pipeline, run = Pipeline.shared(settings), RunInfo(run_id, dag_id)
    if "names" not in work:
        return pipeline.acquire(work, run, force=force).to_dict()
    kind = work["kind"]
    works = pipeline.plan(kind, **{kind: (run_lists or {}).get(kind), "only": work["names"]})
    rows = [result.to_dict() for result in pipeline.acquire_units(works, run, force=force)]
    kept = 0
    for row in rows:  # failure details for XCom are capped per task; the dead-letter store has them all
        row["failures"] = row["failures"][: max(0, FAILURE_DETAILS_PER_TASK - kept)]
        kept += len(row["failures"])
    return {"label": work["label"], "units": rows}


def summarize_acquisition(results: Sequence[dict[str, Any] | None], planned: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Every planned unit's outcome (a unit whose task failed after its retries is ``task_failed``),
    totals, and one machine-readable ``NEWSFLOW_STORE`` line."""
    by_unit = {row["unit"]: row for result in results if result for row in result.get("units", [result])}
    rows = []
    for label in (name for work in planned for name in work.get("names", [work["label"]])):
        row = by_unit.get(label) or {
            "unit": label, "outcome": "task_failed", "articles": 0, "stored": 0, "unchanged": 0, "failed": 0,
            "failures": [], "error": "the unit's task failed after its retries; see its log",
        }
        rows.append(row)
    totals = {key: sum(row.get(key, 0) for row in rows) for key in ("articles", "stored", "unchanged", "failed")}
    outcomes: dict[str, int] = {}
    for row in rows:
        if "outcome" in row:
            outcomes[row["outcome"]] = outcomes.get(row["outcome"], 0) + 1
    log.info("%s %s", STORE_MARKER, json.dumps(totals))
    if outcomes:
        log.info("%s %s", SOURCES_MARKER, json.dumps({"units": rows, "outcomes": outcomes}, default=str))
    for row in rows:
        detail = f"  ({row['error']})" if row.get("error") else ""
        log.info("%-28s %-13s stored %d  unchanged %d  failed %d%s", row["unit"], row.get("outcome", ""),
                 row.get("stored", 0), row.get("unchanged", 0), row.get("failed", 0), detail)
        for failure in row.get("failures", []):
            log.warning("%s", describe_failure(Failure.from_dict(failure)))
    return {**totals, "outcomes": outcomes, "units": [{k: v for k, v in row.items() if k != "failures"} for row in rows]}


def asset_event_extra(summary: Mapping[str, Any], *, dag_id: str, run_id: str) -> dict[str, Any]:
    """What the raw-articles Asset event says about the run that stored them."""
    return {"dag_id": dag_id, "run_id": run_id, "stored": summary["stored"], "unchanged": summary["unchanged"]}


def inbox_files(events: Sequence[Mapping[str, Any]]) -> list[str] | None:
    """The inbox files the watcher reported (None when started by hand: every file; unchanged ones cost little)."""
    return sorted({name for event in events for name in (event.get("payload") or {}).get("files", [])}) or None


def ingest_inbox(settings: Settings, events: Sequence[Mapping[str, Any]], *, run_id: str, dag_id: str | None) -> dict[str, Any]:
    """The inbox's files acquired and enriched in this one task (``Pipeline.run``, the CLI's path):
    a drop is searchable without a second DAG run, and each file ends in exactly one bucket. A retry
    finds its stored files unchanged and enriches whatever the failed try did not index."""
    summary, _ = Pipeline.shared(settings).run(
        "folder", RunInfo(run_id, dag_id), folder=str(settings.inbox), source_name="inbox", files=inbox_files(events)
    )
    return summarize_enrichment([summary.to_dict()])


# ---------------------------------------------------------------------------- enrichment


def enrichment_selection(
    *,
    sources: Sequence[str] = (),
    ingest_run_ids: Sequence[str] = (),
    triggered_by_assets: bool = False,
    interval: tuple[datetime | None, datetime | None] = (None, None),
) -> RawSelection:
    """Which raw articles an enrich run takes.

    Named ingestion runs, or named sources: exactly those. Started by new raw articles (an Asset
    event): whatever is due, i.e. stored since its last enrichment, from any source. A run with a
    data interval (scheduled, or each day of a backfill): the articles fetched in that window, so
    a backfill replays its days. Anything else (a manual trigger without a date): what is due.
    """
    if ingest_run_ids:
        return RawSelection(ingest_run_ids=list(ingest_run_ids), sources=list(sources))
    if sources:
        return RawSelection(sources=list(sources))
    start, end = interval
    if not triggered_by_assets and start is not None and end is not None and start < end:
        return RawSelection(fetched_from=start, fetched_to=end)
    return RawSelection(pending=True)


def id_batches(doc_ids: Sequence[str], per_batch: int = ARTICLES_PER_BATCH, what: str = "articles") -> list[dict[str, Any]]:
    """Ids in labelled batches for mapped tasks (ids are small; bodies never travel)."""
    return [
        {"doc_ids": list(doc_ids[start : start + per_batch]),
         "label": f"{what} {start + 1}-{min(start + per_batch, len(doc_ids))} of {len(doc_ids)}"}
        for start in range(0, len(doc_ids), per_batch)
    ]


def plan_enrichment(settings: Settings, selection: RawSelection, *, per_batch: int = ARTICLES_PER_BATCH) -> list[dict[str, Any]]:
    ids = Pipeline.shared(settings).select(selection)
    log.info("selected %d raw articles (%s)", len(ids), selection)
    return id_batches(ids, per_batch)


def enrich(settings: Settings, doc_ids: Sequence[str], *, run_id: str, dag_id: str | None, force: bool = False,
           unit: str | None = None) -> dict[str, Any]:
    """Enrich one batch of stored raw articles; returns its counts (and capped failure details).
    Its run report (per source) goes to the runs index; one that does not add up fails the task."""
    return Pipeline.shared(settings).enrich_ids(doc_ids, RunInfo(run_id, dag_id), force=force, unit=unit).to_dict()


def summarize_enrichment(results: Sequence[dict[str, Any] | None], settings: Settings | None = None, *,
                         run_id: str | None = None) -> dict[str, Any]:
    """Add up per-batch summaries and log one ``NEWSFLOW_SUMMARY`` line for operators and the demo;
    with settings and the run's id, also the run's new extraction-health alerts (``health_alerts``),
    each logged as a ``NEWSFLOW_HEALTH_ALERT`` warning."""
    total = IngestSummary()
    for result in results:
        if result:
            total = total.add(IngestSummary.from_dict(result))
    alerts = Pipeline.shared(settings).check_health(RunInfo(run_id)) if settings and run_id else []
    log.info("%s %s", SUMMARY_MARKER, json.dumps({**total.counts(), "health_alerts": len(alerts)}))
    for failure in total.failures:
        log.warning("%s", describe_failure(failure))
    for alert in alerts:
        log.warning("%s %s", HEALTH_MARKER, alert.message)
    return {**total.to_dict(), "health_alerts": [alert.to_dict() for alert in alerts]}


def plan_reprocess(
    settings: Settings, *, fetched_from: datetime, fetched_to: datetime, sources: Sequence[str], only_stale: bool,
    dry_run: bool, per_batch: int = ARTICLES_PER_BATCH,
) -> list[dict[str, Any]]:
    """Indexed articles to re-enrich (see ``stale_article_ids``); a dry run only says how many."""
    from pipelines.store.articles import stale_article_ids

    if fetched_to <= fetched_from:
        raise ValueError(f"the range ends ({fetched_to:%Y-%m-%d}) before it starts ({fetched_from:%Y-%m-%d})")
    pipeline = Pipeline.shared(settings)
    ids = stale_article_ids(
        pipeline.client, pipeline.store.names, fetched_from=fetched_from, fetched_to=fetched_to, sources=sources,
        model=pipeline.model_version if only_stale else None,
    )
    log.info("%s would re-enrich %d documents%s", REPROCESS_MARKER, len(ids), " (dry run: nothing changed)" if dry_run else "")
    return [] if dry_run else id_batches(ids, per_batch)
