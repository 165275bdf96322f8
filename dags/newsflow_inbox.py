"""Event-driven acquisition: a file dropped into the watched folder is stored within seconds.

An asset watcher (``ArticleFilesTrigger`` in the triggerer) updates the ``newsflow_inbox`` Asset
when article files appear or change; this DAG stores exactly those files raw, and its summary's
``newsflow_raw_articles`` event starts ``newsflow_enrich``. The folder is ``NEWSFLOW_INBOX``
(default ``<state dir>/inbox``).
"""

from __future__ import annotations

from airflow.sdk import Asset, AssetWatcher

from pipelines.orchestration.airflow import acquisition_dag, settings, triggering_events
from pipelines.orchestration.triggers import ArticleFilesTrigger

INBOX = str(settings().inbox)
INBOX_FILES = Asset(
    name="newsflow_inbox",
    uri="file://" + INBOX,
    watchers=[AssetWatcher(name="newsflow_inbox_watcher", trigger=ArticleFilesTrigger(folder=INBOX, poll_interval=1.0))],
)


def plan(context: dict, params: dict) -> list[dict]:
    from pipelines.orchestration.tasks import inbox_work

    return inbox_work(settings(), [event.extra for event in triggering_events(context)])


newsflow_inbox = acquisition_dag(
    dag_id="newsflow_inbox",
    description="Store article files as soon as they are dropped into the inbox folder",
    plan=plan,
    schedule=[INBOX_FILES],
    tags=("event-driven",),
    max_active_runs=4,
    params={},
)
