"""The Airflow side, for real: the DAG folder imports cleanly, and the folder DAG runs end to end."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.airflow_env import airflow_environment
from pipelines.config import PROJECT_ROOT
from pipelines.indexing import IndexNames, iter_documents

pytestmark = pytest.mark.airflow


@pytest.fixture(scope="module")
def airflow_env(test_settings, tmp_path_factory):
    """A throwaway AIRFLOW_HOME with a migrated SQLite metadata DB, set in this process's environment."""
    settings = test_settings.with_changes(state_dir=tmp_path_factory.mktemp("airflow-state"))
    env = airflow_environment(settings)
    env["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    airflow = str(Path(sys.executable).with_name("airflow"))
    subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True, timeout=300)
    saved = dict(os.environ)
    os.environ.update({key: value for key, value in env.items() if key.startswith(("AIRFLOW", "NEWSFLOW_PROJECT"))})
    yield env
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="module")
def dag_bag(airflow_env):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(PROJECT_ROOT / "dags"))


def test_dag_folder_imports_without_errors(dag_bag):
    assert dag_bag.import_errors == {}
    assert "newsflow_folder" in dag_bag.dag_ids


def test_folder_dag_tasks_have_retries_and_a_named_mapped_task(dag_bag):
    dag = dag_bag.get_dag("newsflow_folder")
    assert {t.task_id for t in dag.tasks} == {"prepare_indices", "plan_batches", "ingest_batch", "summarize"}
    for task in dag.tasks:
        assert task.retries == 2
    assert dag.get_task("ingest_batch").map_index_template == "{{ batch_label }}"


def test_folder_dag_run_indexes_every_sample_article(dag_bag, es_client, isolated_settings, tmp_path):
    folder = tmp_path / "articles"
    shutil.copytree(PROJECT_ROOT / "samples" / "articles", folder)
    dag = dag_bag.get_dag("newsflow_folder")

    run = dag.test(run_conf={"folder": str(folder), "files_per_batch": 4})
    assert run.state == "success"

    names = IndexNames(isolated_settings.index_prefix)
    es_client.indices.refresh(index=names.articles)
    docs = list(iter_documents(es_client, names.articles, {"term": {"run_id": run.run_id}}))
    articles_in_samples = 12  # 11 files, the .jsonl holds two articles
    assert len(docs) == articles_in_samples
    assert {doc["dag_id"] for doc in docs} == {"newsflow_folder"}
    nordvik = next(doc for doc in docs if doc["source_ref"] == "nordvik-floating-wind.txt")
    assert "Maria Lindqvist" in nordvik["persons"]
    assert "[caption" not in nordvik["body"]
    assert any("(Reuters)" in caption for caption in nordvik["captions"])

    second = dag.test(run_conf={"folder": str(folder), "files_per_batch": 4})
    assert second.state == "success"
    es_client.indices.refresh(index=names.articles)
    assert es_client.count(index=names.articles)["count"] == articles_in_samples
    assert es_client.count(index=names.articles, query={"term": {"run_id": second.run_id}})["count"] == 0
