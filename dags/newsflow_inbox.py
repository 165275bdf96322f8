"""Event-driven ingestion: a file dropped into the watched folder becomes searchable within seconds.

An asset watcher (``ArticleFilesTrigger`` in the triggerer) updates the ``newsflow_inbox`` Asset
when article files appear or change; this DAG then stores and enriches exactly those files in
one task, so there is no second scheduling hop. The folder is ``NEWSFLOW_INBOX`` (default
``<state dir>/inbox``).
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from airflow.sdk import Asset, AssetWatcher, dag, get_current_context, task

from pipelines.orchestration import DEFAULT_ARGS, ES_POOL
from pipelines.triggers import ArticleFilesTrigger

INBOX = os.environ.get("NEWSFLOW_INBOX") or str(
    Path(os.environ.get("NEWSFLOW_STATE_DIR") or Path(__file__).resolve().parent.parent / ".state") / "inbox"
)
INBOX_FILES = Asset(
    name="newsflow_inbox",
    uri="file://" + INBOX,
    watchers=[AssetWatcher(name="newsflow_inbox_watcher", trigger=ArticleFilesTrigger(folder=INBOX, poll_interval=1.0))],
)


@dag(
    dag_id="newsflow_inbox",
    description="Store and enrich article files as soon as they are dropped into the inbox folder",
    schedule=[INBOX_FILES],
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=4,
    tags=["newsflow", "ingestion", "event-driven"],
    default_args=DEFAULT_ARGS,
)
def newsflow_inbox():
    @task(pool=ES_POOL)
    def ingest_dropped_files() -> dict:
        from pipelines.config import Settings
        from pipelines.tasks import ingest_folder_files

        context = get_current_context()
        events = [event for events in (context.get("triggering_asset_events") or {}).values() for event in events]
        files = sorted({name for event in events for name in (event.extra.get("payload") or {}).get("files", [])})
        folder = Path(INBOX)
        if not files:  # started by hand: the whole folder (unchanged files are skipped cheaply)
            from pipelines.sources.folder import iter_article_files

            files = [path.relative_to(folder).as_posix() for path in iter_article_files(folder)]
        summary = ingest_folder_files(
            folder, files, settings=Settings.from_env(), run_id=context["run_id"], dag_id=context["dag"].dag_id,
            source_name="inbox",
        )
        return summary.to_dict()

    ingest_dropped_files()


newsflow_inbox()
