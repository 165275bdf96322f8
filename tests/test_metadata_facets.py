"""Metadata facets for real: a loopback feed with authors and categories goes through the pipeline
into the local Elasticsearch node, and ``newsflow search`` counts and filters by them."""

from __future__ import annotations

import ipaddress

import pytest

from feed_server import serve_feeds
from pipelines.models import RunInfo
from pipelines.pipeline import Pipeline
from pipelines.search import search
from pipelines.settings import FetchPolicy
from pipelines.store.schema import iter_documents

LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"),)


@pytest.fixture(scope="module")
def server():
    yield from serve_feeds()


@pytest.fixture
def courier(server, isolated_settings, es_client, names):
    policy = FetchPolicy(allowed_networks=LOOPBACK, connect_timeout_s=2, read_timeout_s=2, total_timeout_s=5,
                         min_host_interval_s=0)
    feed = {"name": "courier", "url": server.url("/bylines.xml"), "tags": ["regional", "sweden"]}
    summary, _ = Pipeline(isolated_settings.with_changes(fetch=policy)).run("feeds", RunInfo("run-1"), feeds=[feed])
    assert summary.indexed == 2
    es_client.indices.refresh(index=names.articles)
    return {doc["title"]: doc for doc in iter_documents(es_client, names.articles)}


@pytest.mark.elasticsearch
def test_feed_authors_categories_tags_and_site_are_indexed_as_facets(courier):
    storm = courier["Storm damages sea wall"]
    assert storm["authors"] == ["Maria Lund", "Tomas Eke"]
    assert storm["categories"] == ["Weather", "Coast"]
    assert storm["tags"] == ["regional", "sweden"]
    assert storm["source_domain"] == ["courier.example"]
    # Days and months, resolved; the bare year 1990 is no day or month, and the raw mentions stay as they were.
    assert storm["mentioned_dates"] == ["2026-01-03", "2026-03"]
    assert "1990" in storm["dates_mentioned"] and "1990" not in storm["mentioned_dates"]
    assert any("January" in mention for mention in storm["dates"])
    ferry = courier["Ferry timetable changes"]
    assert ferry["authors"] == ["Maria Lund"] and ferry["mentioned_dates"] == ["2025-12", "2026-01-06"]  # last month, Tuesday


@pytest.mark.elasticsearch
def test_search_counts_and_filters_by_metadata_facets(courier, es_client, names):
    everything = search(es_client, names, "")
    assert dict(everything.facets["authors"]) == {"Maria Lund": 2, "Tomas Eke": 1}
    assert dict(everything.facets["source_domain"]) == {"courier.example": 2}
    assert dict(everything.facets["categories"]) == {"Weather": 1, "Coast": 1, "Transport": 1}
    assert dict(everything.facets["mentioned_dates"])["2026-03"] == 1

    by_author = search(es_client, names, "", filters={"authors": ["tomas eke"]})
    assert [hit.title for hit in by_author.hits] == ["Storm damages sea wall"]
    by_category = search(es_client, names, "", filters={"categories": ["Transport"], "source_domain": ["courier.example"]})
    assert [hit.title for hit in by_category.hits] == ["Ferry timetable changes"]
    # A month finds the days mentioned in it.
    in_january = search(es_client, names, "", filters={"mentioned_dates": ["2026-01"]})
    assert {hit.title for hit in in_january.hits} == {"Storm damages sea wall", "Ferry timetable changes"}
    assert search(es_client, names, "", filters={"mentioned_dates": ["2026-02"]}).total == 0
    # Raw mentions are searchable as words.
    raw_mention = es_client.search(index=names.articles, query={"match": {"dates.text": "last month"}})
    assert [hit["_source"]["title"] for hit in raw_mention["hits"]["hits"]] == ["Ferry timetable changes"]
