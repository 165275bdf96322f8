"""Enrich raw articles: plan batches → clean, extract and index each batch → summary.

Runs when acquisition updates the ``newsflow_raw_articles`` Asset (enriching whatever is due:
stored since its last enrichment, from any source), and on a daily data-interval timetable, so
that a scheduled run — or each day of Airflow's native backfill (Trigger → Backfill) — enriches
exactly the raw articles fetched in its window. Documents this pipeline and model version
already produced are skipped unless ``force`` is set. Only ids and counts travel through XCom.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import AssetOrTimeSchedule, CronDataIntervalTimetable, Param, dag, get_current_context, task

from pipelines.orchestration import ARTICLES_PER_BATCH
from pipelines.orchestration.airflow import (
    DEFAULT_ARGS, ENRICH_BATCH_TIMEOUT, RAW_ARTICLES, enrichment_selection, report_health_alerts, run_info, settings,
)


@dag(
    dag_id="newsflow_enrich",
    description="Clean, extract and index raw articles: on new raw articles, daily, and by date-window backfill",
    # CronDataIntervalTimetable gives each run a real [start, end) window; a plain cron string
    # would give zero-width intervals and select nothing.
    schedule=AssetOrTimeSchedule(
        timetable=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"), assets=[RAW_ARTICLES]
    ),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=2,
    tags=["newsflow", "enrichment"],
    default_args=DEFAULT_ARGS,
    params={
        "sources": Param(
            [], type="array", items={"type": "string"}, title="Sources",
            description='Only raw articles of these sources, e.g. "folder:articles" or "feed:bbc-world"; empty: all.',
        ),
        "ingest_run_ids": Param(
            [], type="array", items={"type": "string"}, title="Ingestion runs",
            description="Only raw articles stored by these ingestion DAG runs; empty: decided by how the run started.",
        ),
        "force": Param(
            False, type="boolean", title="Re-enrich everything selected",
            description="Also documents this pipeline and model version already produced.",
        ),
        "articles_per_batch": Param(
            ARTICLES_PER_BATCH, type="integer", minimum=1, maximum=5000, title="Articles per mapped task",
            description="Each mapped task enriches this many articles with every core (NEWSFLOW_WORKERS). A task "
            "pays seconds to start its workers and to fill and drain their pipeline, so a batch takes minutes, "
            "not seconds; a retry redoes one batch.",
        ),
    },
)
def newsflow_enrich():
    @task
    def plan(params: dict | None = None) -> list[dict]:
        from pipelines.orchestration.tasks import plan_enrichment

        selection = enrichment_selection(get_current_context(), params)
        return plan_enrichment(settings(), selection, per_batch=params["articles_per_batch"])

    @task(map_index_template="{{ batch_label }}", max_active_tis_per_dagrun=2, execution_timeout=ENRICH_BATCH_TIMEOUT)
    def enrich(batch: dict, params: dict | None = None) -> dict:
        from pipelines.orchestration.tasks import enrich

        context = get_current_context()
        context["batch_label"] = batch["label"]
        return enrich(settings(), batch["doc_ids"], **run_info(context), force=params["force"], unit=batch["label"])

    @task(trigger_rule="all_done")  # report what happened even when a batch failed
    def summarize(results: list[dict]) -> dict:
        from pipelines.orchestration.tasks import summarize_enrichment

        context = get_current_context()
        summary = summarize_enrichment(list(results), settings(), run_id=context["run_id"])
        report_health_alerts(summary["health_alerts"], context)
        return summary

    summarize(enrich.expand(batch=plan()))


newsflow_enrich()
