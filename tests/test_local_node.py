"""The embedded Elasticsearch node: JDK and version choice, and a real start/stop cycle."""

from __future__ import annotations

import base64
import json
import os
import socket
import stat
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from pipelines.settings import Settings
from pipelines.errors import LocalElasticsearchError
from pipelines.store.local_node import Java, LocalNode, choose_version, find_java, read_credentials


def fake_jdk(root: Path, name: str, version: str) -> Path:
    home = root / name
    (home / "bin").mkdir(parents=True)
    (home / "bin" / "java").write_text("#!/bin/sh\n")
    (home / "release").write_text(f'IMPLEMENTOR="Test"\nJAVA_VERSION="{version}"\n')
    return home


def test_newest_installed_jdk_is_found(tmp_path, monkeypatch):
    monkeypatch.delenv("JAVA_HOME", raising=False)
    fake_jdk(tmp_path, "java-17", "17.0.12")
    newest = fake_jdk(tmp_path, "temurin-25", "25.0.1")
    (tmp_path / "not-a-jdk").mkdir()

    assert find_java(roots=(tmp_path,)) == Java(newest, 25)


def test_configured_java_home_must_be_a_jdk(tmp_path):
    with pytest.raises(LocalElasticsearchError, match="is not a JDK"):
        find_java(tmp_path)


def test_version_follows_the_jdk():
    assert choose_version(Java(Path("/jdk"), 25)).startswith("9.")
    assert choose_version(Java(Path("/jdk"), 21)).startswith("9.")
    assert choose_version(Java(Path("/jdk"), 17)).startswith("8.19.")
    with pytest.raises(LocalElasticsearchError, match="too old"):
        choose_version(Java(Path("/jdk"), 11))
    with pytest.raises(LocalElasticsearchError, match="needs JDK 21"):
        choose_version(Java(Path("/jdk"), 17), requested="9.2.8")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _settings(state_dir: Path, port: int) -> Settings:
    env = {**os.environ, "NEWSFLOW_STATE_DIR": str(state_dir), "NEWSFLOW_ES_PORT": str(port), "NEWSFLOW_ES_HEAP": "256m"}
    env.pop("NEWSFLOW_ES_URL", None)
    return Settings.from_env(env)


def test_a_port_taken_by_something_else_is_a_clear_error(tmp_path):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        with pytest.raises(LocalElasticsearchError, match=f"port {port} .* already in use"):
            LocalNode(_settings(tmp_path, port)).start()


def _get(url: str, auth: tuple[str, str] | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url)
    if auth:
        request.add_header("Authorization", "Basic " + base64.b64encode(":".join(auth).encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, {}


def _group_exists(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.elasticsearch
def test_node_starts_secured_on_loopback_restarts_with_its_data_and_stops_completely(tmp_path):
    settings = _settings(tmp_path, _free_port())
    node = LocalNode(settings)
    info = node.start()
    try:
        assert info.url == f"http://127.0.0.1:{settings.local_node.port}"
        password_file = tmp_path / "elasticsearch" / "elastic-password"
        assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
        assert password_file.read_text().strip() == info.password
        assert info.password not in repr(info)

        assert _get(f"{info.url}/_cluster/health")[0] == 401  # security is on: no anonymous access
        # (The Maven distribution has no rest-root module, so there is no `GET /`; ask the node.)
        status, body = _get(f"{info.url}/_nodes/_local?filter_path=nodes.*.version", (info.username, info.password))
        assert status == 200 and [node["version"] for node in body["nodes"].values()] == [info.version]
        config = (tmp_path / "elasticsearch" / "config" / "elasticsearch.yml").read_text()
        assert "network.host: 127.0.0.1" in config and "discovery.type: single-node" in config

        assert node.start().pid == info.pid  # already running: reused, not started twice
        assert node.status().healthy

        request = urllib.request.Request(
            f"{info.url}/kept/_doc/1?refresh=true", data=b'{"n": 1}', method="PUT",
            headers={"Content-Type": "application/json",
                     "Authorization": "Basic " + base64.b64encode(f"elastic:{info.password}".encode()).decode()},
        )
        urllib.request.urlopen(request, timeout=10).close()
    finally:
        assert node.stop()
    assert not _group_exists(info.pid)  # the launcher and the JVM are both gone
    assert not node.status().running
    assert read_credentials(settings).pid is None

    restarted = node.start()
    try:
        assert restarted.password == info.password and restarted.pid != info.pid
        status, body = _get(f"{restarted.url}/kept/_doc/1", (restarted.username, restarted.password))
        assert status == 200 and body["_source"] == {"n": 1}
    finally:
        node.stop()
    assert not node.stop()  # stopping a stopped node is harmless
