"""Poll RSS/Atom feeds into the raw store: plan the feed list → one mapped task per batch of feeds → summary.

Each task polls its batch (``NEWSFLOW_POLL_UNITS_PER_TASK`` feeds, grouped by host) concurrently,
politely per host (conditional GET, ttl, backoff, Retry-After kept in each feed's state), and
stores new and changed entries raw; a broken feed is an outcome, not a failed task.
The summary updates the ``newsflow_raw_articles`` Asset, which starts ``newsflow_enrich``. The
schedule is ``NEWSFLOW_FEEDS_SCHEDULE`` (cron, default every 15 minutes; ``none``: manual only).
"""

from __future__ import annotations

from datetime import timedelta

from pipelines.orchestration.airflow import polled_source_dag, settings

news_feeds = polled_source_dag(
    kind="feeds",
    unit="feed",
    example='[{"name": "bbc-world", "url": "https://…", "tags": ["world"]}]',
    schedule=settings().feeds_schedule,
    description="Poll RSS/Atom feeds politely and store new entries in the raw store",
    unit_timeout=timedelta(minutes=30),
)
