"""What the DAG files share: the raw-articles Asset, the Elasticsearch pool, failure reporting.

Imported only by DAG files (it needs Airflow); everything else in ``pipelines`` runs without it.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from airflow.sdk import Asset

log = logging.getLogger("newsflow.airflow")

# Updated by every ingestion task that stores raw articles; the enrich DAG is scheduled on it.
# Each event's extra names the run that stored them: {"dag_id", "run_id", "stored", "unchanged"}.
RAW_ARTICLES = Asset(name="newsflow_raw_articles", uri="newsflow://raw-articles")

# Bounds concurrent bulk writers against Elasticsearch across all DAGs (created by
# `newsflow airflow-setup`; see pipelines/airflow_env.py).
ES_POOL = "newsflow_elasticsearch"
ES_POOL_SLOTS = 4


def report_failure(context: dict[str, Any]) -> None:
    """on_failure_callback: one line that says which DAG, task, batch/feed and stage failed, and why."""
    ti = context.get("ti") or context.get("task_instance")
    label = getattr(ti, "rendered_map_index", None) or getattr(ti, "map_index", None)
    error = context.get("exception")
    log.error(
        "NEWSFLOW_FAILURE dag=%s run=%s task=%s item=%s try=%s error=%s: %s",
        getattr(ti, "dag_id", "?"), context.get("run_id"), getattr(ti, "task_id", "?"), label,
        getattr(ti, "try_number", "?"), type(error).__name__ if error else "?", error,
    )


DEFAULT_ARGS: dict[str, Any] = {
    "retries": 2,
    "retry_delay": timedelta(seconds=20),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=5),
    "on_failure_callback": report_failure,
}
