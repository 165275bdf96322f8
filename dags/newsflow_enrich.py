"""Enrich stored raw articles: select → clean, extract, index each batch → summary.

Runs when ingestion updates the ``newsflow_raw_articles`` Asset (enriching what those runs
stored), and on a daily data-interval timetable, so that a scheduled run — or each day of
Airflow's native backfill over a date range (Trigger → Backfill) — enriches exactly the raw
articles fetched in its window. Documents already produced by this pipeline and model version are
skipped unless ``force`` is set; after an upgrade a backfill therefore re-enriches what is
stale and nothing else. Only ids and counts travel through XCom.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import AssetOrTimeSchedule, CronDataIntervalTimetable, Param, dag, get_current_context, task

from pipelines.orchestration import DEFAULT_ARGS, ES_POOL, RAW_ARTICLES


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
        "articles_per_batch": Param(200, type="integer", minimum=1, maximum=5000, title="Articles per mapped task"),
    },
)
def newsflow_enrich():
    @task
    def select_articles(params: dict | None = None) -> list[dict]:
        from pipelines.config import Settings
        from pipelines.tasks import select_for_enrichment

        context = get_current_context()
        run_ids = list(params["ingest_run_ids"]) or None
        window = (None, None)
        events = [event for events in (context.get("triggering_asset_events") or {}).values() for event in events]
        if run_ids is None and not params["sources"]:
            if events:  # started by ingestion: what those runs stored
                run_ids = sorted({event.extra["run_id"] for event in events if event.extra.get("run_id")})
            else:  # scheduled, backfill or plain manual run: the data interval's window
                window = (context["data_interval_start"], context["data_interval_end"])
        return select_for_enrichment(
            Settings.from_env(), ingest_run_ids=run_ids, sources=params["sources"],
            fetched_from=window[0], fetched_to=window[1], per_batch=params["articles_per_batch"],
        )

    @task(map_index_template="{{ batch_label }}", pool=ES_POOL, max_active_tis_per_dagrun=2)
    def enrich_batch(batch: dict, params: dict | None = None) -> dict:
        from pipelines.config import Settings
        from pipelines.tasks import enrich_documents

        context = get_current_context()
        context["batch_label"] = batch["label"]
        summary = enrich_documents(
            batch["doc_ids"], settings=Settings.from_env(), run_id=context["run_id"],
            dag_id=context["dag"].dag_id, force=params["force"],
        )
        return summary.to_dict()

    @task(trigger_rule="all_done")  # report what happened even when a batch failed
    def summarize(results: list[dict]) -> dict:
        from pipelines.tasks import summarize

        return summarize([result for result in results if result])

    summarize(enrich_batch.expand(batch=select_articles()))


newsflow_enrich()
