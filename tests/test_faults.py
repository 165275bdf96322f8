"""Faults of the cluster and of the process, on real Elasticsearch nodes and real processes:
nothing lost, nothing doubled, every run report reconciled.

The outage and overload tests stop and reconfigure a node of their own (a tiny write queue), so
the session's node and the other tests are never disturbed.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from pipelines.errors import ClusterRefusedWrites
from pipelines.models import RunInfo
from pipelines.pipeline import IngestSummary, Pipeline
from pipelines.settings import Settings
from pipelines.store import IndexNames
from pipelines.store.client import connect
from pipelines.store.local_node import LocalNode

pytestmark = pytest.mark.elasticsearch

NEWSFLOW = str(Path(sys.executable).with_name("newsflow"))
WORDS = ("harbour", "council", "river", "ferry", "budget", "strike", "museum", "festival", "railway", "school", "market",
         "bridge", "hospital", "election", "storm", "airport", "library", "theatre", "factory", "vineyard", "stadium",
         "garden", "tunnel", "castle", "orchestra", "bakery", "canal", "prison", "lighthouse", "glacier")
# A write thread pool of one with a queue of one: concurrent bulk requests are answered 429.
TINY_WRITE_QUEUE = {"thread_pool.write.size": 1, "thread_pool.write.queue_size": 1}


def write_articles(folder: Path, count: int, *, seed: int = 7) -> set[str]:
    """``count`` small, distinct articles (title-first text files); returns their file names."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    names = set()
    for n in range(count):
        words = " ".join(rng.choice(WORDS) for _ in range(14))
        name = f"a{n:05d}.txt"
        (folder / name).write_text(f"Report {n} on the {rng.choice(WORDS)}\n\nOfficials said {words} on day {n}.\n")
        names.add(name)
    return names


def indexed_refs(client, names: IndexNames) -> list[str]:
    """Every indexed article's source reference (one per document: repeats would be duplicates)."""
    from elasticsearch import helpers

    client.indices.refresh(index=names.articles)
    return [hit["_source"]["source_ref"] for hit in
            helpers.scan(client, index=names.articles, query={"_source": ["source_ref"]})]


def assert_reconciled(summary: IngestSummary, *, seen: int) -> None:
    enrich = [report for report in summary.reports if report.stage == "enrich"]
    assert all(report.reconciled and report.status == "complete" for report in summary.reports)
    assert sum(report.counts.seen for report in enrich) == seen


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def own_node(test_settings, tmp_path_factory):
    """A node of this module's own, with a tiny write queue; stopped and restarted by the tests."""
    if test_settings.elasticsearch.is_external:
        pytest.fail("these tests stop and restart a local node: unset NEWSFLOW_ES_URL")
    settings = test_settings.with_changes(
        state_dir=tmp_path_factory.mktemp("fault-node"), index_prefix="faults-",
        local_node=replace(test_settings.local_node, port=_free_port()),
        elasticsearch=replace(test_settings.elasticsearch, outage_wait_s=240.0),
    )
    node = LocalNode(settings, node_settings=TINY_WRITE_QUEUE)
    node.start()
    try:
        yield settings, node
    finally:
        node.stop()


def write_rejections(admin) -> int:
    stats = admin.nodes.stats(metric="thread_pool")["nodes"]
    return sum(node["thread_pool"]["write"]["rejected"] for node in stats.values())


def test_an_overloaded_node_answering_429_still_gets_every_document(own_node, tmp_path):
    settings, _ = own_node
    settings = settings.with_changes(index_prefix="faults-overload-")
    names = IndexNames(settings.index_prefix)
    admin = connect(settings, admin=True)
    write_articles(tmp_path / "wire", 300)
    before = write_rejections(admin)

    stop = threading.Event()

    def competing_writer(n: int) -> None:
        """Another client loading the same node, with no backoff of its own: keeps the queue full."""
        client = connect(settings).options(max_retries=0)
        documents = [{"index": {"_index": f"faults-overload-noise-{n}"}} if i % 2 == 0 else {"filler": "x" * 200}
                     for i in range(100)]
        while not stop.is_set():
            try:
                client.bulk(operations=documents)
            except Exception:  # noqa: BLE001 — rejected as well, by design
                pass
            stop.wait(0.02)

    writers = [threading.Thread(target=competing_writer, args=(n,), daemon=True) for n in range(2)]
    for writer in writers:
        writer.start()
    pipeline = Pipeline(settings)
    try:
        summary, _ = pipeline.run("folder", RunInfo("overload-1"), folder=str(tmp_path / "wire"))
    finally:
        stop.set()
        for writer in writers:
            writer.join(timeout=30)
        pipeline.close()

    assert write_rejections(admin) > before  # the node really answered 429
    refs = indexed_refs(admin, names)
    assert len(refs) == 300 and len(set(refs)) == 300
    assert summary.failed == 0 and summary.indexed + summary.duplicate == 300
    assert_reconciled(summary, seen=300)


def _articles_indexed(es_client, names: IndexNames) -> int:
    """Articles written so far; 0 until the article index exists and its shard has started
    (its alias is there a moment before, when a count answers 503). Refreshed here: the index
    itself refreshes only every 30 s while a run writes."""
    from elasticsearch import ApiError

    if not es_client.indices.exists(index=names.articles):
        return 0
    try:
        es_client.indices.refresh(index=names.articles)
        return es_client.count(index=names.articles)["count"]
    except ApiError as error:
        if error.meta.status != 503:
            raise
        return 0


def test_elasticsearch_stopped_mid_load_and_restarted_loses_and_doubles_nothing(own_node, tmp_path):
    settings, node = own_node
    settings = settings.with_changes(index_prefix="faults-outage-")
    names = IndexNames(settings.index_prefix)
    expected = write_articles(tmp_path / "wire", 1200, seed=11)
    pipeline = Pipeline(settings)
    outcome: dict = {}

    def load() -> None:
        try:
            outcome["summary"], _ = pipeline.run("folder", RunInfo("outage-1"), folder=str(tmp_path / "wire"))
        except BaseException as error:  # noqa: BLE001 — reported by the assertion below
            outcome["error"] = error

    loader = threading.Thread(target=load, daemon=True)
    loader.start()
    admin = connect(settings, admin=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # stop it once the articles are being written
        try:
            if _articles_indexed(admin, names) >= 64:
                break
        except Exception:  # noqa: BLE001 — the index may be being created
            pass
        time.sleep(0.2)
    assert loader.is_alive(), f"the load ended before the outage: {outcome}"
    node.stop()
    time.sleep(3)
    node.start()
    loader.join(timeout=300)

    assert not loader.is_alive() and "error" not in outcome, outcome.get("error")
    summary = outcome["summary"]
    refs = indexed_refs(connect(settings, admin=True), names)
    assert sorted(refs) == sorted(expected)  # every document, exactly once
    assert summary.failed == 0
    assert_reconciled(summary, seen=1200)
    stored = pipeline.store.runs.of_run("outage-1")
    assert stored and all(row["reconciled"] for row in stored)
    pipeline.close()


def test_an_ingest_process_killed_mid_batch_is_completed_by_the_rerun(isolated_settings, es_client, names, tmp_path):
    expected = write_articles(tmp_path / "wire", 400, seed=3)
    command = [NEWSFLOW, "ingest", "folder", str(tmp_path / "wire"), "--batch-size", "32"]
    env = dict(os.environ)
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and process.poll() is None:
            if _articles_indexed(es_client, names) >= 32:
                break
            time.sleep(0.2)
        assert process.poll() is None, "the ingest ended before it could be killed"
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == -signal.SIGKILL
    assert len(indexed_refs(es_client, names)) < 400  # it really was cut off

    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)

    assert rerun.returncode == 0, rerun.stderr
    refs = indexed_refs(es_client, names)
    assert sorted(refs) == sorted(expected)
    assert "MISMATCH" not in rerun.stdout and "reconciled" in rerun.stdout


def test_a_write_blocked_index_is_a_clear_failure_and_nothing_is_reported_indexed(
    isolated_settings, es_client, names, tmp_path, capsys
):
    from pipelines.cli import EXIT_UNREACHABLE, main

    write_articles(tmp_path / "wire", 5)
    Pipeline(isolated_settings, client=es_client).prepare()
    es_client.indices.put_settings(index=names.articles_write, settings={"index.blocks.write": True})
    try:
        code = main(["ingest", "folder", str(tmp_path / "wire")])
    finally:
        es_client.indices.put_settings(index=names.articles_write, settings={"index.blocks.write": None})

    err = capsys.readouterr().err
    assert code == EXIT_UNREACHABLE
    assert "refused writes" in err and "index write" in err and "Traceback" not in err
    assert indexed_refs(es_client, names) == []
    es_client.indices.refresh(index=names.runs)
    reports = [hit["_source"] for hit in es_client.search(index=names.runs, size=50)["hits"]["hits"]]
    enrich = [row for row in reports if row["stage"] == "enrich"]
    assert enrich and all(row["status"] == "failed" and row["indexed"] == 0 for row in enrich)
    assert "ClusterRefusedWrites" in enrich[0]["error"]
    assert es_client.count(index=names.deadletters)["count"] == 0  # the cluster's state is no document's fault


def test_a_run_whose_counts_do_not_add_up_fails_loudly(isolated_settings, es_client, names, tmp_path):
    """A component that drops an article without a failure is caught by reconciliation."""
    from pipelines.errors import ReconciliationError

    write_articles(tmp_path / "wire", 3)
    pipeline = Pipeline(isolated_settings, client=es_client)
    cleaner = pipeline.component("clean")
    original = cleaner.pipe
    cleaner.pipe = lambda items: list(original(items))[:-1]  # loses the last article silently

    with pytest.raises(ReconciliationError, match=r"seen 3 = indexed 2 \+ unchanged 0 \+ duplicate 0 \+ dead-lettered 0"):
        pipeline.run("folder", RunInfo("lossy-1"), folder=str(tmp_path / "wire"))
    (row,) = [row for row in pipeline.store.runs.of_run("lossy-1") if row["stage"] == "enrich"]
    assert (row["seen"], row["indexed"], row["reconciled"]) == (3, 2, False)
