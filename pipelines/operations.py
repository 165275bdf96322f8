"""What an operator wants to see at a glance: per-source polling health, per-source extraction
health by day (with the alert thresholds), the latest revised articles, the politeness ledger per
host and per-run document counts.

Read from Elasticsearch (the source-state, source-health and politeness indices, the articles,
aggregations over the documents' ``dag_id`` / ``run_id``); served by the Airflow plugin in
``plugins/`` and usable from anywhere else.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pipelines.health import recent_health
from pipelines.settings import HealthSettings
from pipelines.sources.polling import PollState
from pipelines.store.names import IndexNames
from pipelines.store.politeness import ElasticsearchPoliteness
from pipelines.store.state import ElasticsearchStateStore

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

UNHEALTHY_OUTCOMES = {"failed", "refused"}
POLLED_KINDS = ("feed", "sitemap")
POLITENESS_DAYS = 7


def feed_health(client: Elasticsearch, names: IndexNames) -> list[dict[str, Any]]:
    """One row per polled source (feed, sitemap): healthy or not, and the facts that say why."""
    rows = []
    store = ElasticsearchStateStore(client, names)
    for kind in POLLED_KINDS:
        for saved in store.load_all(kind):
            state = PollState.from_dict(saved["name"], saved)
            rows.append(_health_row(kind, state))
    return rows


def _health_row(kind: str, state: PollState) -> dict[str, Any]:
    document = state.to_dict()
    healthy = state.consecutive_failures == 0 and state.last_outcome not in UNHEALTHY_OUTCOMES
    return {
            "kind": kind,
            "name": state.name,
            "healthy": healthy,
            **{key: document[key] for key in (
                "url", "last_outcome", "last_status", "last_success", "last_attempt", "last_error",
                "consecutive_failures", "entries_seen", "next_poll", "next_poll_reason", "bozo_reason",
            )},
    }


def _runs(client: Elasticsearch, index: str, dag_field: str, run_field: str, time_field: str, stage: str,
          per_dag: int) -> list[dict[str, Any]]:
    response = client.search(
        index=index, size=0, ignore_unavailable=True, allow_no_indices=True,
        aggs={"dags": {
            "terms": {"field": dag_field, "size": 50},
            "aggs": {"runs": {
                "terms": {"field": run_field, "size": per_dag, "order": {"last": "desc"}},
                "aggs": {"last": {"max": {"field": time_field}}},
            }},
        }},
    )
    rows = []
    for dag in (response.get("aggregations") or {}).get("dags", {}).get("buckets", []):
        for run in dag["runs"]["buckets"]:
            last = run["last"].get("value_as_string")
            rows.append({"stage": stage, "dag_id": dag["key"], "run_id": run["key"], "documents": run["doc_count"],
                         "last": last})
    return rows


def run_counts(client: Elasticsearch, names: IndexNames, *, per_dag: int = 20) -> list[dict[str, Any]]:
    """Documents per DAG run, newest runs first: indexed articles (by the run that enriched them)
    and raw articles (by the run that stored them)."""
    rows = _runs(client, names.articles, "dag_id", "run_id", "indexed_at", "indexed", per_dag)
    rows += _runs(client, names.raw_articles, "ingest_dag_id", "ingest_run_id", "fetched_at", "raw",
                  per_dag)
    return sorted(rows, key=lambda row: row["last"] or "", reverse=True)


REVISION_FIELDS = ["doc_id", "title", "source", "url", "revision_count", "first_seen_at", "last_changed_at",
                   "headline_changed", "changes"]


def latest_revisions(client: Elasticsearch, names: IndexNames, *, size: int = 20) -> list[dict[str, Any]]:
    """Articles whose content changed after they were first seen, most recently changed first."""
    response = client.search(
        index=names.articles, size=size, ignore_unavailable=True, allow_no_indices=True,
        query={"range": {"revision_count": {"gte": 1}}}, sort=[{"last_changed_at": {"order": "desc", "unmapped_type": "date"}}],
        source_includes=REVISION_FIELDS,
    )
    return [hit["_source"] for hit in response["hits"]["hits"]]


def operations_status(client: Elasticsearch, names: IndexNames, health: HealthSettings | None = None) -> dict[str, Any]:
    health = health or HealthSettings()
    return {
        "generated_at": datetime.now(UTC).isoformat(),
        "index_prefix": names.prefix,
        "feeds": feed_health(client, names),
        "health": recent_health(client, names, days=health.baseline_days),
        "health_thresholds": dict(health.thresholds),
        "revisions": latest_revisions(client, names),
        "politeness_days": POLITENESS_DAYS,
        "politeness": ElasticsearchPoliteness(client, names).by_host(days=POLITENESS_DAYS),
        "runs": run_counts(client, names),
    }
