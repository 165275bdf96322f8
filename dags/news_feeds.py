"""Poll RSS/Atom feeds: plan the feed list → one mapped task per feed (fetch, clean, extract, index) → summary.

Each mapped task fetches and ingests its own feed, so entries never travel through XCom: only
feed settings go in and counts come out. A broken feed ends in an outcome (failed, refused,
rate limited), not a failed task, so it never stops the others; the summary runs whatever
happened and reports every feed. The schedule is ``NEWSFLOW_FEEDS_SCHEDULE`` (cron, default
every 15 minutes; ``none`` for manual runs only); each feed's own ttl, Retry-After and failure
backoff are kept in its state in Elasticsearch, so a run skips feeds that are not due.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.sdk import CronTriggerTimetable, Param, dag, get_current_context, task

SCHEDULE = os.environ.get("NEWSFLOW_FEEDS_SCHEDULE", "*/15 * * * *").strip()


@dag(
    dag_id="news_feeds",
    description="Poll RSS/Atom feeds politely and index new entries into Elasticsearch",
    schedule=None if SCHEDULE.lower() in ("", "none") else CronTriggerTimetable(SCHEDULE, timezone="UTC"),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,  # two overlapping polls of one feed would both miss the other's validators
    dagrun_timeout=timedelta(minutes=30),
    tags=["newsflow", "ingestion", "feeds"],
    default_args={
        "retries": 2,
        "retry_delay": timedelta(seconds=30),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=5),
    },
    params={
        "feeds": Param(
            None,
            type=["null", "array"],
            items={"type": "object", "required": ["name", "url"]},
            title="Feeds (replaces feeds.yaml for this run)",
            description='A list like [{"name": "bbc-world", "url": "https://…", "tags": ["world"]}]; '
            "same keys as feeds.yaml. Empty: the feeds in feeds.yaml (NEWSFLOW_FEEDS_CONFIG).",
        ),
        "feed_names": Param(
            [],
            type="array",
            items={"type": "string"},
            title="Only these feeds",
            description="Names of feeds to poll (disabled ones included); empty: every enabled feed.",
        ),
        "force": Param(
            False,
            type="boolean",
            title="Poll even if not due",
            description="Ignore ttl, minimum interval and failure backoff. A server's Retry-After is always honoured.",
        ),
    },
)
def news_feeds():
    @task
    def prepare_indices() -> str:
        from pipelines.config import Settings
        from pipelines.feed_tasks import prepare_feed_indices

        return prepare_feed_indices(Settings.from_env())

    @task
    def plan_feeds(params: dict | None = None) -> list[dict]:
        from pipelines.feed_tasks import plan_feeds

        return plan_feeds(override=params["feeds"], only=params["feed_names"])

    @task(map_index_template="{{ feed_name }}", max_active_tis_per_dagrun=4, execution_timeout=timedelta(minutes=10))
    def poll_feed(feed: dict, params: dict | None = None) -> dict:
        from pipelines.config import Settings
        from pipelines.feed_tasks import poll_feeds

        context = get_current_context()
        context["feed_name"] = feed["name"]  # names the mapped task instance in the UI
        (result,) = poll_feeds(
            [feed],
            settings=Settings.from_env(),
            run_id=context["run_id"],
            dag_id=context["dag"].dag_id,
            force=params["force"],
        )
        return result.to_dict()

    @task(trigger_rule="all_done")
    def summarize(results: list[dict], planned: list[dict]) -> dict:
        from pipelines.feed_tasks import summarize_feeds

        return summarize_feeds(list(results), planned)

    planned = plan_feeds()
    prepare_indices() >> planned
    summarize(poll_feed.expand(feed=planned), planned)


news_feeds()
