"""The news_feeds DAG for real: dag.test() polls feeds served on 127.0.0.1 into the real Elasticsearch."""

from __future__ import annotations


import pytest

from feed_farm import FeedFarm
from feed_server import serve_feeds
from pipelines.settings import PROJECT_ROOT
from pipelines.store import IndexNames

pytestmark = [pytest.mark.airflow, pytest.mark.elasticsearch]


@pytest.fixture(scope="module")
def dag_bag(in_process_airflow):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(PROJECT_ROOT / "dags"))


@pytest.fixture(scope="module")
def server():
    yield from serve_feeds(slow_seconds=2.0)


def _summary(run) -> dict:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        query = XComModel.get_many(run_id=run.run_id, dag_ids="news_feeds", task_ids="summarize", key="return_value")
        return XComModel.deserialize_value(session.scalars(query).one())


def test_feeds_dag_is_scheduled_and_maps_one_task_per_batch_of_feeds(dag_bag):
    assert not any("news_feeds" in path for path in dag_bag.import_errors)
    dag = dag_bag.get_dag("news_feeds")
    assert {t.task_id for t in dag.tasks} == {"plan", "acquire", "summarize"}
    assert dag.get_task("acquire").map_index_template == "{{ unit_label }}"
    assert dag.get_task("summarize").trigger_rule == "all_done"
    assert dag.timetable.expression == "*/15 * * * *"


def test_feeds_dag_stores_served_entries_for_enrichment_and_an_unchanged_second_run_stores_nothing(
    dag_bag, server, isolated_settings, es_client, monkeypatch
):
    monkeypatch.setenv("NEWSFLOW_FEEDS_ALLOW_NETWORKS", "127.0.0.0/8")
    monkeypatch.setenv("NEWSFLOW_FEEDS_READ_TIMEOUT_S", "0.5")
    monkeypatch.setenv("NEWSFLOW_FEEDS_HOST_INTERVAL_S", "0")
    feeds = [
        {"name": "rss2", "url": server.url("/rss2.xml"), "tags": ["harbour"]},
        {"name": "atom", "url": server.url("/atom.xml")},
        {"name": "rdf", "url": server.url("/rdf.xml")},
        {"name": "bozo", "url": server.url("/bozo.xml")},
        {"name": "limited", "url": server.url("/limited.xml")},
        {"name": "slow", "url": server.url("/slow.xml")},
        {"name": "metadata", "url": "http://169.254.169.254/latest/meta-data/"},
    ]
    dag = dag_bag.get_dag("news_feeds")
    names = IndexNames(isolated_settings.index_prefix)

    run = dag.test(run_conf={"feeds": feeds})
    assert run.state == "success"
    first = {row["unit"]: row for row in _summary(run)["units"]}
    mapped = [ti for ti in run.get_task_instances() if ti.task_id == "acquire"]
    assert [ti.rendered_map_index for ti in mapped] == ["feeds 1-7 of 7"]  # one batch: 200 feeds per task
    assert {name: row["outcome"] for name, row in first.items()} == {
        "rss2": "fetched", "atom": "fetched", "rdf": "fetched", "bozo": "fetched",
        "limited": "rate_limited", "slow": "failed", "metadata": "refused",
    }
    assert [first[name]["stored"] for name in ("rss2", "atom", "rdf", "bozo")] == [3, 2, 1, 1]
    assert "link-local" in first["metadata"]["error"] and "not well-formed" in first["bozo"]["bozo_reason"]
    # Acquisition only: the entries wait in the raw store for the enrich stage.
    es_client.indices.refresh(index=names.raw_articles)
    assert es_client.count(index=names.raw_articles, query={"term": {"ingest_run_id": run.run_id}})["count"] == 7
    assert not es_client.indices.exists(index=names.articles) or es_client.count(index=names.articles)["count"] == 0

    enrich = dag_bag.get_dag("newsflow_enrich")
    conf = {"sources": [], "ingest_run_ids": [run.run_id], "force": False, "articles_per_batch": 200}
    enriched = enrich.test(run_conf=conf)
    assert enriched.state == "success"
    es_client.indices.refresh(index=names.articles)
    assert es_client.count(index=names.articles, query={"term": {"run_id": enriched.run_id}})["count"] == 7
    assert es_client.count(index=names.articles, query={"term": {"source": "feed:atom"}})["count"] == 2

    second = dag.test(run_conf={"feeds": feeds})
    assert second.state == "success"
    summary = _summary(second)
    outcomes = {row["unit"]: row["outcome"] for row in summary["units"]}
    assert outcomes == {
        "rss2": "not_modified", "atom": "not_modified", "rdf": "fetched", "bozo": "fetched",
        "limited": "not_due", "slow": "not_due", "metadata": "not_due",
    }
    assert summary["stored"] == 0
    assert summary["unchanged"] == 2  # rdf and bozo have no validators: re-read, matched by content hash
    # Nothing is due: an enrich run started now finds nothing to do.
    again = enrich.test(run_conf={**conf, "ingest_run_ids": []})
    assert again.state == "success"
    es_client.indices.refresh(index=names.articles)
    assert es_client.count(index=names.articles)["count"] == 7
    assert es_client.count(index=names.articles, query={"term": {"run_id": again.run_id}})["count"] == 0


def test_more_feeds_than_one_task_takes_are_mapped_as_several_tasks_and_all_reach_the_raw_store(
    dag_bag, isolated_settings, es_client, monkeypatch
):
    monkeypatch.setenv("NEWSFLOW_FEEDS_ALLOW_NETWORKS", "127.0.0.0/8")
    monkeypatch.setenv("NEWSFLOW_FEEDS_HOST_INTERVAL_S", "0")
    monkeypatch.setenv("NEWSFLOW_POLL_UNITS_PER_TASK", "4")
    dag = dag_bag.get_dag("news_feeds")
    with FeedFarm.start(feeds=10, entries=3, hosts=3) as farm:
        run = dag.test(run_conf={"feeds": farm.feed_list()})
        second = dag.test(run_conf={"feeds": farm.feed_list()})
    assert run.state == "success" and second.state == "success"
    mapped = sorted(ti.rendered_map_index for ti in run.get_task_instances() if ti.task_id == "acquire")
    assert mapped == ["feeds 1-4 of 10", "feeds 5-8 of 10", "feeds 9-10 of 10"]
    summary = _summary(run)
    assert {row["unit"]: row["outcome"] for row in summary["units"]} == {
        feed["name"]: "fetched" for feed in farm.feed_list()}
    assert (summary["stored"], summary["outcomes"]) == (30, {"fetched": 10})
    assert _summary(second)["outcomes"] == {"not_modified": 10} and _summary(second)["stored"] == 0
    names = IndexNames(isolated_settings.index_prefix)
    es_client.indices.refresh(index=names.raw_articles)
    assert es_client.count(index=names.raw_articles, query={"term": {"ingest_run_id": run.run_id}})["count"] == 30
