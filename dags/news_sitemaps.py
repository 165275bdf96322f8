"""Poll news sitemaps into the raw store: plan the sitemap list → one mapped task per batch of sitemaps → summary.

Each task reads its batch of sitemaps concurrently, each (or each sitemap index) with conditional
GETs, fetches the pages of new articles politely and stores them raw; enrichment follows through the ``newsflow_raw_articles``
Asset. The schedule is ``NEWSFLOW_SITEMAPS_SCHEDULE`` (cron, default hourly; ``none``: manual only).
"""

from __future__ import annotations

from datetime import timedelta

from pipelines.orchestration.airflow import polled_source_dag, settings

news_sitemaps = polled_source_dag(
    kind="sitemaps",
    unit="sitemap",
    example='[{"name": "guardian", "url": "https://…/sitemaps/news.xml"}]',
    schedule=settings().sitemaps_schedule,
    description="Poll news sitemaps politely and store new articles' pages in the raw store",
    unit_timeout=timedelta(minutes=60),
)
