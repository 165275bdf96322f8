"""Many feeds at once, for real: a farm of feeds on several loopback hosts (its own process) counts
what reaches it, while the pipeline fetches concurrently into the real Elasticsearch."""

from __future__ import annotations

import ipaddress

import pytest

from feed_farm import FeedFarm
from feed_server import serve_feeds
from pipelines.errors import ClusterRefusedWrites
from pipelines.models import RunInfo
from pipelines.pipeline import Pipeline
from pipelines.settings import FetchPolicy
from pipelines.sources.polling import PollState

pytestmark = pytest.mark.elasticsearch

LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"),)


def _pipeline(settings, **policy) -> Pipeline:
    fetch = FetchPolicy(allowed_networks=LOOPBACK, connect_timeout_s=5, read_timeout_s=5, total_timeout_s=30, **policy)
    return Pipeline(settings.with_changes(fetch=fetch, poll_units_per_task=10))


def _acquire(pipeline: Pipeline, feeds: list[dict], run_id: str, *, force: bool = False) -> dict[str, dict]:
    _, rows = pipeline.run("feeds", RunInfo(run_id), feeds=feeds, enrich=False, force=force)
    return {row["unit"]: row for row in rows}


def _state(settings, name: str) -> PollState:
    return PollState.from_dict(name, Pipeline(settings).store.state.load("feed", name))


def test_feeds_on_several_hosts_are_fetched_at_once_but_never_more_than_the_host_limit(isolated_settings, es_client):
    pipeline = _pipeline(isolated_settings, max_connections=8, max_host_connections=2, min_host_interval_s=0)
    with FeedFarm.start(feeds=24, entries=5, hosts=6, latency_s=0.3) as farm:
        first = _acquire(pipeline, farm.feed_list(), "scale-1")
        seen = farm.stats()
        assert {row["outcome"] for row in first.values()} == {"fetched"} and len(first) == 24
        assert sum(row["stored"] for row in first.values()) == 24 * 5
        assert seen["max_in_flight"] > 2  # several hosts at once
        per_host = [seen["hosts"][host]["max_in_flight"] for host in farm.hosts]
        assert max(per_host) == 2  # two at once to one host, never three

        farm.reset()
        second = _acquire(pipeline, farm.feed_list(), "scale-2")
        assert {row["outcome"] for row in second.values()} == {"not_modified"}
        assert sum(row["stored"] + row["unchanged"] for row in second.values()) == 0
        assert farm.stats()["statuses"] == {"304": 24}
    raw = pipeline.store.names.raw_articles
    es_client.indices.refresh(index=raw)
    assert es_client.count(index=raw)["count"] == 24 * 5
    assert es_client.count(index=raw, query={"term": {"ingest_run_id": "scale-2"}})["count"] == 0
    assert _state(isolated_settings, "farm-00007").etag == '"feed-7-v1"'


def test_requests_to_one_host_keep_the_minimum_interval_while_other_hosts_are_asked_meanwhile(isolated_settings):
    interval = 0.4
    pipeline = _pipeline(isolated_settings, max_connections=8, max_host_connections=2, min_host_interval_s=interval)
    with FeedFarm.start(feeds=12, entries=2, hosts=4, latency_s=0.05) as farm:
        rows = _acquire(pipeline, farm.feed_list(), "interval-1")
        seen = farm.stats()
    assert {row["outcome"] for row in rows.values()} == {"fetched"}
    assert seen["max_in_flight"] > 1
    for host in farm.hosts:
        assert seen["hosts"][host]["requests"] == 3
        # Arrival times carry the client's scheduling jitter: the same tolerance as the one-host test.
        assert seen["hosts"][host]["min_interval_s"] >= interval - 0.05, host


@pytest.fixture(scope="module")
def server():
    yield from serve_feeds(slow_seconds=2.0)


def test_a_batch_the_cluster_refuses_saves_no_validators_dead_letters_nothing_and_is_fetched_again(
    server, isolated_settings, es_client
):
    pipeline = _pipeline(isolated_settings, min_host_interval_s=0)
    feeds = [{"name": "rss2", "url": server.url("/rss2.xml")}, {"name": "atom", "url": server.url("/atom.xml")}]
    assert _acquire(pipeline, feeds[1:], "validators-1")["atom"]["stored"] == 2
    names = pipeline.store.names
    es_client.indices.put_settings(index=names.raw_articles, settings={"index.blocks.write": True})
    try:
        with pytest.raises(ClusterRefusedWrites, match="index write"):
            _acquire(pipeline, feeds, "validators-2")
    finally:
        es_client.indices.put_settings(index=names.raw_articles, settings={"index.blocks.write": None})
    rss2, atom = _state(isolated_settings, "rss2"), _state(isolated_settings, "atom")
    assert rss2.etag is None and rss2.last_modified is None  # nothing of the refused batch was saved
    assert atom.last_modified and atom.last_outcome == "fetched"  # still the first run's
    assert es_client.count(index=names.deadletters)["count"] == 0  # the cluster's state is no entry's fault
    es_client.indices.refresh(index=names.runs)
    refused = [hit["_source"] for hit in es_client.search(
        index=names.runs, query={"term": {"run_id": "validators-2"}}, size=10)["hits"]["hits"]]
    assert sorted((row["unit"], row["status"]) for row in refused) == [("atom", "failed"), ("rss2", "failed")]

    again = _acquire(pipeline, feeds, "validators-3")
    sent = {name.lower() for name in server.hits("/rss2.xml")[-1].headers}
    assert "if-none-match" not in sent and "if-modified-since" not in sent  # nothing remembered: all fetched again
    assert (again["rss2"]["outcome"], again["rss2"]["stored"], again["atom"]["outcome"]) == ("fetched", 3, "not_modified")
    assert _state(isolated_settings, "rss2").etag == '"rss2-v1"'
    es_client.indices.refresh(index=names.runs)
    reports = [hit["_source"] for hit in es_client.search(
        index=names.runs, query={"term": {"run_id": "validators-3"}}, size=10)["hits"]["hits"]]
    assert {(row["unit"], row["seen"], row["indexed"], row["reconciled"]) for row in reports} == {
        ("rss2", 3, 3, True), ("atom", 0, 0, True)}
