"""The ``newsflow`` command as a user runs it: a real subprocess against the session's node."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

NEWSFLOW = str(Path(sys.executable).with_name("newsflow"))


def newsflow(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([NEWSFLOW, *args], capture_output=True, text=True, env=env or dict(os.environ), timeout=300)


@pytest.fixture
def articles(tmp_path) -> Path:
    folder = tmp_path / "desk"
    folder.mkdir()
    (folder / "harbour.txt").write_text(
        "Rotterdam harbour trials hydrogen tugboats\n\n"
        "Mayor Ahmed Aboutaleb launched two hydrogen tugboats in the Netherlands on Monday, officials in Amsterdam said.\n\n"
        "The port authority said the trial runs until June.\n"
    )
    (folder / "caption.txt").write_text(
        '[caption id="" align="alignnone" width="600"] Tugboats in the Maas. (Reuters)[/caption]\n'
        "French engineers in Paris said on Tuesday that the hydrogen tanks passed a pressure test.\n"
    )
    (folder / "broken.json").write_text("{ not json")
    return folder


@pytest.mark.elasticsearch
def test_ingest_then_search_from_the_command_line(articles, isolated_settings):
    first = newsflow("ingest", "folder", str(articles), "--json")
    assert first.returncode == 1, first.stderr  # one file failed, and the exit code says so
    summary = json.loads(first.stdout)
    assert {k: summary[k] for k in ("seen", "indexed", "unchanged", "failed")} == {
        "seen": 3, "indexed": 2, "unchanged": 0, "failed": 1,
    }
    assert summary["failures"][0]["source_ref"] == "broken.json"

    again = newsflow("ingest", "folder", str(articles))
    assert "seen: 3  indexed: 0  unchanged: 2  duplicate: 0  failed: 1" in again.stdout
    assert "failed [read] broken.json" in again.stdout

    found = newsflow("search", "hydrogen", "--json")
    assert found.returncode == 0, found.stderr
    result = json.loads(found.stdout)
    assert result["total"] == 2
    persons = {bucket["value"] for bucket in result["facets"]["persons"]}
    assert "Ahmed Aboutaleb" in persons

    filtered = newsflow("search", "hydrogen", "--location", "Paris", "--json")
    assert [hit["source_ref"] for hit in json.loads(filtered.stdout)["hits"]] == ["caption.txt"]

    text = newsflow("search", "Reuters")
    assert "1 article(s) match 'Reuters'" in text.stdout
    assert "«Reuters»" in text.stdout and "Facets" in text.stdout


def test_ingest_of_a_missing_folder_is_a_clear_error(tmp_path):
    result = newsflow("ingest", "folder", str(tmp_path / "nowhere"))
    assert result.returncode == 2
    assert "not a folder" in result.stderr


def test_commands_without_a_cluster_explain_how_to_get_one(tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith("NEWSFLOW_")}
    env["NEWSFLOW_STATE_DIR"] = str(tmp_path)
    result = newsflow("search", "anything", env=env)
    assert result.returncode == 2
    assert "newsflow es start" in result.stderr and "NEWSFLOW_ES_URL" in result.stderr

    status = newsflow("es", "status", env=env)
    assert status.returncode == 3
    assert json.loads(status.stdout)["running"] is False


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nothing listens once the probe is closed


def test_an_unreachable_cluster_is_one_line_and_exit_3(articles, tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith("NEWSFLOW_")}
    url = f"http://127.0.0.1:{_closed_port()}"
    env |= {"NEWSFLOW_STATE_DIR": str(tmp_path / "state"), "NEWSFLOW_ES_URL": url}
    for command in (("ingest", "folder", str(articles)), ("search", "hydrogen"), ("deadletters", "list")):
        result = newsflow(*command, env=env)
        assert result.returncode == 3, (command, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
        assert lines[0].startswith(f"newsflow: Elasticsearch at {url} is unreachable: ")
        assert lines[0].endswith("start it with `newsflow es start` or check NEWSFLOW_ES_URL")


@pytest.mark.elasticsearch
def test_a_prefix_outside_the_pipeline_role_is_one_line_and_exit_4(articles, isolated_settings):
    env = dict(os.environ) | {"NEWSFLOW_INDEX_PREFIX": "outside-role-"}
    result = newsflow("ingest", "folder", str(articles), env=env)
    assert result.returncode == 4, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "refused access to outside-role-* (HTTP 403)" in lines[0]
    assert "NEWSFLOW_INDEX_PREFIX='outside-role-' must fall inside the pipeline role's index pattern" in lines[0]


@pytest.mark.elasticsearch
def test_dates_dead_letters_and_migration_from_the_command_line(tmp_path, isolated_settings):
    folder = tmp_path / "wire"
    folder.mkdir()
    (folder / "dated.jsonl").write_text(
        '{"title": "Ferries return to Oslo", "body": "Ferries sailed into Oslo on Monday, officials in Norway said.",'
        ' "published_at": "2026-03-02T08:00:00Z"}\n'
        '{"title": "Trams return to Lisbon", "body": "Trams ran again in Lisbon on Friday, officials in Portugal said.",'
        ' "published_at": "2026-03-06T08:00:00Z"}\n'
    )
    (folder / "broken.txt").write_text("")
    newsflow("ingest", "folder", str(folder))

    march = json.loads(newsflow("search", "", "--from", "2026-03-01", "--to", "2026-03-03", "--json").stdout)
    assert [hit["source_ref"] for hit in march["hits"]] == ["dated.jsonl#L1"]
    assert march["per_day"] == [{"date": "2026-03-02", "count": 1}]
    assert "Per day (published)" in newsflow("search", "officials").stdout
    folded = json.loads(newsflow("search", "", "--location", "lisbon", "--json").stdout)
    assert [hit["source_ref"] for hit in folded["hits"]] == ["dated.jsonl#L2"]  # case-insensitive facet filter
    assert newsflow("search", "x", "--from", "March").returncode == 2

    listed = newsflow("deadletters", "list")
    assert "1 dead letter(s) (read: 1)" in listed.stdout and "broken.txt" in listed.stdout
    (folder / "broken.txt").write_text("Bridge reopens\n\nThe bridge in Porto reopened on Tuesday.\n")
    requeued = newsflow("deadletters", "requeue", str(folder))
    assert requeued.returncode == 0, requeued.stdout + requeued.stderr
    assert "requeuing them" in requeued.stdout and "indexed: 1" in requeued.stdout
    assert "0 dead letter(s)" in newsflow("deadletters", "list").stdout

    migrated = newsflow("index", "migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert "(3 documents) →" in migrated.stdout and "(3 documents;" in migrated.stdout
    assert "articles-000002: 3 documents" in newsflow("index", "status").stdout
    assert json.loads(newsflow("search", "Porto", "--json").stdout)["total"] == 1
