"""The Airflow side, for real: the DAG folder imports cleanly, and the folder DAG runs end to end."""

from __future__ import annotations

import shutil

import pytest

from pipelines.settings import PROJECT_ROOT, SAMPLE_ARTICLES
from pipelines.store import IndexNames
from pipelines.store.schema import iter_documents

pytestmark = pytest.mark.airflow


@pytest.fixture(scope="module")
def dag_bag(in_process_airflow):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(PROJECT_ROOT / "dags"))


ACQUISITION_DAGS = ("newsflow_folder", "news_feeds", "news_sitemaps")
ENRICHMENT_DAGS = ("newsflow_enrich", "newsflow_reprocess")


def test_dag_folder_imports_without_errors(dag_bag):
    assert dag_bag.import_errors == {}
    assert set(dag_bag.dag_ids) == {*ACQUISITION_DAGS, *ENRICHMENT_DAGS, "newsflow_inbox"}


def test_every_task_of_every_dag_retries_reports_failures_is_time_bounded_and_shares_the_es_pool(dag_bag):
    from pipelines.orchestration.airflow import ES_POOL, report_failure

    for dag_id in dag_bag.dag_ids:
        for task in dag_bag.get_dag(dag_id).tasks:
            assert task.pool == ES_POOL, (dag_id, task.task_id)
            assert task.execution_timeout is not None and task.execution_timeout.total_seconds() <= 2 * 3600, (dag_id, task.task_id)
            assert task.on_failure_callback in (report_failure, [report_failure]), (dag_id, task.task_id)
            # summarize only reports; re-running it cannot bring a failed unit back.
            assert task.retries == (0 if dag_id in ACQUISITION_DAGS and task.task_id == "summarize" else 2), (dag_id, task.task_id)


def test_every_source_has_the_same_acquisition_shape_and_one_asset_event_per_run(dag_bag):
    from pipelines.orchestration.airflow import RAW_ARTICLES

    for dag_id in ACQUISITION_DAGS:
        dag = dag_bag.get_dag(dag_id)
        assert {t.task_id for t in dag.tasks} == {"plan", "acquire", "summarize"}, dag_id
        acquire = dag.get_task("acquire")
        assert acquire.map_index_template == "{{ unit_label }}" and acquire.max_active_tis_per_dagrun == 4
        assert acquire.outlets == []  # one Asset event per run, from summarize, so one enrich run follows
        assert [outlet.name for outlet in dag.get_task("summarize").outlets] == [RAW_ARTICLES.name]
    for dag_id in ENRICHMENT_DAGS:
        dag = dag_bag.get_dag(dag_id)
        assert {t.task_id for t in dag.tasks} == {"plan", "enrich", "summarize"}, dag_id
        assert dag.get_task("enrich").max_active_tis_per_dagrun == 2


def test_inbox_is_one_task_started_by_its_watcher_and_starts_no_enrich_run(dag_bag):
    dag = dag_bag.get_dag("newsflow_inbox")
    assert [task.task_id for task in dag.tasks] == ["ingest"]  # every task start costs seconds
    assert dag.get_task("ingest").outlets == []  # it enriches itself: no raw-articles event
    assert "newsflow_inbox" in repr(dag.timetable.asset_condition)


def test_dag_files_only_wire_tasks_to_pipelines_functions(project_root):
    """Orchestration only: no DAG file defines a helper of its own beyond the one-line ``plan``
    hook of an acquisition DAG, and none reads the environment."""
    import ast

    for path in sorted((project_root / "dags").glob("*.py")):
        tree = ast.parse(path.read_text())
        top_level_functions = [node.name for node in tree.body if isinstance(node, ast.FunctionDef)]
        assert set(top_level_functions) <= {"plan", path.stem}, (path.name, top_level_functions)
        assert "os.environ" not in path.read_text() and "getenv" not in path.read_text(), path.name


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
    names = IndexNames(isolated_settings.index_prefix)
    folder = tmp_path / "articles"
    shutil.copytree(SAMPLE_ARTICLES, folder)
    articles_in_samples = 12  # 11 files, the .jsonl holds two articles

    ingestion = dag_bag.get_dag("newsflow_folder").test(run_conf={"folder": str(folder), "files_per_batch": 4})
    assert ingestion.state == "success"
    es_client.indices.refresh(index=names.raw_articles)
    assert es_client.count(index=names.raw_articles)["count"] == articles_in_samples
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
    assert es_client.count(index=names.raw_articles, query={"term": {"ingest_run_id": again.run_id}})["count"] == 0
    second = enrich.test(run_conf={**ENRICH_CONF, "sources": ["folder:articles"]})
    assert second.state == "success"
    assert len(_articles(es_client, names)) == articles_in_samples
    assert _articles(es_client, names, run_id=second.run_id) == []


def test_inbox_run_stores_and_indexes_the_reported_files_in_one_task_exactly_once(
    dag_bag, es_client, isolated_settings, tmp_path, monkeypatch
):
    from pipelines.orchestration.tasks import ingest_inbox

    names = IndexNames(isolated_settings.index_prefix)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    monkeypatch.setenv("NEWSFLOW_INBOX", str(inbox))
    settings = isolated_settings.with_changes(inbox_dir=inbox)
    shutil.copy(SAMPLE_ARTICLES / "lisbon-marathon.txt", inbox)
    shutil.copy(SAMPLE_ARTICLES / "kenya-solar-schools.txt", inbox)
    (inbox / "empty.txt").write_text("")
    reported = [{"payload": {"folder": str(inbox), "files": ["empty.txt", "lisbon-marathon.txt"]}}]

    first = ingest_inbox(settings, reported, run_id="inbox-1", dag_id="newsflow_inbox")
    assert (first["seen"], first["indexed"], first["failed"]) == (2, 1, 1)  # the empty file is a dead letter
    docs = _articles(es_client, names)
    assert [(doc["source_ref"], doc["run_id"], doc["dag_id"]) for doc in docs] == [
        ("lisbon-marathon.txt", "inbox-1", "newsflow_inbox")]
    es_client.indices.refresh(index=names.raw_articles)
    assert es_client.count(index=names.raw_articles, query={"term": {"pending": True}})["count"] == 0

    # The same event again (a retry): unchanged, nothing doubled.
    again = ingest_inbox(settings, reported, run_id="inbox-2", dag_id="newsflow_inbox")
    assert (again["seen"], again["unchanged"], again["indexed"]) == (2, 1, 0)
    assert len(_articles(es_client, names)) == 1

    # Started by hand (no event): every file in the inbox, through the DAG's one task.
    manual = dag_bag.get_dag("newsflow_inbox").test()
    assert manual.state == "success"
    assert {doc["source_ref"] for doc in _articles(es_client, names, run_id=manual.run_id)} == {"kenya-solar-schools.txt"}
    assert len(_articles(es_client, names)) == 2


def test_enrich_window_and_reprocess_select_what_they_should(dag_bag, es_client, isolated_settings, tmp_path):
    from datetime import UTC, datetime, timedelta

    names = IndexNames(isolated_settings.index_prefix)
    folder = tmp_path / "articles"
    shutil.copytree(SAMPLE_ARTICLES / "tech", folder)
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
