"""Security on the real node: no anonymous access, a least-privilege pipeline user, no secrets in logs."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from elasticsearch import AuthenticationException, AuthorizationException, Elasticsearch

from pipelines.store.client import connect
from pipelines.models import RunInfo
from pipelines.store.schema import ensure_indices
from pipelines.store.local_node import read_credentials
from pipelines.pipeline import Pipeline

pytestmark = pytest.mark.elasticsearch


@pytest.fixture
def local_node(test_settings):
    node = read_credentials(test_settings)
    if test_settings.elasticsearch.is_external or node is None:
        pytest.fail("these tests check the local node's security: unset NEWSFLOW_ES_URL")
    return node


@pytest.fixture
def other_index(test_settings):
    """An index that belongs to somebody else, made by the superuser."""
    admin = connect(test_settings, admin=True)
    admin.index(index="someone-elses-index", id="1", document={"secret": "payroll"}, refresh=True)
    yield "someone-elses-index"
    admin.indices.delete(index="someone-elses-index")


def test_anonymous_and_wrong_password_are_rejected(local_node):
    with pytest.raises(AuthenticationException):
        Elasticsearch(local_node.url).cluster.health()
    with pytest.raises(AuthenticationException):
        Elasticsearch(local_node.url, basic_auth=("elastic", "wrong-password")).cluster.health()


def test_pipeline_user_writes_its_indices_but_not_anyone_elses(es_client, names, other_index, local_node):
    assert es_client.security.authenticate()["username"] == local_node.pipeline_username

    ensure_indices(es_client, names)
    es_client.index(index=names.articles_write, id="mine", document={"doc_id": "mine", "title": "ok"}, refresh=True)
    assert es_client.get(index=names.articles, id="mine")["_source"]["title"] == "ok"

    with pytest.raises(AuthorizationException):
        es_client.search(index=other_index, query={"match_all": {}})
    with pytest.raises(AuthorizationException):
        es_client.index(index=other_index, id="2", document={"secret": "overwritten"})
    with pytest.raises(AuthorizationException):
        es_client.indices.create(index="not-newsflow-at-all")
    with pytest.raises(AuthorizationException):
        es_client.indices.delete(index=other_index)


def test_no_secret_reaches_logs_or_command_output(es_client, names, tmp_path, caplog, local_node, isolated_settings):
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "a.txt").write_text("Harbour strike\n\nDock workers in Antwerp walked out on Monday.\n")
    (folder / "bad.json").write_text("{")

    caplog.set_level(logging.DEBUG)  # the client's and our own debug logging included
    Pipeline(isolated_settings).run("folder", RunInfo("secret-check"), folder=str(folder))

    newsflow = str(Path(sys.executable).with_name("newsflow"))
    outputs = [
        subprocess.run([newsflow, *args], capture_output=True, text=True, env=dict(os.environ), timeout=300)
        for args in (["es", "start"], ["es", "status"], ["ingest", "folder", str(folder)], ["search", "Antwerp"])
    ]
    captured = caplog.text + "".join(result.stdout + result.stderr for result in outputs)
    assert "Antwerp" in captured  # the capture did see the run
    for secret in (local_node.password, local_node.pipeline_password):
        assert secret and secret not in captured


def test_api_key_creation_is_explained_where_the_cluster_cannot_store_keys(local_node):
    newsflow = str(Path(sys.executable).with_name("newsflow"))
    result = subprocess.run([newsflow, "es", "create-api-key"], capture_output=True, text=True, env=dict(os.environ), timeout=120)
    assert result.returncode == 2
    assert "cannot store API keys" in result.stderr and "newsflow_pipeline" in result.stderr
    assert "NEWSFLOW_ES_API_KEY=" not in result.stdout


def test_a_missing_pipeline_password_is_an_error_not_the_superuser(test_settings, tmp_path):
    import shutil

    from pipelines.errors import ConfigError

    copy = test_settings.with_changes(state_dir=tmp_path)
    copy.local_node_dir.mkdir(parents=True)
    for name in ("node.json", "elastic-password"):  # everything but the pipeline user's password
        shutil.copy(test_settings.local_node_dir / name, copy.local_node_dir / name)
    with pytest.raises(ConfigError, match="no pipeline user password.*newsflow es stop && newsflow es start"):
        connect(copy)
    assert read_credentials(copy).pipeline_password is None  # what was missing, and all that was

