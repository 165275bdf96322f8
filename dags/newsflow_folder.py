"""Ingest a folder of article files: plan batches → clean, extract, index each batch → summary.

Only relative file paths and counts travel through XCom; each mapped task reads its own
files. Document ids come from the files' paths, so re-runs and retries never duplicate.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from airflow.sdk import Param, dag, get_current_context, task

SAMPLE_FOLDER = str(Path(__file__).resolve().parent.parent / "samples" / "articles")


@dag(
    dag_id="newsflow_folder",
    description="Ingest every article file under a folder into Elasticsearch",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=2,
    tags=["newsflow", "ingestion"],
    default_args={
        "retries": 2,
        "retry_delay": timedelta(seconds=20),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=5),
    },
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
            description="Each mapped task loads spaCy once and ingests this many files.",
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

    @task(map_index_template="{{ batch_label }}")
    def ingest_batch(batch: dict) -> dict:
        from pipelines.config import Settings
        from pipelines.tasks import ingest_folder_files

        context = get_current_context()
        context["batch_label"] = batch["label"]  # names the mapped task instance in the UI
        summary = ingest_folder_files(
            Path(batch["folder"]),
            batch["files"],
            settings=Settings.from_env(),
            run_id=context["run_id"],
            dag_id=context["dag"].dag_id,
            source_name=batch["source_name"],
        )
        return summary.to_dict()

    @task
    def summarize(results: list[dict]) -> dict:
        from pipelines.tasks import summarize

        return summarize(list(results))

    batches = plan_batches()
    prepare_indices() >> batches
    summarize(ingest_batch.expand(batch=batches))


newsflow_folder()
