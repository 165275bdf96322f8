"""The cluster from an Airflow Connection (``NEWSFLOW_ES_CONN_ID``): tasks read it through Airflow
(here an ``AIRFLOW_CONN_*`` variable, as a secrets backend would supply it); the CLI keeps the
``NEWSFLOW_ES_*`` variables."""

from __future__ import annotations

import json
import shutil
import socket

import pytest

from pipelines.settings import PROJECT_ROOT, SAMPLE_ARTICLES, ElasticsearchSettings, Settings
from pipelines.store import IndexNames
from pipelines.store.local_node import PIPELINE_USERNAME, read_credentials

pytestmark = [pytest.mark.airflow, pytest.mark.elasticsearch]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_connection_follows_the_elasticsearch_providers_conventions():
    from airflow.sdk import Connection

    from pipelines.orchestration.airflow import elasticsearch_from_connection

    connection = Connection(
        conn_id="managed", conn_type="elasticsearch", host="es-a.example.com,es-b.example.com:9243", port=443,
        schema="https", extra=json.dumps({"api_key": "c2VjcmV0", "verify_certs": False, "ca_certs": "/etc/ca.pem"}),
    )
    es = elasticsearch_from_connection(connection, ElasticsearchSettings(url="http://ignored:9200", username="old"))
    assert es.hosts == ("https://es-a.example.com:443", "https://es-b.example.com:9243")
    assert (es.username, es.password, es.api_key) == (None, None, "c2VjcmV0")
    assert es.verify_certs is False and str(es.ca_certs) == "/etc/ca.pem"

    basic = elasticsearch_from_connection(
        Connection(conn_id="local", conn_type="elasticsearch", host="127.0.0.1", login="u", password="p"),
        ElasticsearchSettings(),
    )
    assert (basic.url, basic.username, basic.password, basic.api_key) == ("http://127.0.0.1:9200", "u", "p", None)


def test_tasks_take_the_cluster_from_the_airflow_connection_and_the_cli_keeps_the_variables(
    in_process_airflow, test_settings, isolated_settings, es_client, monkeypatch, tmp_path
):
    from airflow.dag_processing.dagbag import DagBag

    from pipelines.orchestration.airflow import settings

    es = test_settings.elasticsearch
    if es.is_external:
        connection = {"conn_type": "elasticsearch", "host": es.url, "login": es.username, "password": es.password,
                      "extra": {"api_key": es.api_key} if es.api_key else {}}
    else:
        node = read_credentials(test_settings)
        connection = {"conn_type": "elasticsearch", "host": "127.0.0.1", "port": int(node.url.rsplit(":", 1)[1]),
                      "schema": "http", "login": PIPELINE_USERNAME, "password": node.pipeline_password}
    monkeypatch.setenv("AIRFLOW_CONN_NEWSFLOW_ES_TEST", json.dumps(connection))
    monkeypatch.setenv("NEWSFLOW_ES_CONN_ID", "newsflow_es_test")
    # The variables point at a closed port: only the connection can make the run succeed.
    closed = f"http://127.0.0.1:{_closed_port()}"
    monkeypatch.setenv("NEWSFLOW_ES_URL", closed)
    assert settings().elasticsearch.url == closed  # outside a task (and in the CLI): the variables

    folder = tmp_path / "conn-articles"
    shutil.copytree(SAMPLE_ARTICLES / "tech", folder)
    dag = DagBag(dag_folder=str(PROJECT_ROOT / "dags")).get_dag("newsflow_folder")
    run = dag.test(run_conf={"folder": str(folder), "files_per_batch": 4})
    assert run.state == "success"
    names = IndexNames(isolated_settings.index_prefix)
    es_client.indices.refresh(index=names.raw_articles)
    stored = es_client.search(index=names.raw_articles, query={"term": {"ingest_run_id": run.run_id}})["hits"]["hits"]
    assert [hit["_source"]["source"] for hit in stored] == ["folder:conn-articles"]
    assert Settings.from_env().elasticsearch.conn_id == "newsflow_es_test"


def test_the_url_variable_may_list_several_nodes_and_each_must_be_http():
    from pipelines.errors import ConfigError

    settings = Settings.from_env({"NEWSFLOW_ES_URL": "http://10.0.0.1:9200, https://10.0.0.2:9200"})
    assert settings.elasticsearch.hosts == ("http://10.0.0.1:9200", "https://10.0.0.2:9200")
    with pytest.raises(ConfigError, match="ftp://10.0.0.3"):
        Settings.from_env({"NEWSFLOW_ES_URL": "http://10.0.0.1:9200,ftp://10.0.0.3"})
