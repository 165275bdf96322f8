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

    # The summary task updated the raw-articles Asset once: one enrichment run starts on its own.
    enrich_runs = airflow_services.wait_for_started_runs(
        "newsflow_enrich",
        lambda candidate: candidate["run_type"] == "asset_triggered" and _started_by(airflow_services, candidate, run_id),
        timeout_s=180,
    )
    articles = [doc for doc in _documents(es_client, names.articles, dag_id="newsflow_enrich")
                if doc["source"] == "folder:rest-articles"]
    assert sorted(doc["doc_id"] for doc in articles) == sorted(doc["doc_id"] for doc in raw)
    assert len(enrich_runs) == 1
    assert {doc["run_id"] for doc in articles} == {enrich_runs[0]["dag_run_id"]}
    nordvik = next(doc for doc in articles if doc["source_ref"] == "nordvik-floating-wind.txt")
    assert "Maria Lindqvist" in nordvik["persons"]


def test_native_backfill_of_enrich_enriches_exactly_each_windows_raw_articles(airflow_services, es_client):
    """Airflow's own backfill (POST /api/v2/backfills, what Trigger → Backfill does in the UI)."""
    from datetime import UTC, datetime

    from pipelines.indexing import RunInfo
    from pipelines.models import RawArticle
    from pipelines.raw_store import store_raw

    def fetched(day: int, hour: int, minute: int, name: str) -> RawArticle:
        return RawArticle(
            doc_id=f"backfill-{name}", source="folder:backfill", source_ref=f"{name}.txt",
            title=f"Harbour report {name}", body=f"Harbour officials in Gdansk reported record cargo ({name}).",
            fetched_at=datetime(2026, 11, day, hour, minute, tzinfo=UTC),
        )

    names = airflow_services.names
    in_window = [fetched(20, 10, 5, "ten-oh-five"), fetched(20, 10, 55, "ten-fifty-five")]
    outside = [fetched(20, 12, 30, "twelve-thirty")]
    store_raw(es_client, names, [*in_window, *outside], RunInfo("seeded-by-test"))

    airflow_services.wait_for_dag("newsflow_enrich")
    airflow_services.unpause("newsflow_enrich")
    airflow_services.api("POST", "/backfills", json={
        "dag_id": "newsflow_enrich", "from_date": "2026-11-20T10:00:00Z", "to_date": "2026-11-20T10:00:00Z",
        "reprocess_behavior": "completed", "max_active_runs": 1, "dag_run_conf": {},
    })
    runs = airflow_services.wait_for_started_runs(
        "newsflow_enrich", lambda run: run["run_type"] == "backfill",
        timeout_s=180,
    )
    for run in runs:
        assert airflow_services.wait_for_run("newsflow_enrich", run["dag_run_id"], timeout_s=180)["state"] == "success"
    assert [(run["data_interval_start"][:16], run["data_interval_end"][:16]) for run in runs] == [
        ("2026-11-20T10:00", "2026-11-20T11:00")
    ]

    indexed = {doc["doc_id"]: doc for doc in _documents(es_client, names.articles, source="folder:backfill")}
    assert set(indexed) == {article.doc_id for article in in_window}  # 12:30 is another window
    assert {doc["run_id"] for doc in indexed.values()} == {runs[0]["dag_run_id"]}
