"""Dead letters in Elasticsearch: every input that could not go further, with stage and reason.

The id is derived from stage, source and reference, so one input keeps one entry per stage
however often it fails, and the entry disappears once the input goes through.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pipelines.errors import IndexingError, Stage
from pipelines.models import Failure, RunInfo, stable_id
from pipelines.store.base import DeadLetterPage
from pipelines.store.names import IndexNames

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch


def dead_letter_id(failure: Failure) -> str:
    return stable_id(failure.stage.value, failure.source or "unknown", failure.source_ref)


def dead_letter(failure: Failure, run: RunInfo, failed_at: str) -> dict[str, Any]:
    return {**failure.to_dict(), "source": failure.source or "unknown", "run_id": run.run_id, "dag_id": run.dag_id,
            "failed_at": failed_at}


class ElasticsearchDeadLetters:
    def __init__(self, client: Elasticsearch, names: IndexNames, *, retries: int = 8, initial_backoff_s: float = 1.0,
                 max_backoff_s: float = 30.0) -> None:
        self.client = client
        self.index = names.deadletters
        self.backoff = {"retries": retries, "initial_backoff_s": initial_backoff_s, "max_backoff_s": max_backoff_s}

    def record(self, failures: Sequence[Failure], run: RunInfo) -> None:
        """Store ``failures``; 429s and connection errors are retried with backoff (``bulk_with_backoff``)."""
        from pipelines.store.client import bulk_with_backoff

        if not failures:
            return
        now = datetime.now(UTC).isoformat()
        actions = (
            {"_op_type": "index", "_index": self.index, "_id": dead_letter_id(f), "_source": dead_letter(f, run, now)}
            for f in failures
        )
        errors = bulk_with_backoff(self.client, actions, refresh="wait_for", **self.backoff)
        if errors:
            raise IndexingError(f"could not dead-letter {len(errors)} failures: {errors[:3]}")

    def resolve(self, inputs: Sequence[tuple[str, str]]) -> int:
        if not inputs:
            return 0
        wanted = set(inputs)
        response = self.client.search(
            index=self.index,
            query={"terms": {"source_ref": sorted({ref for _, ref in wanted})}},
            source_includes=["source", "source_ref"],
            size=min(10_000, len(wanted) * 4),
        )
        stale = [hit["_id"] for hit in response["hits"]["hits"]
                 if (hit["_source"]["source"], hit["_source"]["source_ref"]) in wanted]
        if stale:
            from pipelines.store.client import bulk_with_backoff

            bulk_with_backoff(self.client, ({"_op_type": "delete", "_index": self.index, "_id": i} for i in stale),
                              refresh="wait_for")
        return len(stale)

    def list(self, *, stage: Stage | None = None, source: str | None = None, size: int = 20) -> DeadLetterPage:
        filters = [{"term": {key: str(value)}} for key, value in (("stage", stage), ("source", source)) if value]
        self.client.indices.refresh(index=self.index)
        response = self.client.search(
            index=self.index, query={"bool": {"filter": filters}}, size=size,
            sort=[{"failed_at": "desc"}], aggs={"stages": {"terms": {"field": "stage", "size": len(Stage)}}},
        )
        by_stage = {bucket["key"]: bucket["doc_count"] for bucket in response["aggregations"]["stages"]["buckets"]}
        return DeadLetterPage(response["hits"]["total"]["value"], by_stage, [hit["_source"] for hit in response["hits"]["hits"]])

    def refs(self, source: str) -> list[dict[str, Any]]:
        from elasticsearch import helpers

        self.client.indices.refresh(index=self.index)
        query = {"query": {"term": {"source": source}}, "_source": ["source_ref", "doc_id", "stage"]}
        return [hit["_source"] for hit in helpers.scan(self.client, index=self.index, query=query)]
