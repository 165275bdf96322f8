"""The production topology for real (``newsflow stack``): PostgreSQL, Redis, Airflow with two Celery
workers, a three-node Elasticsearch cluster. One stack for the module; every process it started
is stopped and checked at the end.

Run with ``pytest -m topology`` (excluded from the default run: it installs Debian packages).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from airflow_services import AirflowServices
from feed_server import serve_feeds
from pipelines.models import RawArticle, RunInfo
from pipelines.pipeline import Pipeline
from pipelines.settings import SAMPLE_ARTICLES, ElasticsearchSettings, Settings
from pipelines.stack import Stack
from pipelines.stack.processes import kill_processes, read_pid
from pipelines.store import IndexNames
from pipelines.store.client import connect
from pipelines.store.schema import iter_documents

pytestmark = pytest.mark.topology

PREFIX = "newsflow-topo-"
ARTICLES_IN_SAMPLES = 12  # 11 files, the .jsonl holds two articles
WORKERS = {"worker1", "worker2"}
KILLED_RUN_COPIES = 8


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    saved = dict(os.environ)
    os.environ.update({
        "NEWSFLOW_STATE_DIR": str(tmp_path_factory.mktemp("stack-state")),
        "NEWSFLOW_INDEX_PREFIX": PREFIX,
        "NEWSFLOW_FEEDS_SCHEDULE": "none",
        "NEWSFLOW_SITEMAPS_SCHEDULE": "none",
        "NEWSFLOW_FEEDS_ALLOW_NETWORKS": "127.0.0.0/8",
        "NEWSFLOW_FEEDS_HOST_INTERVAL_S": "0",
        # A worker that vanished is noticed within seconds, not the default five minutes.
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
        # A task whose message the killed worker had taken but not started is queued again within a minute.
        "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "60",
    })
    topology = Stack(Settings.from_env())
    try:
        topology.up()
        yield topology
    finally:
        stopped = topology.down()  # raises if any process of a component's session survived
        assert not any(component.running for component in topology.status()), stopped
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="module")
def airflow(stack) -> AirflowServices:
    services = AirflowServices(stack.api_url, stack.directory / "airflow", stack.airflow_env(), stack.settings,
                               "admin", stack.admin_password)
    for dag_id in ("newsflow_folder", "news_feeds", "newsflow_enrich"):
        services.wait_for_dag(dag_id, timeout_s=180)
        services.unpause(dag_id)
    return services


@pytest.fixture(scope="module")
def pipeline_settings(stack) -> Settings:
    """What the stack's tasks use: the cluster's three URLs and the least-privilege user."""
    env = stack.airflow_env()
    return stack.settings.with_changes(elasticsearch=ElasticsearchSettings(
        url=env["NEWSFLOW_ES_URL"], username=env["NEWSFLOW_ES_USERNAME"], password=env["NEWSFLOW_ES_PASSWORD"],
    ))


@pytest.fixture(scope="module")
def es(pipeline_settings):
    client = connect(pipeline_settings)
    yield client
    client.close()


def _articles(es, source: str, prefix: str = PREFIX) -> list[dict]:
    index = IndexNames(prefix).articles
    es.indices.refresh(index=index)
    return list(iter_documents(es, index, {"term": {"source": source}}))


def _in_process_ids(pipeline_settings: Settings, kind: str, prefix: str, **options) -> list[str]:
    """The same input through the in-process Pipeline (the CLI's path), in indices of its own."""
    settings = pipeline_settings.with_changes(index_prefix=prefix)
    summary, _ = Pipeline(settings).run(kind, RunInfo(f"in-process-{kind}"), **options)
    assert summary.accounted
    client = connect(settings)
    try:
        index = IndexNames(prefix).articles
        client.indices.refresh(index=index)
        return sorted(doc["doc_id"] for doc in iter_documents(client, index, {"match_all": {}}))
    finally:
        client.close()


def _settle_enrichment(airflow: AirflowServices, ingest_run_id: str) -> list[dict]:
    def started_by_ingest(run: dict) -> bool:
        events = airflow.api("GET", f"/dags/newsflow_enrich/dagRuns/{run['dag_run_id']}/upstreamAssetEvents")
        return any((event.get("extra") or {}).get("run_id") == ingest_run_id for event in events["asset_events"])

    return airflow.wait_for_started_runs("newsflow_enrich", started_by_ingest, timeout_s=420)


def _hosts(airflow: AirflowServices, dag_id: str, run_ids: list[str]) -> dict[tuple, str]:
    return {
        (ti["dag_run_id"], ti["task_id"], ti["map_index"]): (ti["hostname"] or "").split("@")[0]
        for run_id in run_ids for ti in airflow.task_instances(dag_id, run_id)
    }


def _copy_articles(target: Path) -> Path:
    shutil.copytree(SAMPLE_ARTICLES, target)
    return target


def test_the_cluster_has_three_nodes_and_each_index_one_primary_and_one_replica(stack, es):
    from elasticsearch import Elasticsearch

    info = stack.es_credentials()
    admin = Elasticsearch(stack.es_urls, basic_auth=(info.username, info.password))
    try:
        assert admin.cluster.health(wait_for_status="green", timeout="60s")["number_of_nodes"] == 3
        Pipeline(stack.settings.with_changes(index_prefix=PREFIX), client=es).prepare()
        # A new index's replica is allocated a moment after its primary.
        assert admin.cluster.health(index=f"{PREFIX}*", wait_for_status="green", timeout="60s")["status"] == "green"
        shards = admin.cat.shards(index=f"{PREFIX}*", format="json", h="index,prirep,state,node")
    finally:
        admin.close()
    by_index: dict[str, list[dict]] = {}
    for shard in shards:
        by_index.setdefault(shard["index"], []).append(shard)
    assert by_index
    for index, copies in by_index.items():
        assert sorted(copy["prirep"] for copy in copies) == ["p", "r"], index
        assert {copy["state"] for copy in copies} == {"STARTED"}, index
        assert len({copy["node"] for copy in copies}) == 2, index  # primary and replica on different nodes
    # The pipeline's user reaches its own indices, and nothing else.
    assert es.security.authenticate()["username"] == "newsflow_pipeline"
    with pytest.raises(Exception, match="403|security_exception"):
        es.indices.create(index="not-newsflow")


def test_folder_run_on_celery_workers_indexes_what_the_in_process_pipeline_indexes(
    airflow, es, pipeline_settings, tmp_path
):
    folder = _copy_articles(tmp_path / "topo-folder")
    run_id = airflow.trigger("newsflow_folder", {"folder": str(folder), "files_per_batch": 2})
    airflow.wait_for_run("newsflow_folder", run_id, timeout_s=420)
    enrich_runs = _settle_enrichment(airflow, run_id)

    indexed = sorted(doc["doc_id"] for doc in _articles(es, "folder:topo-folder"))
    assert len(indexed) == len(set(indexed)) == ARTICLES_IN_SAMPLES
    assert indexed == _in_process_ids(pipeline_settings, "folder", f"{PREFIX}local-folder-", folder=str(folder))
    # Mapped tasks of the run went to both Celery workers.
    hosts = _hosts(airflow, "newsflow_folder", [run_id])
    hosts.update(_hosts(airflow, "newsflow_enrich", [run["dag_run_id"] for run in enrich_runs]))
    assert set(hosts.values()) == WORKERS, hosts


def test_feeds_run_against_the_loopback_feed_server_matches_the_in_process_pipeline(airflow, es, pipeline_settings):
    server_state = serve_feeds(slow_seconds=1.0)
    server = next(server_state)
    try:
        feeds = [
            {"name": "topo-rss2", "url": server.url("/rss2.xml")},
            {"name": "topo-atom", "url": server.url("/atom.xml")},
            {"name": "topo-rdf", "url": server.url("/rdf.xml")},
        ]
        run_id = airflow.trigger("news_feeds", {"feeds": feeds})
        airflow.wait_for_run("news_feeds", run_id, timeout_s=420)
        _settle_enrichment(airflow, run_id)
        indexed = sorted(doc["doc_id"] for feed in feeds for doc in _articles(es, f"feed:{feed['name']}"))
        assert len(indexed) == len(set(indexed)) == 6  # 3 + 2 + 1 entries
        assert indexed == _in_process_ids(pipeline_settings, "feeds", f"{PREFIX}local-feeds-", feeds=feeds)
    finally:
        next(server_state, None)


def test_native_backfill_through_the_rest_api_enriches_each_days_raw_articles(airflow, stack, es):
    from pipelines.store.elastic import ElasticsearchStore

    def fetched(day: int, hour: int) -> RawArticle:
        name = f"{day}-{hour}"
        return RawArticle(
            doc_id=f"topo-backfill-{name}", source="folder:topo-backfill", source_ref=f"{name}.txt",
            title=f"Port report {name}", body=f"Port officials in Rotterdam reported record cargo on day {day} ({name}).",
            fetched_at=datetime(2026, 10, day, hour, 30, tzinfo=UTC),
        )

    inside = [fetched(day, hour) for day in (5, 6) for hour in (1, 22)]
    store = ElasticsearchStore(es, IndexNames(PREFIX))
    store.prepare()
    seeded = store.raw.put([*inside, fetched(4, 23), fetched(7, 0)], RunInfo("seeded-by-test"))
    store.raw.mark_enriched(seeded.doc_ids)  # only the backfill's windows select them

    body = {"dag_id": "newsflow_enrich", "from_date": "2026-10-05T00:00:00Z", "to_date": "2026-10-06T00:00:00Z",
            "reprocess_behavior": "completed", "max_active_runs": 2, "dag_run_conf": {}}
    airflow.api("POST", "/backfills", json=body)  # PostgreSQL: no 503 while the scheduler writes
    deadline = time.monotonic() + 420
    while True:
        runs = [run for run in airflow.dag_runs("newsflow_enrich") if run["run_type"] == "backfill"]
        failed = [run for run in runs if run["state"] == "failed"]
        assert not failed, airflow.describe_run("newsflow_enrich", failed[0]["dag_run_id"])
        if len(runs) == 2 and all(run["state"] == "success" for run in runs):
            break
        assert time.monotonic() < deadline, [(run["dag_run_id"], run["state"]) for run in runs]
        time.sleep(2)
    indexed = sorted(doc["doc_id"] for doc in _articles(es, "folder:topo-backfill"))
    assert indexed == sorted(article.doc_id for article in inside)  # the 4th and 7th are other windows


def _wait_for_running_task(airflow: AirflowServices, dag_ids: tuple[str, ...], worker: str | None,
                           timeout_s: float = 300, task_id: str | None = None) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for dag_id in dag_ids:
            for run in airflow.dag_runs(dag_id):
                if run["state"] != "running":
                    continue
                for ti in airflow.task_instances(dag_id, run["dag_run_id"]):
                    host = (ti["hostname"] or "").split("@")[0]
                    if (ti["state"] == "running" and (worker is None or host == worker)
                            and task_id in (None, ti["task_id"])):
                        return ti
        time.sleep(0.5)
    raise AssertionError(f"no task running on {worker or 'any worker'} within {timeout_s:.0f}s")


def _process_tree(root: int) -> list[int]:
    """``root`` and its live descendants. The worker's task processes retitle themselves (``airflow worker --
    <ti id>``), which overwrites their environment block, so they are found by parentage, not by environment."""
    children: dict[int, list[int]] = {}
    live = set()
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError, IndexError, ValueError):
            state, ppid = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:2]
            children.setdefault(int(ppid), []).append(int(entry.name))
            if state != "Z":  # a killed process stays a zombie until its parent reaps it
                live.add(int(entry.name))
    tree, pending = [], [root]
    while pending:
        pid = pending.pop()
        tree.append(pid)
        pending += children.get(pid, [])
    return [pid for pid in tree if pid in live]


def _wait_for_task_process(ti: dict, worker_pid: int, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for pid in _process_tree(worker_pid):
            with contextlib.suppress(OSError):
                if ti["id"].encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                    return
        time.sleep(0.2)
    raise AssertionError(f"no process of task instance {ti['id']} under worker pid {worker_pid} within {timeout_s:.0f}s")


def _same_task_instance(airflow: AirflowServices, ti: dict) -> dict:
    """``ti`` read again (its latest try)."""
    return next(now for now in airflow.task_instances(ti["dag_id"], ti["dag_run_id"])
                if (now["task_id"], now["map_index"]) == (ti["task_id"], ti["map_index"]))


def test_a_celery_worker_killed_mid_run_loses_no_article_and_doubles_none(airflow, stack, es, tmp_path):
    # Eight copies of the samples: enrichment takes long enough that the kill lands while it runs
    # (copies are indexed too, marked duplicate_of, so every file still ends as one document).
    folder = tmp_path / "topo-worker-fault"
    for copy in range(KILLED_RUN_COPIES):
        _copy_articles(folder / f"copy-{copy}")
    run_id = airflow.trigger("newsflow_folder", {"folder": str(folder), "files_per_batch": 22})
    # An enrich batch (not the daily run's quick plan task): the task that holds the articles.
    victim = _wait_for_running_task(airflow, ("newsflow_enrich",), None, task_id="enrich")
    victim_worker = victim["hostname"].split("@")[0]
    survivor = next(name for name in WORKERS if name != victim_worker)
    # The whole worker at once, once the task's own process runs: its Celery processes and their children.
    worker_pid = read_pid(stack.run_dir / f"{victim_worker}.pid")
    _wait_for_task_process(victim, worker_pid)
    deadline = time.monotonic() + 10
    while (doomed := _process_tree(worker_pid)) and time.monotonic() < deadline:
        kill_processes(doomed)
        time.sleep(0.2)
    assert doomed == []
    killed = _same_task_instance(airflow, victim)
    assert killed["state"] == "running" and killed["try_number"] == 1, killed  # it did not finish before the kill

    airflow.wait_for_run("newsflow_folder", run_id, timeout_s=420)
    airflow.wait_for_run("newsflow_enrich", victim["dag_run_id"], timeout_s=900)
    retried = _same_task_instance(airflow, victim)
    assert retried["state"] == "success" and retried["try_number"] >= 2
    assert retried["hostname"].split("@")[0] == survivor
    _settle_enrichment(airflow, run_id)
    indexed = [doc["doc_id"] for doc in _articles(es, "folder:topo-worker-fault")]
    assert len(indexed) == len(set(indexed)) == ARTICLES_IN_SAMPLES * KILLED_RUN_COPIES
    stack.up()  # `stack up` brings the lost worker back
    assert {c.name for c in stack.status() if c.healthy} >= WORKERS


def test_an_elasticsearch_node_stopped_mid_run_loses_no_article_and_doubles_none(airflow, stack, es, tmp_path):
    folder = _copy_articles(tmp_path / "topo-node-fault")
    run_id = airflow.trigger("newsflow_folder", {"folder": str(folder), "files_per_batch": 1})
    _wait_for_running_task(airflow, ("newsflow_folder",), None)
    # The node holding the primary of the raw articles: its replica has to take over.
    from elasticsearch import Elasticsearch

    names = IndexNames(PREFIX)
    info = stack.es_credentials()
    admin = Elasticsearch(stack.es_urls, basic_auth=(info.username, info.password))
    try:
        shards = admin.cat.shards(index=names.raw_articles, format="json", h="prirep,node")
        primary_node = next(shard["node"] for shard in shards if shard["prirep"] == "p")
        stack.es_node(stack.es_node_names.index(primary_node)).stop()
        assert admin.cluster.health(wait_for_nodes="2", timeout="60s")["number_of_nodes"] == 2

        airflow.wait_for_run("newsflow_folder", run_id, timeout_s=420)
        _settle_enrichment(airflow, run_id)
        indexed = [doc["doc_id"] for doc in _articles(es, "folder:topo-node-fault")]
        assert len(indexed) == len(set(indexed)) == ARTICLES_IN_SAMPLES
    finally:
        stack.up()  # the node rejoins
        admin.close()
