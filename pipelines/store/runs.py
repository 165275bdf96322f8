"""Run reports in Elasticsearch: what each run did, per stage, unit and source, kept for audit.

The id is derived from run, stage, unit and source, so a retried task replaces its report
instead of adding a second one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pipelines.errors import IndexingError
from pipelines.models import stable_id
from pipelines.store.names import IndexNames

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch


def run_report_id(report: dict[str, Any]) -> str:
    return stable_id(report["run_id"], report["stage"], report["unit"], report["source"])


class ElasticsearchRunReports:
    def __init__(self, client: Elasticsearch, names: IndexNames) -> None:
        self.client = client
        self.index = names.runs

    def record(self, reports: Sequence[dict[str, Any]]) -> None:
        from pipelines.store.client import bulk_with_backoff

        actions = [{"_op_type": "index", "_index": self.index, "_id": run_report_id(r), "_source": r} for r in reports]
        # No refresh: waiting for one costs up to a refresh interval per unit and batch; ``of_run``
        # refreshes before it searches.
        if actions and (errors := bulk_with_backoff(self.client, actions)):
            raise IndexingError(f"could not store {len(errors)} run reports: {errors[:2]}")

    def of_run(self, run_id: str) -> list[dict[str, Any]]:
        self.client.indices.refresh(index=self.index)
        response = self.client.search(index=self.index, query={"term": {"run_id": run_id}}, size=1000,
                                      sort=[{"recorded_at": "asc"}])
        return [hit["_source"] for hit in response["hits"]["hits"]]
