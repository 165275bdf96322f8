"""Re-enrich indexed articles chosen in the trigger form: a date range, sources, and (by default)
only documents an older pipeline or model version produced. ``dry_run`` reports how many
documents would be touched and changes nothing.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from airflow.sdk import Param, dag, get_current_context, task

from pipelines.orchestration import DEFAULT_ARGS, ES_POOL

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
        "articles_per_batch": Param(200, type="integer", minimum=1, maximum=5000, title="Articles per mapped task"),
    },
)
def newsflow_reprocess():
    @task
    def select_documents(params: dict | None = None) -> list[dict]:
        from pipelines.config import Settings
        from pipelines.tasks import id_batches, select_stale_documents

        start = datetime.fromisoformat(params["date_from"]).replace(tzinfo=None)
        end = datetime.fromisoformat(params["date_to"]).replace(tzinfo=None) + timedelta(days=1)
        if end <= start:
            raise ValueError(f"date_to ({params['date_to']}) is before date_from ({params['date_from']})")
        ids = select_stale_documents(
            Settings.from_env(), fetched_from=start, fetched_to=end, sources=params["sources"],
            only_stale=params["selection"] == ONLY_STALE,
        )
        print(f"NEWSFLOW_REPROCESS would re-enrich {len(ids)} documents"  # noqa: T201 — shown in the task log
              f"{' (dry run: nothing changed)' if params['dry_run'] else ''}")
        return [] if params["dry_run"] else id_batches(ids, params["articles_per_batch"])

    @task(map_index_template="{{ batch_label }}", pool=ES_POOL, max_active_tis_per_dagrun=2)
    def reprocess_batch(batch: dict) -> dict:
        from pipelines.config import Settings
        from pipelines.tasks import enrich_documents

        context = get_current_context()
        context["batch_label"] = batch["label"]
        return enrich_documents(
            batch["doc_ids"], settings=Settings.from_env(), run_id=context["run_id"],
            dag_id=context["dag"].dag_id, force=True,
        ).to_dict()

    @task(trigger_rule="all_done")
    def summarize(results: list[dict]) -> dict:
        from pipelines.tasks import summarize

        return summarize([result for result in results if result])

    summarize(reprocess_batch.expand(batch=select_documents()))


newsflow_reprocess()
