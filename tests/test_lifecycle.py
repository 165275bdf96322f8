"""Zero-downtime mapping migration against the real node."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from elasticsearch import helpers

from pipelines.store.schema import ensure_indices
from pipelines.store.lifecycle import current_index, migrate, next_index_name
from pipelines.store.names import BULK_REFRESH_INTERVAL

pytestmark = pytest.mark.elasticsearch

DOCUMENTS = 300


def _document(number: int) -> dict:
    return {
        "doc_id": f"doc-{number}",
        "source": "folder:test",
        "source_ref": f"{number}.txt",
        "title": f"Article {number} about harbours",
        "body": f"Body {number}: ferries and harbours.",
        "persons": [f"Person {number % 7}"],
        "indexed_at": datetime.now(UTC).isoformat(),
    }


def _load(client, names, numbers) -> None:
    helpers.bulk(
        client,
        ({"_index": names.articles_write, "_id": f"doc-{n}", "_source": _document(n)} for n in numbers),
        refresh=True,
    )


def test_next_index_name_counts_up():
    assert next_index_name("newsflow-articles-000001") == "newsflow-articles-000002"
    assert next_index_name("p-articles-000099") == "p-articles-000100"


def test_migrate_keeps_every_document_and_searches_never_fail(es_client, names):
    ensure_indices(es_client, names)
    _load(es_client, names, range(DOCUMENTS))
    first = current_index(es_client, names)

    stop = threading.Event()
    outcomes: list[int | Exception] = []

    def search_continuously() -> None:
        while not stop.is_set():
            try:
                outcomes.append(es_client.count(index=names.articles, query={"match": {"body": "harbours"}})["count"])
            except Exception as error:  # noqa: BLE001 — any failure is what this test looks for
                outcomes.append(error)

    def write_during_copy() -> None:
        # Lands in the old index after the copy began: the catch-up must carry it over.
        _load(es_client, names, [DOCUMENTS])

    searcher = threading.Thread(target=search_continuously)
    searcher.start()
    try:
        report = migrate(es_client, names, before_swap=write_during_copy)
    finally:
        stop.set()
        searcher.join()

    assert report.source_index == first
    assert report.target_index == next_index_name(first) == current_index(es_client, names)
    assert report.documents_before == DOCUMENTS
    assert report.documents_after == DOCUMENTS + 1 and report.caught_up >= 1
    assert es_client.count(index=names.articles)["count"] == DOCUMENTS + 1
    assert es_client.exists(index=names.articles, id=f"doc-{DOCUMENTS}")

    errors = [outcome for outcome in outcomes if isinstance(outcome, Exception)]
    assert len(outcomes) > 5 and not errors
    assert all(count >= DOCUMENTS for count in outcomes)  # never an empty or half-copied view

    aliases = es_client.indices.get_alias(index=report.target_index).body[report.target_index]["aliases"]
    assert aliases == {names.articles: {}, names.articles_write: {"is_write_index": True}}
    assert es_client.indices.get_alias(index=first).body[first]["aliases"] == {}


def test_new_writes_go_to_the_new_index_after_migration(es_client, names):
    ensure_indices(es_client, names)
    _load(es_client, names, range(3))
    report = migrate(es_client, names)
    _load(es_client, names, [3])
    assert es_client.count(index=report.target_index)["count"] == 4
    assert es_client.count(index=report.source_index)["count"] == 3


def test_fields_added_by_a_newer_pipeline_reach_the_live_index(es_client, names):
    from pipelines.store import schema as indexing

    # An index created by an older version that lacked a field the current one writes.
    old_mappings = indexing.article_mappings(english=False)
    del old_mappings["properties"]["summary"]
    es_client.indices.create(
        index=names.first_articles_index, mappings=old_mappings,
        settings={"analysis": indexing.ARTICLE_ANALYSIS},
        aliases={names.articles: {}, names.articles_write: {"is_write_index": True}},
    )
    ensure_indices(es_client, names)
    mapping = es_client.indices.get_mapping(index=names.first_articles_index)[names.first_articles_index]["mappings"]
    assert mapping["properties"]["summary"]["type"] == "text"


def test_changes_that_need_a_new_index_say_so(es_client, names):
    from pipelines.store import schema as indexing
    from pipelines.errors import IndexingError

    old_mappings = indexing.article_mappings(english=False)
    old_mappings["properties"]["word_count"] = {"type": "keyword"}  # the type changed since
    es_client.indices.create(
        index=names.first_articles_index, mappings=old_mappings,
        settings={"analysis": indexing.ARTICLE_ANALYSIS},
        aliases={names.articles: {}, names.articles_write: {"is_write_index": True}},
    )
    with pytest.raises(IndexingError, match="newsflow index migrate"):
        ensure_indices(es_client, names)

    es_client.index(index=names.articles_write, id="kept", document={"doc_id": "kept", "title": "t"}, refresh=True)
    report = migrate(es_client, names)
    assert report.documents_after == 1
    mapping = es_client.indices.get_mapping(index=report.target_index)[report.target_index]["mappings"]
    assert mapping["properties"]["word_count"]["type"] == "integer"
    ensure_indices(es_client, names)  # and ingestion can go on


def _refresh_interval(client, index: str) -> str | None:
    settings = client.indices.get_settings(index=index, name="index.refresh_interval", flat_settings=True)
    return settings.get(index, {}).get("settings", {}).get("index.refresh_interval")


def test_the_indices_written_in_bulk_refresh_every_30_seconds_and_keep_it_through_a_migration(es_client, names):
    ensure_indices(es_client, names)
    for index in (names.first_articles_index, names.raw_articles, names.raw_versions):
        assert _refresh_interval(es_client, index) == BULK_REFRESH_INTERVAL
    # Dead letters are written with refresh=wait_for: they keep the default of a second.
    assert _refresh_interval(es_client, names.deadletters) is None
    report = migrate(es_client, names)
    assert _refresh_interval(es_client, report.target_index) == BULK_REFRESH_INTERVAL
