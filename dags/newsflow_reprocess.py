"""Re-enrich indexed articles chosen in the trigger form: a date range, sources, and (by default)
only documents an older pipeline or model version produced. ``dry_run`` reports how many
documents would be touched and changes nothing.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from airflow.sdk import Param, dag, get_current_context, task

from pipelines.orchestration import ARTICLES_PER_BATCH
from pipelines.orchestration.airflow import DEFAULT_ARGS, ENRICH_BATCH_TIMEOUT, report_health_alerts, run_info, settings

ONLY_STALE = "Only documents from an older pipeline or model version"
EVERYTHING = "Every document in the range"


@dag(
    dag_id="newsflow_reprocess",
    description="Re-enrich a date range of articles after a cleaning or model upgrade (dry run first)",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["newsflow", "enrichment", "backfill"],
    default_args=DEFAULT_ARGS,
    params={
        "date_from": Param(
            (date.today() - timedelta(days=30)).isoformat(), type="string", format="date", title="From (fetched on or after)",
            description="First day of the range, by when the article was fetched.",
        ),
        "date_to": Param(
            date.today().isoformat(), type="string", format="date", title="To (fetched on or before)",
            description="Last day of the range, inclusive.",
        ),
        "sources": Param(
            [], type="array", items={"type": "string"}, title="Sources",
            description='e.g. "folder:articles", "feed:bbc-world"; empty: every source.',
        ),
        "selection": Param(ONLY_STALE, type="string", enum=[ONLY_STALE, EVERYTHING], title="Which documents"),
        "dry_run": Param(True, type="boolean", title="Dry run", description="Only count what would be re-enriched."),
        "articles_per_batch": Param(
            ARTICLES_PER_BATCH, type="integer", minimum=1, maximum=5000, title="Articles per mapped task",
            description="As newsflow_enrich's: each mapped task re-enriches this many articles with every core.",
        ),
    },
)
def newsflow_reprocess():
    @task
    def plan(params: dict | None = None) -> list[dict]:
        from pipelines.orchestration.tasks import plan_reprocess

        return plan_reprocess(
            settings(), fetched_from=datetime.fromisoformat(params["date_from"]),
            fetched_to=datetime.fromisoformat(params["date_to"]) + timedelta(days=1), sources=params["sources"],
            only_stale=params["selection"] == ONLY_STALE, dry_run=params["dry_run"], per_batch=params["articles_per_batch"],
        )

    @task(map_index_template="{{ batch_label }}", max_active_tis_per_dagrun=2, execution_timeout=ENRICH_BATCH_TIMEOUT)
    def enrich(batch: dict) -> dict:
        from pipelines.orchestration.tasks import enrich

        context = get_current_context()
        context["batch_label"] = batch["label"]
        return enrich(settings(), batch["doc_ids"], **run_info(context), force=True, unit=batch["label"])

    @task(trigger_rule="all_done")
    def summarize(results: list[dict]) -> dict:
        from pipelines.orchestration.tasks import summarize_enrichment

        context = get_current_context()
        summary = summarize_enrichment(list(results), settings(), run_id=context["run_id"])
        report_health_alerts(summary["health_alerts"], context)
        return summary

    summarize(enrich.expand(batch=plan()))


newsflow_reprocess()
