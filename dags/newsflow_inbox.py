"""Event-driven ingestion: a file dropped into the watched folder is searchable within seconds.

An asset watcher (``ArticleFilesTrigger`` in the triggerer) updates the ``newsflow_inbox`` Asset
when article files appear or change; this DAG's one task stores exactly those files raw and
enriches them at once (``tasks.ingest_inbox``). Every task start costs seconds, so the inbox
does not take the bulk path (plan → acquire → summarize, then ``newsflow_enrich``). The folder
is ``NEWSFLOW_INBOX`` (default ``<state dir>/inbox``).
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import Asset, AssetWatcher, dag, get_current_context, task

from pipelines.orchestration.airflow import DEFAULT_ARGS, run_info, settings, triggering_events
from pipelines.orchestration.triggers import ArticleFilesTrigger

INBOX = str(settings().inbox)
INBOX_FILES = Asset(
    name="newsflow_inbox",
    uri="file://" + INBOX,
    # A quarter-second poll: a drop is seen, and has held still, within half a second.
    watchers=[AssetWatcher(name="newsflow_inbox_watcher", trigger=ArticleFilesTrigger(folder=INBOX, poll_interval=0.25))],
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
    @task
    def ingest() -> dict:
        from pipelines.orchestration.tasks import ingest_inbox

        context = get_current_context()
        return ingest_inbox(settings(), [event.extra for event in triggering_events(context)], **run_info(context))

    ingest()


newsflow_inbox()
