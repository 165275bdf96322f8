"""Kibana saved objects: complete, consistent, in sync with the shipped file, and imported correctly.

No Kibana runs here; the import is checked against a real HTTP server on 127.0.0.1 that
records what Kibana's saved-objects API would receive.
"""

from __future__ import annotations

import copy
import json
import threading
from datetime import UTC, datetime
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from pipelines.kibana import ARTICLE_TIME_FIELD, KibanaError, import_saved_objects, saved_objects, to_ndjson
from pipelines.models import CleanArticle, EnrichedArticle, RawArticle, RunInfo
from pipelines.sinks.base import article_document
from pipelines.store import IndexNames
from pipelines.store.schema import (
    DEADLETTER_MAPPINGS, HEALTH_MAPPINGS, POLITENESS_MAPPINGS, RAW_MAPPINGS, STATE_MAPPINGS, article_mappings,
)

SHIPPED = Path(__file__).resolve().parent.parent / "kibana" / "newsflow.ndjson"
# Chosen from Kibana's source (see pipelines/kibana.py): importable by 8.8+ and 9.x, migrated upward.
MIGRATION_FIELDS = {
    "index-pattern": ("8.8.0", "8.0.0"),
    "search": ("8.8.0", "8.0.0"),
    "visualization": ("8.8.0", "8.0.0"),
    "dashboard": ("8.8.0", "8.0.0"),
    "map": ("8.8.0", "8.0.0"),
}
DATE_TYPES = {"date", "date_nanos"}
NUMERIC_TYPES = {"integer", "long", "float", "double", "short", "byte", "half_float", "scaled_float"}
AGGREGATABLE_TYPES = {"keyword", "boolean", *DATE_TYPES, *NUMERIC_TYPES}


def test_shipped_ndjson_is_the_build_for_the_default_prefix():
    assert SHIPPED.read_text() == to_ndjson(saved_objects(IndexNames("newsflow-")))


def test_every_reference_resolves_to_an_earlier_object():
    objects = saved_objects(IndexNames("news-"))
    seen: set[tuple[str, str]] = set()
    for obj in objects:
        for reference in obj["references"]:
            assert (reference["type"], reference["id"]) in seen, f"{obj['type']} {obj['id']} → {reference}"
        seen.add((obj["type"], obj["id"]))
    kinds = [obj["type"] for obj in objects]
    assert kinds.count("index-pattern") == 6 and kinds.count("search") == 2 and kinds[-1] == "dashboard"


def test_objects_follow_the_index_prefix_and_the_mapping():
    objects = {obj["attributes"]["title"]: obj for obj in saved_objects(IndexNames("news-"))}
    articles = objects["news-articles"]
    assert articles["attributes"]["timeFieldName"] == "date"
    dashboard = objects["newsflow · overview"]
    panels = json.loads(dashboard["attributes"]["panelsJSON"])
    assert len(panels) == len(dashboard["references"]) == 14
    fields = {
        agg["params"]["field"]
        for obj in objects.values() if obj["type"] == "visualization"
        for agg in json.loads(obj["attributes"]["visState"])["aggs"] if "field" in agg["params"]
    }
    assert {"date", "persons", "organizations", "locations", "source", "language", "stage",
            "authors", "categories", "source_domain", "mentioned_dates", "countries"} <= fields
    politeness = objects["newsflow · politeness"]
    assert len(json.loads(politeness["attributes"]["panelsJSON"])) == len(politeness["references"]) == 3
    ledger_fields = {
        agg["params"]["field"]
        for ref in politeness["references"]
        for obj in objects.values() if obj["id"] == ref["id"]
        for agg in json.loads(obj["attributes"]["visState"])["aggs"] if "field" in agg["params"]
    }
    assert {"host", "requests", "bytes", "not_modified", "retry_after_responses", "robots_allowed", "robots_blocked",
            "errors", "crawl_delay_s", "blocked_urls", "recorded_at"} <= ledger_fields
    assert objects["news-politeness"]["attributes"]["timeFieldName"] == "recorded_at"
    assert {obj["id"] for obj in saved_objects(IndexNames("news-"))}.isdisjoint(
        {obj["id"] for obj in saved_objects(IndexNames("newsflow-"))}
    )


def test_changed_articles_and_source_health_are_shipped_views():
    objects = {obj["attributes"]["title"]: obj for obj in saved_objects(IndexNames("news-"))}
    changed = objects["newsflow · changed articles"]
    source = json.loads(changed["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
    assert source["query"] == {"query": "revision_count > 0", "language": "kuery"}
    assert changed["attributes"]["sort"] == [["last_changed_at", "desc"]]
    assert {"revision_count", "headline_changed", "changes.entities_added"} <= set(changed["attributes"]["columns"])
    assert objects["news-source-health"]["attributes"]["timeFieldName"] == "day"
    dashboard = objects["newsflow · source health"]
    referenced = {ref["id"] for ref in dashboard["references"]}
    assert changed["id"] in referenced and objects["newsflow · median body words by source"]["id"] in referenced
    assert len(json.loads(dashboard["attributes"]["panelsJSON"])) == len(dashboard["references"]) == 8
    alerts = objects["newsflow · health alerts"]
    assert {agg["params"].get("field") for agg in json.loads(alerts["attributes"]["visState"])["aggs"]} == {
        "alert_count", "source", "alerts.metric"}


def test_every_object_carries_the_migration_fields_kibana_imports():
    for obj in saved_objects(IndexNames("newsflow-")):
        core, type_version = MIGRATION_FIELDS[obj["type"]]
        assert obj["coreMigrationVersion"] == core, obj["id"]
        assert obj["typeMigrationVersion"] == type_version, obj["id"]
        assert obj["managed"] is False and "migrationVersion" not in obj


def _field_types(properties: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Every field path of a mapping (objects, nested fields and multi-fields) → its type."""
    types: dict[str, str] = {}
    for name, spec in properties.items():
        path = prefix + name
        types[path] = spec.get("type", "object")
        types.update(_field_types(spec.get("properties", {}), path + "."))
        types.update(_field_types(spec.get("fields", {}), path + "."))
    return types


def _fields_by_data_view(names: IndexNames) -> dict[str, dict[str, str]]:
    """The fields each index behind a data view title has; a multi-index view keeps those in all of them."""
    by_index = {
        names.articles: _field_types(article_mappings(english=True)["properties"]),
        names.raw_articles: _field_types(RAW_MAPPINGS["properties"]),
        names.deadletters: _field_types(DEADLETTER_MAPPINGS["properties"]),
        names.source_state: _field_types(STATE_MAPPINGS["properties"]),
        names.source_health: _field_types(HEALTH_MAPPINGS["properties"]),
        names.politeness: _field_types(POLITENESS_MAPPINGS["properties"]),
    }
    views: dict[str, dict[str, str]] = {}
    for title in {obj["attributes"]["title"] for obj in saved_objects(names) if obj["type"] == "index-pattern"}:
        indices = [by_index[index] for index in title.split(",")]
        views[title] = {field: kind for field, kind in indices[0].items() if all(i.get(field) == kind for i in indices)}
    return views


def mapping_problems(objects: list[dict[str, Any]], names: IndexNames) -> list[str]:
    """Every field a data view, visualization or saved search names that its indices lack or cannot serve."""
    fields = _fields_by_data_view(names)
    view_fields = {obj["id"]: fields[obj["attributes"]["title"]] for obj in objects if obj["type"] == "index-pattern"}
    problems = []

    def check(owner: dict[str, Any], field: str, known: dict[str, str], kinds: set[str] | None) -> None:
        if field not in known:
            problems.append(f"{owner['attributes']['title']}: no field {field!r}")
        elif kinds is not None and known[field] not in kinds:
            problems.append(f"{owner['attributes']['title']}: {field!r} is {known[field]}, not one of {sorted(kinds)}")

    for obj in objects:
        if obj["type"] == "index-pattern" and "timeFieldName" in obj["attributes"]:
            check(obj, obj["attributes"]["timeFieldName"], view_fields[obj["id"]], DATE_TYPES)
        if obj["type"] not in ("visualization", "search", "map"):
            continue
        (view,) = [ref["id"] for ref in obj["references"] if ref["type"] == "index-pattern"]
        known = view_fields[view]
        if obj["type"] == "map":
            for layer in json.loads(obj["attributes"]["layerListJSON"]):
                source = layer["sourceDescriptor"]
                if "indexPatternRefName" in source:
                    assert {ref["name"] for ref in obj["references"]} >= {source["indexPatternRefName"]}
                    check(obj, source["geoField"], known, {"geo_point", "geo_shape"})
                    for column in source["tooltipProperties"]:
                        check(obj, column, known, None)
            continue
        if obj["type"] == "search":
            for column in obj["attributes"]["columns"]:
                check(obj, column, known, None)
            for field, _direction in obj["attributes"]["sort"]:
                check(obj, field, known, AGGREGATABLE_TYPES)
            continue
        for agg in json.loads(obj["attributes"]["visState"])["aggs"]:
            if "field" in agg["params"]:
                kinds = {"date_histogram": DATE_TYPES, "max": NUMERIC_TYPES, "sum": NUMERIC_TYPES}.get(
                    agg["type"], AGGREGATABLE_TYPES)
                check(obj, agg["params"]["field"], known, kinds)
    return problems


def test_every_field_the_objects_name_is_in_the_index_mappings():
    names = IndexNames("newsflow-")
    assert mapping_problems(saved_objects(names), names) == []


def test_the_map_shows_article_locations_from_the_geo_point_field_on_the_overview():
    objects = {obj["attributes"]["title"]: obj for obj in saved_objects(IndexNames("news-"))}
    article_map = objects["newsflow · article locations"]
    layers = json.loads(article_map["attributes"]["layerListJSON"])
    (points,) = [layer for layer in layers if layer["sourceDescriptor"]["type"] == "ES_SEARCH"]
    assert points["sourceDescriptor"]["geoField"] == "locations_geo"
    assert article_map["references"] == [{"name": "layer_1_source_index_pattern", "type": "index-pattern",
                                          "id": objects["news-articles"]["id"]}]
    overview = objects["newsflow · overview"]
    assert {"type": "map", "id": article_map["id"]} in [{"type": r["type"], "id": r["id"]} for r in overview["references"]]
    assert article_map["id"] != saved_objects(IndexNames("newsflow-"))[0]["id"]


def test_the_mapping_check_catches_a_misplaced_geo_field():
    names = IndexNames("newsflow-")
    objects = copy.deepcopy(saved_objects(names))
    article_map = next(obj for obj in objects if obj["type"] == "map")
    layers = json.loads(article_map["attributes"]["layerListJSON"])
    layers[1]["sourceDescriptor"]["geoField"] = "locations"
    article_map["attributes"]["layerListJSON"] = json.dumps(layers)
    assert mapping_problems(objects, names) == ["newsflow · article locations: 'locations' is keyword, not one of ['geo_point', 'geo_shape']"]


def test_the_mapping_check_catches_a_misspelt_or_unaggregatable_field():
    names = IndexNames("newsflow-")
    objects = copy.deepcopy(saved_objects(names))
    objects[0]["attributes"]["timeFieldName"] = "publshed_at"
    search = next(obj for obj in objects if obj["type"] == "search")
    search["attributes"]["sort"] = [["body", "desc"]]
    vis = next(obj for obj in objects if obj["type"] == "visualization")
    vis_state = json.loads(vis["attributes"]["visState"])
    vis_state["aggs"][1]["params"]["field"] = "persns"
    vis["attributes"]["visState"] = json.dumps(vis_state)

    problems = mapping_problems(objects, names)

    assert len(problems) == 3
    assert any("'publshed_at'" in p for p in problems) and any("'persns'" in p for p in problems)
    assert any("'body' is text" in p for p in problems)


def _article(published_at: datetime | None, fetched_at: datetime) -> EnrichedArticle:
    raw = RawArticle(doc_id="a", source="folder:test", source_ref="a.txt", body="Text.", title="A",
                     published_at=published_at, fetched_at=fetched_at)
    clean = CleanArticle(raw=raw, title="A", body="Text.")
    return EnrichedArticle(clean=clean, title="A", language="en", word_count=1, entities=(), facets={},
                           model="test")


def test_the_articles_time_field_is_on_articles_with_and_without_a_publication_date():
    fetched = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
    published = datetime(2026, 3, 1, 17, 0, tzinfo=UTC)
    run = RunInfo("run-1", "newsflow_folder")
    (view,) = [obj for obj in saved_objects(IndexNames("newsflow-")) if obj["attributes"]["title"] == "newsflow-articles"]
    assert view["attributes"]["timeFieldName"] == ARTICLE_TIME_FIELD

    folder_article = article_document(_article(None, fetched), run)
    feed_article = article_document(_article(published, fetched), run)

    assert folder_article[ARTICLE_TIME_FIELD] == fetched.isoformat() and folder_article["published_at"] is None
    assert feed_article[ARTICLE_TIME_FIELD] == published.isoformat()


def uploaded_objects(content_type: str, body: bytes) -> list[dict]:
    """The saved objects in a multipart upload's one ndjson file part."""
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    (part,) = BytesParser(policy=HTTP).parsebytes(head + body).iter_parts()
    assert part.get_filename() == "newsflow.ndjson"
    return [json.loads(line) for line in part.get_payload(decode=True).decode().splitlines() if line.strip()]


class _Recorder(BaseHTTPRequestHandler):
    requests: list[dict] = []
    status = 200

    def do_POST(self):  # noqa: N802 — http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
        # Answers as Kibana does, with the count of objects it actually received in the upload.
        received = len(uploaded_objects(self.headers["Content-Type"], body)) if type(self).status == 200 else 0
        self.send_response(type(self).status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps({"success": True, "successCount": received, "errors": []}).encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def kibana_like_server():
    _Recorder.requests, _Recorder.status = [], 200
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _Recorder
    server.shutdown()


def test_import_posts_the_ndjson_as_kibana_expects(kibana_like_server):
    url, recorder = kibana_like_server
    ndjson = to_ndjson(saved_objects(IndexNames("newsflow-")))
    result = import_saved_objects(url, ndjson, username="kibana_admin", password="s3cret", space="news")

    (request,) = recorder.requests
    sent = uploaded_objects(request["headers"]["Content-Type"], request["body"])
    assert [obj["id"] for obj in sent] == [obj["id"] for obj in saved_objects(IndexNames("newsflow-"))]
    assert result.imported == len(sent) and result.errors == []
    assert request["path"] == "/s/news/api/saved_objects/_import?overwrite=true"
    assert request["headers"]["kbn-xsrf"]
    assert request["headers"]["Authorization"].startswith("Basic ")
    assert request["headers"]["Content-Type"].startswith("multipart/form-data")
    assert b'filename="newsflow.ndjson"' in request["body"] and ndjson.encode() in request["body"]


def test_the_imported_file_carries_the_migration_fields_on_every_object(kibana_like_server):
    url, recorder = kibana_like_server
    import_saved_objects(url, SHIPPED.read_text(), api_key="key")

    (request,) = recorder.requests
    objects = uploaded_objects(request["headers"]["Content-Type"], request["body"])
    assert len(objects) == len(saved_objects(IndexNames("newsflow-")))
    for obj in objects:
        assert (obj["coreMigrationVersion"], obj["typeMigrationVersion"]) == MIGRATION_FIELDS[obj["type"]]


def test_import_explains_refused_credentials(kibana_like_server):
    url, recorder = kibana_like_server
    recorder.status = 401
    with pytest.raises(KibanaError, match="refused the credentials"):
        import_saved_objects(url, "{}\n", api_key="bad")
