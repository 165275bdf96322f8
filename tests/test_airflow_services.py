"""End to end through real Airflow services: the public REST API triggers the folder DAG, the
raw-articles Asset starts enrichment, and Elasticsearch holds exactly the sample articles once."""

from __future__ import annotations

import shutil

import pytest

from pipelines.config import PROJECT_ROOT
from pipelines.indexing import iter_documents
from pipelines.raw_store import raw_index

pytestmark = pytest.mark.airflow

ARTICLES_IN_SAMPLES = 12  # 11 files, the .jsonl holds two articles


def _documents(es_client, index: str, **term) -> list[dict]:
    es_client.indices.refresh(index=index)
    return list(iter_documents(es_client, index, {"term": term}))


def _started_by(airflow_services, enrich_run: dict, ingest_run_id: str) -> bool:
    events = airflow_services.api(
        "GET", f"/dags/newsflow_enrich/dagRuns/{enrich_run['dag_run_id']}/upstreamAssetEvents"
    )["asset_events"]
    return any((event.get("extra") or {}).get("run_id") == ingest_run_id for event in events)


def test_folder_dag_triggered_over_rest_is_stored_then_enriched_by_the_asset(airflow_services, es_client, tmp_path):
    folder = tmp_path / "rest-articles"
    shutil.copytree(PROJECT_ROOT / "samples" / "articles", folder)
    airflow_services.wait_for_dag("newsflow_folder")
    airflow_services.wait_for_dag("newsflow_enrich")
    airflow_services.unpause("newsflow_folder")
    airflow_services.unpause("newsflow_enrich")

    run_id = airflow_services.trigger("newsflow_folder", {"folder": str(folder), "files_per_batch": 4})
    run = airflow_services.wait_for_run("newsflow_folder", run_id, timeout_s=120)
    assert run["conf"]["folder"] == str(folder)
    stores = [ti for ti in airflow_services.task_instances("newsflow_folder", run_id) if ti["task_id"] == "store_batch"]
    assert sorted(ti["rendered_map_index"] for ti in stores) == ["files 1-4 of 11", "files 5-8 of 11", "files 9-11 of 11"]

    names = airflow_services.names
    raw = _documents(es_client, raw_index(names), ingest_run_id=run_id)
    assert len(raw) == ARTICLES_IN_SAMPLES
    assert {doc["ingest_dag_id"] for doc in raw} == {"newsflow_folder"}
    assert {doc["source"] for doc in raw} == {"folder:rest-articles"}

    # The store tasks updated the raw-articles Asset: enrichment starts on its own (the store
    # tasks' events may start more than one run; together they enrich every article once).
    enrich_runs = airflow_services.wait_for_started_runs(
        "newsflow_enrich",
        lambda candidate: candidate["run_type"] == "asset_triggered" and _started_by(airflow_services, candidate, run_id),
        timeout_s=180,
    )
    articles = [doc for doc in _documents(es_client, names.articles, dag_id="newsflow_enrich")
                if doc["source"] == "folder:rest-articles"]
    assert sorted(doc["doc_id"] for doc in articles) == sorted(doc["doc_id"] for doc in raw)
    assert {doc["run_id"] for doc in articles} <= {run["dag_run_id"] for run in enrich_runs}
    nordvik = next(doc for doc in articles if doc["source_ref"] == "nordvik-floating-wind.txt")
    assert "Maria Lindqvist" in nordvik["persons"]
