"""docker/ and the Helm values agree with the project: the compose file validates against the
Compose specification (check-jsonschema's vendored compose-spec schema, a real validator), the
image runs the lock's Airflow, every variable Settings reads is set or documented, Kibana and
Elasticsearch share a version, and the init jobs create the pool every DAG uses and the
pipeline's role exactly as the local node defines it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipelines.settings import PROJECT_ROOT

DOCKER = PROJECT_ROOT / "docker"
COMPOSE = DOCKER / "compose.yaml"
HELM_VALUES = DOCKER / "helm" / "values.yaml"


def _compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def _locked(package: str) -> str:
    match = re.search(rf"^{re.escape(package)}==([^\s\\]+)", (PROJECT_ROOT / "requirements.lock").read_text(), re.MULTILINE)
    assert match, package
    return match.group(1)


def _validate_compose(path: Path) -> subprocess.CompletedProcess:
    checker = Path(sys.executable).with_name("check-jsonschema")
    return subprocess.run([str(checker), "--builtin-schema", "vendor.compose-spec", str(path)],
                          capture_output=True, text=True, timeout=120)


def test_the_compose_file_validates_against_the_compose_specification(tmp_path):
    result = _validate_compose(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr
    # The validator does reject what the specification does not allow.
    broken = tmp_path / "compose.yaml"
    broken.write_text(COMPOSE.read_text().replace("    restart: always", "    restarts: always", 1))
    rejected = _validate_compose(broken)
    assert rejected.returncode != 0 and "restarts" in rejected.stdout + rejected.stderr


def test_the_image_is_the_official_airflow_image_of_the_locked_version():
    base = re.search(r"^FROM apache/airflow:(\S+)-python(\d+\.\d+)$", (DOCKER / "Dockerfile").read_text(), re.MULTILINE)
    assert base, "docker/Dockerfile must start FROM apache/airflow:<version>-python<x.y>"
    assert base.group(1) == _locked("apache-airflow")
    assert base.group(2) == f"{sys.version_info.major}.{sys.version_info.minor}"
    dockerfile = (DOCKER / "Dockerfile").read_text()
    assert "--require-hashes -r /opt/newsflow/requirements.lock" in dockerfile
    ignored = (PROJECT_ROOT / ".dockerignore").read_text().split()
    assert ".git" in ignored and ".venv" in ignored and ".state" in ignored


def test_every_variable_settings_reads_is_set_in_compose_or_documented():
    read = set(re.findall(r'env\.\w+\(\s*"((?:NEWSFLOW|KIBANA)_\w+)"', (PROJECT_ROOT / "pipelines" / "settings.py").read_text()))
    read |= set(re.findall(r'environ\.get\("((?:NEWSFLOW|KIBANA)_\w+)"', (PROJECT_ROOT / "pipelines" / "settings.py").read_text()))
    assert {"NEWSFLOW_ES_URL", "NEWSFLOW_ES_CONN_ID", "NEWSFLOW_INDEX_PREFIX", "KIBANA_URL"} <= read
    compose_env = set(_compose()["x-airflow-common"]["environment"])
    readme = (PROJECT_ROOT / "README.md").read_text()
    configuration = readme[readme.index("## Configuration"):]
    configuration = configuration[: configuration.index("\n## ", 5)]
    families = re.findall(r"`((?:NEWSFLOW|KIBANA)_\w*)\*`", configuration)  # rows such as `NEWSFLOW_FEEDS_*`
    missing = sorted(
        name for name in read
        if name not in compose_env and f"`{name}`" not in configuration and not name.startswith(tuple(families))
    )
    assert missing == []


def test_every_airflow_option_compose_and_helm_set_is_a_real_option(in_process_airflow):
    from airflow.configuration import conf

    options = conf.configuration_description
    compose_env = _compose()["x-airflow-common"]["environment"]
    helm_env = {item["name"]: item["value"] for item in yaml.safe_load(HELM_VALUES.read_text())["env"]}
    for name in [*compose_env, *helm_env]:
        if not name.startswith("AIRFLOW__"):
            continue
        section, key = name.removeprefix("AIRFLOW__").lower().split("__", 1)
        key = key.removesuffix("_cmd")
        assert key in options.get(section, {}).get("options", {}), name


def test_kibana_runs_the_elasticsearch_version_and_that_is_one_the_local_node_runs():
    from pipelines.store.local_node import KNOWN_DISTRIBUTIONS

    services = _compose()["services"]
    es_image, es_version = services["elasticsearch"]["image"].rsplit(":", 1)
    kibana_image, kibana_version = services["kibana"]["image"].rsplit(":", 1)
    assert (es_image, kibana_image) == ("docker.elastic.co/elasticsearch/elasticsearch", "docker.elastic.co/kibana/kibana")
    assert kibana_version == es_version
    assert es_version in KNOWN_DISTRIBUTIONS
    assert services["elasticsearch"]["environment"]["xpack.security.enabled"] == "true"


def test_the_init_jobs_create_the_pool_every_dag_uses_and_the_pipeline_role(dag_pool):
    from pipelines.orchestration.airflow import ES_POOL, ES_POOL_SLOTS
    from pipelines.store.local_node import PIPELINE_ROLE, pipeline_role_descriptor

    assert dag_pool == ES_POOL
    init = "\n".join(_compose()["services"]["airflow-init"]["command"])
    assert f"airflow pools set {ES_POOL} {ES_POOL_SLOTS} " in init
    assert "airflow db migrate" in init
    role = re.search(rf"_security/role/{PIPELINE_ROLE} -d '([^']+)'", init)
    assert role and json.loads(role.group(1)) == pipeline_role_descriptor("newsflow-")
    helm_job = " ".join(yaml.safe_load(HELM_VALUES.read_text())["migrateDatabaseJob"]["args"])
    assert "airflow db migrate" in helm_job and f"airflow pools set {ES_POOL} {ES_POOL_SLOTS} " in helm_job


@pytest.fixture
def dag_pool(in_process_airflow) -> str:
    """The one pool every task of every DAG uses."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags"))
    pools = {task.pool for dag in bag.dags.values() for task in dag.tasks}
    assert len(pools) == 1, pools
    return pools.pop()


def test_services_have_health_checks_restart_policies_and_named_volumes():
    compose = _compose()
    services = compose["services"]
    one_shots = {"airflow-init", "kibana-import"}
    assert {"postgres", "redis", "elasticsearch", "kibana", "airflow-init", "airflow-apiserver", "airflow-scheduler",
            "airflow-dag-processor", "airflow-triggerer", "airflow-worker", "kibana-import"} <= set(services)
    for name, service in services.items():
        if name not in one_shots:
            assert "healthcheck" in service and service.get("restart") == "always", name
    assert "container_name" not in services["airflow-worker"] and "ports" not in services["airflow-worker"]  # scalable
    named = set(compose["volumes"])
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            assert source in named or source.startswith(("${", ".", "/")), volume
    feeds_mount = [v for v in compose["x-airflow-common"]["volumes"] if v.endswith(":/opt/newsflow/config/feeds.yaml:ro")]
    assert feeds_mount and compose["x-airflow-common"]["environment"]["NEWSFLOW_FEEDS_CONFIG"] == "/opt/newsflow/config/feeds.yaml"
    assert services["kibana-import"]["entrypoint"] == ["newsflow", "kibana", "import"]


def test_helm_values_use_the_charts_keys_and_the_locked_airflow():
    values = yaml.safe_load(HELM_VALUES.read_text())
    # Top-level keys of the official chart's values.schema.json (apache/airflow chart/) that we set.
    chart_keys = {"images", "airflowVersion", "defaultAirflowTag", "executor", "workers", "env", "secret", "volumes",
                  "volumeMounts", "migrateDatabaseJob", "config"}
    assert set(values) <= chart_keys
    assert values["airflowVersion"] == values["defaultAirflowTag"] == values["images"]["airflow"]["tag"] == _locked("apache-airflow")
    assert values["executor"] == "CeleryExecutor" and values["workers"]["replicas"] >= 2
    env = {item["name"]: item["value"] for item in values["env"]}
    assert env["NEWSFLOW_ES_CONN_ID"] == "newsflow_elasticsearch"
    assert [s["envName"] for s in values["secret"]] == ["AIRFLOW_CONN_NEWSFLOW_ELASTICSEARCH"]
