"""Ingest a folder of article files into the raw store: plan batches → store each batch → summary.

This is the ingestion stage only: articles are kept as read, keyed by their stable ids, and an
update of the ``newsflow_raw_articles`` Asset triggers ``newsflow_enrich`` (clean → extract →
index). Only relative file paths, ids and counts travel through XCom.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from airflow.sdk import Param, dag, get_current_context, task

from pipelines.airflow_links import task_with_kibana_link
from pipelines.orchestration import DEFAULT_ARGS, ES_POOL, RAW_ARTICLES

SAMPLE_FOLDER = str(Path(__file__).resolve().parent.parent / "samples" / "articles")


@dag(
    dag_id="newsflow_folder",
    description="Store every article file under a folder in the raw store (enrichment follows via the Asset)",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=2,
    tags=["newsflow", "ingestion"],
    default_args=DEFAULT_ARGS,
    params={
        "folder": Param(
            SAMPLE_FOLDER,
            type="string",
            title="Article folder",
            description="Absolute path of a folder of .txt/.md/.html/.json/.jsonl articles, read recursively.",
        ),
        "source_name": Param(
            None,
            type=["null", "string"],
            title="Source name",
            description="Recorded as the documents' source; empty means the folder's name. Part of each document id.",
        ),
        "files_per_batch": Param(
            200,
            type="integer",
            minimum=1,
            maximum=5000,
            title="Files per mapped task",
            description="Each mapped task reads and stores this many files.",
        ),
    },
)
def newsflow_folder():
    @task
    def prepare_indices() -> str:
        from pipelines.config import Settings
        from pipelines.tasks import prepare_indices

        return prepare_indices(Settings.from_env())

    @task
    def plan_batches(params: dict | None = None) -> list[dict]:
        from pipelines.tasks import plan_folder_batches

        return plan_folder_batches(
            Path(params["folder"]), files_per_batch=params["files_per_batch"], source_name=params["source_name"]
        )

    @task_with_kibana_link(
        map_index_template="{{ batch_label }}", pool=ES_POOL, max_active_tis_per_dagrun=4
    )
    def store_batch(batch: dict) -> dict:
        from pipelines.config import Settings
        from pipelines.tasks import store_folder_files

        context = get_current_context()
        context["batch_label"] = batch["label"]  # names the mapped task instance in the UI
        stored = store_folder_files(
            Path(batch["folder"]),
            batch["files"],
            settings=Settings.from_env(),
            run_id=context["run_id"],
            dag_id=context["dag"].dag_id,
            source_name=batch["source_name"],
        )
        return {key: value for key, value in stored.items() if key != "doc_ids"} | {"articles": len(stored["doc_ids"])}

    # One Asset event per run, after every batch is stored: one enrich run follows, not one per batch.
    @task(outlets=[RAW_ARTICLES])
    def summarize(results: list[dict]) -> dict:
        from pipelines.tasks import summarize_store

        context = get_current_context()
        summary = summarize_store(list(results))
        context["outlet_events"][RAW_ARTICLES].extra = {
            "dag_id": context["dag"].dag_id, "run_id": context["run_id"],
            "stored": summary["stored"], "unchanged": summary["unchanged"],
        }
        return summary

    batches = plan_batches()
    prepare_indices() >> batches
    summarize(store_batch.expand(batch=batches))


newsflow_folder()
