"""The politeness ledger in Elasticsearch: one document per (run, unit, host), summed per host and day on reading.

The id comes from run, unit and host, so a retried task or a re-run of the same run replaces its
entry instead of counting the host's requests twice; different units and runs add up.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pipelines.errors import IndexingError
from pipelines.models import RunInfo, stable_id
from pipelines.store.names import IndexNames

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

SECONDS = ("retry_after_s", "waited_s")
SUMMED = ("requests", "bytes", "not_modified", "retry_after_responses", *SECONDS, "robots_allowed", "robots_blocked",
          "errors")


def politeness_id(run: RunInfo, unit: str, host: str) -> str:
    return stable_id("politeness", run.dag_id or "", run.run_id, unit, host)


def politeness_document(counts: dict[str, Any], run: RunInfo, unit: str, recorded_at: datetime) -> dict[str, Any]:
    return {**counts, "unit": unit, "run_id": run.run_id, "dag_id": run.dag_id,
            "day": recorded_at.date().isoformat(), "recorded_at": recorded_at.isoformat()}


class ElasticsearchPoliteness:
    def __init__(self, client: Elasticsearch, names: IndexNames) -> None:
        self.client = client
        self.index = names.politeness

    def record(self, hosts: Sequence[dict[str, Any]], run: RunInfo, *, unit: str) -> None:
        """Store a unit's counts per host (``HostCounts.to_dict()``), replacing what the same run and unit stored before."""
        from pipelines.store.client import bulk_with_backoff

        if not hosts:
            return
        now = datetime.now(UTC)
        actions = ({"_op_type": "index", "_index": self.index, "_id": politeness_id(run, unit, counts["host"]),
                    "_source": politeness_document(counts, run, unit, now)} for counts in hosts)
        errors = bulk_with_backoff(self.client, actions)
        if errors:
            raise IndexingError(f"could not record the politeness ledger of {unit}: {errors[:3]}")

    def by_host(self, *, days: int = 7, now: datetime | None = None) -> list[dict[str, Any]]:
        """Per host over the last ``days`` days: the summed counts, the share of 304s, the longest
        crawl delay, the URLs robots.txt blocked (up to 20) and requests per day (oldest first);
        busiest host first."""
        since = ((now or datetime.now(UTC)) - timedelta(days=days - 1)).date().isoformat()
        self.client.indices.refresh(index=self.index, ignore_unavailable=True)
        response = self.client.search(
            index=self.index, size=0, ignore_unavailable=True, allow_no_indices=True,
            query={"range": {"day": {"gte": since}}},
            aggs={"hosts": {
                "terms": {"field": "host", "size": 200, "order": {"requests": "desc"}},
                "aggs": {
                    **{name: {"sum": {"field": name}} for name in SUMMED},
                    "crawl_delay_s": {"max": {"field": "crawl_delay_s"}},
                    "last_seen": {"max": {"field": "recorded_at"}},
                    "blocked_urls": {"terms": {"field": "blocked_urls", "size": 20}},
                    "per_day": {"terms": {"field": "day", "size": days, "order": {"_key": "asc"}},
                                "aggs": {"requests": {"sum": {"field": "requests"}}}},
                },
            }},
        )
        rows = []
        for bucket in (response.get("aggregations") or {}).get("hosts", {}).get("buckets", []):
            sums = {name: bucket[name]["value"] for name in SUMMED}
            row: dict[str, Any] = {"host": bucket["key"],
                                   **{k: round(v, 3) if k in SECONDS else int(v) for k, v in sums.items()}}
            row["not_modified_share"] = round(sums["not_modified"] / sums["requests"], 4) if sums["requests"] else 0.0
            delay = bucket["crawl_delay_s"]["value"]  # a float field: round off its single precision
            row["crawl_delay_s"] = round(delay, 3) if delay is not None else None
            row["blocked_urls"] = [url["key"] for url in bucket["blocked_urls"]["buckets"]]
            row["last_seen"] = bucket["last_seen"].get("value_as_string")
            row["per_day"] = [{"day": day["key_as_string"], "requests": int(day["requests"]["value"])}
                              for day in bucket["per_day"]["buckets"]]
            rows.append(row)
        return rows
