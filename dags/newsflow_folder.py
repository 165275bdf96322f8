"""Acquire a folder of article files into the raw store: plan batches → store each batch → summary.

Acquisition only: articles are kept as read, keyed by stable ids; the summary's update of the
``newsflow_raw_articles`` Asset starts ``newsflow_enrich`` (clean → extract → index).
"""

from __future__ import annotations

from airflow.sdk import Param

from pipelines.orchestration.airflow import acquisition_dag, settings
from pipelines.settings import SAMPLE_ARTICLES


def plan(context: dict, params: dict) -> list[dict]:
    from pipelines.orchestration.tasks import plan

    return plan(settings(), "folder", folder=params["folder"], source_name=params["source_name"],
                files_per_batch=params["files_per_batch"])


newsflow_folder = acquisition_dag(
    dag_id="newsflow_folder",
    description="Store every article file under a folder in the raw store (enrichment follows via the Asset)",
    plan=plan,
    max_active_runs=2,
    kibana_link=True,
    params={
        "folder": Param(
            str(SAMPLE_ARTICLES), type="string", title="Article folder",
            description="Absolute path of a folder of .txt/.md/.html/.json/.jsonl articles, read recursively.",
        ),
        "source_name": Param(
            None, type=["null", "string"], title="Source name",
            description="Recorded as the documents' source; empty means the folder's name. Part of each document id.",
        ),
        "files_per_batch": Param(
            500, type="integer", minimum=1, maximum=5000, title="Files per mapped task",
            description="Each mapped task reads and stores this many files. A task takes about half a second to "
            "start and the scheduler starts a wave of them about every second, so a big folder is stored sooner in "
            "fewer, larger tasks; a retry re-reads one batch.",
        ),
    },
)
