"""Shared fixtures: one real Elasticsearch per test session, isolated per test by index prefix.

With ``NEWSFLOW_ES_URL`` set, the suite runs against that cluster instead (nothing is
started); otherwise the project's own local node is started in a temporary state directory
on a free port, so a developer's running node and data are never touched.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.orchestration.environment import airflow_environment
from pipelines.settings import Settings
from pipelines.store.client import connect
from pipelines.store import IndexNames


# Airflow reads its configuration once per process, at first import, so every in-process use
# (DagBag, dag.test) must share one AIRFLOW_HOME, set before anything imports airflow. Its
# metadata database is migrated by the ``in_process_airflow`` fixture. Airflow services started
# by tests get homes of their own through explicit subprocess environments.
_IN_PROCESS_STATE = Path(tempfile.mkdtemp(prefix="newsflow-test-airflow-"))
atexit.register(shutil.rmtree, _IN_PROCESS_STATE, ignore_errors=True)
_IN_PROCESS_ENV = {
    **airflow_environment(Settings.from_env().with_changes(state_dir=_IN_PROCESS_STATE)),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
}
os.environ.update({k: v for k, v in _IN_PROCESS_ENV.items() if k.startswith(("AIRFLOW", "NEWSFLOW_PROJECT"))})


@pytest.fixture(scope="session")
def in_process_airflow() -> dict[str, str]:
    """The migrated metadata database behind this process's Airflow (for DagBag and dag.test)."""
    airflow = str(Path(sys.executable).with_name("airflow"))
    subprocess.run([airflow, "db", "migrate"], env=_IN_PROCESS_ENV, check=True, capture_output=True, timeout=300)
    return _IN_PROCESS_ENV


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def delete_indices(client, prefix: str) -> None:
    """Drop every index and template a test created (wildcard deletes are disabled on the node)."""
    names = IndexNames(prefix)
    existing = client.indices.get(index=f"{prefix}*", allow_no_indices=True, expand_wildcards="all")
    for index in existing:
        client.indices.delete(index=index)
    if client.indices.exists_index_template(name=names.articles_template):
        client.indices.delete_index_template(name=names.articles_template)


@pytest.fixture(scope="session")
def es_session_env(tmp_path_factory) -> Iterator[dict[str, str]]:
    """Environment that points every Settings.from_env() at the session's cluster."""
    saved = dict(os.environ)
    if os.environ.get("NEWSFLOW_ES_URL"):
        yield {}
        return
    state_dir = tmp_path_factory.mktemp("newsflow-state")
    env = {
        "NEWSFLOW_STATE_DIR": str(state_dir),
        "NEWSFLOW_ES_PORT": str(_free_port()),
        "NEWSFLOW_ES_HEAP": os.environ.get("NEWSFLOW_ES_HEAP", "512m"),
        "NEWSFLOW_INDEX_PREFIX": "test-session-",
    }
    os.environ.update(env)
    from pipelines.store.local_node import LocalNode

    # Disk usage read hourly rather than every 30 s: the disk monitor, on reading it, lifts the
    # flood-stage block the fault tests set (tests/test_cluster_faults.py), and once did mid-test.
    node = LocalNode(Settings.from_env(), node_settings={"cluster.info.update.interval": "1h"})
    node.start()
    try:
        yield env
    finally:
        node.stop()
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="session")
def test_settings(es_session_env) -> Settings:
    return Settings.from_env()


@pytest.fixture(scope="session")
def es_client(test_settings):
    client = connect(test_settings)
    yield client
    client.close()


@pytest.fixture
def isolated_settings(test_settings, es_client, monkeypatch) -> Iterator[Settings]:
    """Settings with an index prefix of this test's own; its indices are deleted afterwards."""
    # Inside the session prefix, which the local node's pipeline role is limited to.
    prefix = f"{test_settings.index_prefix}{uuid.uuid4().hex[:10]}-"
    monkeypatch.setenv("NEWSFLOW_INDEX_PREFIX", prefix)  # for code that reads the env (DAG tasks)
    yield test_settings.with_changes(index_prefix=prefix)
    delete_indices(es_client, prefix)


@pytest.fixture
def names(isolated_settings) -> IndexNames:
    return IndexNames(isolated_settings.index_prefix)


@pytest.fixture(scope="session")
def project_root() -> Path:
    return Path(__file__).resolve().parent.parent


KIBANA_URL_FOR_TESTS = "http://kibana.invalid:5601"


@pytest.fixture(scope="session")
def airflow_services(test_settings, es_client, tmp_path_factory):
    """Real Airflow services (tests/airflow_services.py) shared by the session's service tests;
    they write under an index prefix of their own, deleted afterwards."""
    from airflow_services import start_airflow_services
    from pipelines.orchestration.airflow import ES_POOL, ES_POOL_SLOTS

    settings = test_settings.with_changes(index_prefix=f"{test_settings.index_prefix}af{uuid.uuid4().hex[:8]}-")
    home_parent = tmp_path_factory.mktemp("airflow-services")
    kibana = {"KIBANA_URL": KIBANA_URL_FOR_TESTS}  # never contacted: the extra link's base
    with start_airflow_services(settings, home_parent, pools={ES_POOL: ES_POOL_SLOTS}, extra_env=kibana) as services:
        yield services
    delete_indices(es_client, settings.index_prefix)
