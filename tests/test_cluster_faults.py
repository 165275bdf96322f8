"""Faults of the cluster, not of the documents, on the real node: an overloaded index (429) is
waited out, a write block is a clear failure, and neither ever becomes a dead letter."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from elasticsearch import ApiError

from pipelines.errors import ClusterRefusedWrites, Stage
from pipelines.models import CleanArticle, EnrichedArticle, Failure, RawArticle, RunInfo
from pipelines.sinks.elasticsearch import ElasticsearchSink
from pipelines.store.client import bulk_with_backoff
from pipelines.store.deadletters import ElasticsearchDeadLetters
from pipelines.store.schema import ensure_store_indices

RUN = RunInfo("faults-1")
# The flood-stage block: Elasticsearch answers every write to the index with 429 TOO_MANY_REQUESTS.
OVERLOADED = {"index.blocks.read_only_allow_delete": True}
LIFTED = {"index.blocks.read_only_allow_delete": None, "index.blocks.write": None}


def enriched(n: int) -> EnrichedArticle:
    body = f"Article number {n} about the harbour in Bergen."
    raw = RawArticle(doc_id=f"doc-{n}", source="folder:faults", source_ref=f"{n}.txt", body=body, title=f"Title {n}")
    return EnrichedArticle(clean=CleanArticle(raw=raw, title=raw.title, body=body), title=raw.title or "",
                           language="en", word_count=len(body.split()), entities=(), facets={}, model="test-0")


@contextmanager
def overloaded(es_client, index: str, *, for_s: float | None = None) -> Iterator[None]:
    """``index`` refuses writes as overloaded until ``for_s`` seconds have passed, or to the end of
    the block. (Elasticsearch's disk monitor lifts this block by itself when it next reads disk
    usage; the session's node reads it hourly, not every 30 s, so it never does so mid-test.)"""
    es_client.indices.put_settings(index=index, settings=OVERLOADED)
    lifter = threading.Timer(for_s, es_client.indices.put_settings, kwargs={"index": index, "settings": LIFTED}) \
        if for_s is not None else None
    if lifter:
        lifter.start()
    try:
        yield
    finally:
        if lifter:
            lifter.join()
        es_client.indices.put_settings(index=index, settings=LIFTED)


@pytest.fixture
def sink(es_client, names):
    sink = ElasticsearchSink(es_client, names, retries=6, initial_backoff_s=0.5, max_backoff_s=4)
    sink.prepare({})
    yield sink
    es_client.indices.put_settings(index=names.articles_write, settings=LIFTED)


@pytest.mark.elasticsearch
def test_the_blocked_index_really_answers_429(es_client, names, sink):
    with overloaded(es_client, names.articles_write), pytest.raises(ApiError) as refused:
        es_client.index(index=names.articles_write, id="probe", document={"title": "probe"})
    assert refused.value.meta.status == 429


@pytest.mark.elasticsearch
def test_writes_refused_as_overloaded_are_retried_until_the_cluster_accepts_them(es_client, names, sink):
    started = time.monotonic()
    with overloaded(es_client, names.articles_write, for_s=2.0):
        failures = sink.write([enriched(n) for n in range(20)], RUN)
    assert failures == []
    assert time.monotonic() - started > 1.5  # it waited for the block to go, rather than giving up
    sink.flush()
    assert es_client.count(index=names.articles)["count"] == 20


@pytest.mark.elasticsearch
def test_an_overload_that_outlasts_the_retries_is_a_run_failure_not_a_dead_letter(es_client, names):
    sink = ElasticsearchSink(es_client, names, retries=2, initial_backoff_s=0.1, max_backoff_s=0.2)
    sink.prepare({})
    with overloaded(es_client, names.articles_write), \
            pytest.raises(ClusterRefusedWrites, match=r"refused 3 of 3 writes .* after 2 retries: cluster_block_exception"):
        sink.write([enriched(n) for n in range(3)], RUN)


@pytest.mark.elasticsearch
def test_a_write_block_is_a_clear_failure_and_nothing_is_indexed(es_client, names, sink):
    es_client.indices.put_settings(index=names.articles_write, settings={"index.blocks.write": True})
    with pytest.raises(ClusterRefusedWrites, match=r"refused 5 of 5 writes to .*index write"):
        sink.write([enriched(n) for n in range(5)], RUN)
    es_client.indices.put_settings(index=names.articles_write, settings=LIFTED)
    sink.flush()
    assert es_client.count(index=names.articles)["count"] == 0


@pytest.mark.elasticsearch
def test_dead_letter_writes_wait_out_an_overloaded_index(es_client, names):
    ensure_store_indices(es_client, names)
    letters = ElasticsearchDeadLetters(es_client, names, retries=6, initial_backoff_s=0.5, max_backoff_s=4)
    failure = Failure(Stage.CLEAN, "broken.txt", "CleaningError", "no text left after cleaning", "doc-x", "folder:faults")
    with overloaded(es_client, names.deadletters, for_s=2.0):
        letters.record([failure], RUN)
    assert [letter["source_ref"] for letter in letters.refs("folder:faults")] == ["broken.txt"]


def test_a_cluster_that_stays_unreachable_is_retried_with_backoff_then_raised():
    from elastic_transport import ConnectionError as TransportConnectionError
    from elasticsearch import Elasticsearch

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = Elasticsearch(f"http://127.0.0.1:{port}", max_retries=0)
    slept: list[float] = []
    with pytest.raises(TransportConnectionError):
        bulk_with_backoff(client, [{"_index": "x", "_id": "1", "_source": {}}], retries=4, initial_backoff_s=0.5,
                          max_backoff_s=3, sleep=slept.append)
    assert slept == [0.5, 1.0, 2.0, 3.0]  # nothing was turned into a per-document failure meanwhile
