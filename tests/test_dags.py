"""The Airflow side, for real: the DAG folder imports cleanly, and the folder DAG runs end to end."""

from __future__ import annotations

import shutil

import pytest

from pipelines.config import PROJECT_ROOT
from pipelines.indexing import IndexNames, iter_documents

pytestmark = pytest.mark.airflow


@pytest.fixture(scope="module")
def dag_bag(in_process_airflow):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(PROJECT_ROOT / "dags"))


def test_dag_folder_imports_without_errors(dag_bag):
    assert dag_bag.import_errors == {}
    assert {"newsflow_folder", "newsflow_enrich", "newsflow_reprocess", "newsflow_inbox", "news_feeds"} <= set(dag_bag.dag_ids)


def test_stage_tasks_retry_use_the_elasticsearch_pool_and_name_their_batches(dag_bag):
    from pipelines.orchestration import ES_POOL, RAW_ARTICLES

    folder = dag_bag.get_dag("newsflow_folder")
    assert {t.task_id for t in folder.tasks} == {"prepare_indices", "plan_batches", "store_batch", "summarize"}
    store = folder.get_task("store_batch")
    assert store.pool == ES_POOL and store.map_index_template == "{{ batch_label }}"
    assert store.outlets == []  # one Asset event per run, from summarize, so one enrich run follows
    assert [outlet.name for outlet in folder.get_task("summarize").outlets] == [RAW_ARTICLES.name]
    enrich = dag_bag.get_dag("newsflow_enrich")
    assert enrich.get_task("enrich_batch").pool == ES_POOL
    assert enrich.get_task("enrich_batch").max_active_tis_per_dagrun == 2
    for dag_id in ("newsflow_folder", "newsflow_enrich", "newsflow_reprocess"):
        for task in dag_bag.get_dag(dag_id).tasks:
            assert task.retries == 2 and task.on_failure_callback, (dag_id, task.task_id)


def test_enrich_runs_on_raw_article_updates_and_on_daily_windows(dag_bag):
    from airflow.sdk import CronDataIntervalTimetable

    timetable = dag_bag.get_dag("newsflow_enrich").timetable
    assert isinstance(timetable.timetable, CronDataIntervalTimetable)  # windows of real width
    assert "newsflow_raw_articles" in repr(timetable.asset_condition)


# dag.test() keeps an earlier run's conf as the Params' defaults, so every call names them all.
ENRICH_CONF = {"sources": [], "ingest_run_ids": [], "force": False, "articles_per_batch": 200}
REPROCESS_CONF = {"sources": [], "dry_run": True, "articles_per_batch": 200,
                  "selection": "Only documents from an older pipeline or model version"}


def _articles(es_client, names, **term):
    es_client.indices.refresh(index=names.articles)
    query = {"term": term} if term else None
    return list(iter_documents(es_client, names.articles, query))


def test_folder_then_enrich_indexes_every_sample_article_once(dag_bag, es_client, isolated_settings, tmp_path):
    from pipelines.raw_store import raw_index

    names = IndexNames(isolated_settings.index_prefix)
    folder = tmp_path / "articles"
    shutil.copytree(PROJECT_ROOT / "samples" / "articles", folder)
    articles_in_samples = 12  # 11 files, the .jsonl holds two articles

    ingestion = dag_bag.get_dag("newsflow_folder").test(run_conf={"folder": str(folder), "files_per_batch": 4})
    assert ingestion.state == "success"
    es_client.indices.refresh(index=raw_index(names))
    assert es_client.count(index=raw_index(names))["count"] == articles_in_samples
    assert _articles(es_client, names) == []  # the ingestion stage indexes nothing itself

    enrich = dag_bag.get_dag("newsflow_enrich")
    enriched = enrich.test(run_conf={**ENRICH_CONF, "ingest_run_ids": [ingestion.run_id], "articles_per_batch": 5})
    assert enriched.state == "success"
    docs = _articles(es_client, names, run_id=enriched.run_id)
    assert len(docs) == articles_in_samples
    assert {doc["dag_id"] for doc in docs} == {"newsflow_enrich"}
    nordvik = next(doc for doc in docs if doc["source_ref"] == "nordvik-floating-wind.txt")
    assert "Maria Lindqvist" in nordvik["persons"]
    assert "[caption" not in nordvik["body"]
    assert any("(Reuters)" in caption for caption in nordvik["captions"])

    # Again: nothing new is stored, nothing is re-enriched, nothing is duplicated.
    again = dag_bag.get_dag("newsflow_folder").test(run_conf={"folder": str(folder), "files_per_batch": 4})
    assert again.state == "success"
    assert es_client.count(index=raw_index(names), query={"term": {"ingest_run_id": again.run_id}})["count"] == 0
    second = enrich.test(run_conf={**ENRICH_CONF, "sources": ["folder:articles"]})
    assert second.state == "success"
    assert len(_articles(es_client, names)) == articles_in_samples
    assert _articles(es_client, names, run_id=second.run_id) == []


def test_enrich_window_and_reprocess_select_what_they_should(dag_bag, es_client, isolated_settings, tmp_path):
    from datetime import UTC, datetime, timedelta

    names = IndexNames(isolated_settings.index_prefix)
    folder = tmp_path / "articles"
    shutil.copytree(PROJECT_ROOT / "samples" / "articles" / "tech", folder)
    assert dag_bag.get_dag("newsflow_folder").test(run_conf={"folder": str(folder)}).state == "success"

    # A run whose daily window does not contain the fetch selects nothing…
    enrich = dag_bag.get_dag("newsflow_enrich")
    earlier = enrich.test(logical_date=datetime.now(UTC) - timedelta(days=2), run_conf=ENRICH_CONF)
    assert earlier.state == "success" and _articles(es_client, names) == []
    # …the window that does contain it enriches exactly those articles (what a backfill does).
    current = enrich.test(logical_date=datetime.now(UTC) + timedelta(days=1), run_conf=ENRICH_CONF)
    assert current.state == "success"
    assert {doc["source_ref"] for doc in _articles(es_client, names)} == {"helsinki-chip-startup.txt"}

    reprocess = dag_bag.get_dag("newsflow_reprocess")
    today = datetime.now(UTC).date().isoformat()
    window = {"date_from": today, "date_to": today}
    dry = reprocess.test(run_conf={**REPROCESS_CONF, **window, "selection": "Every document in the range"})
    assert dry.state == "success" and _articles(es_client, names, run_id=dry.run_id) == []
    stale_only = reprocess.test(run_conf={**REPROCESS_CONF, **window, "dry_run": False})
    assert stale_only.state == "success" and _articles(es_client, names, run_id=stale_only.run_id) == []
    everything = reprocess.test(
        run_conf={**REPROCESS_CONF, **window, "dry_run": False, "selection": "Every document in the range"}
    )
    assert everything.state == "success"
    assert len(_articles(es_client, names, run_id=everything.run_id)) == 1
