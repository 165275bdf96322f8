"""Kibana saved objects: complete, consistent, in sync with the shipped file, and imported correctly.

No Kibana runs here; the import is checked against a real HTTP server on 127.0.0.1 that
records what Kibana's saved-objects API would receive.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pipelines.store import IndexNames
from pipelines.kibana import KibanaError, import_saved_objects, saved_objects, to_ndjson

SHIPPED = Path(__file__).resolve().parent.parent / "kibana" / "newsflow.ndjson"


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
    assert kinds.count("index-pattern") == 4 and "search" in kinds and kinds[-1] == "dashboard"


def test_objects_follow_the_index_prefix_and_the_mapping():
    objects = {obj["attributes"]["title"]: obj for obj in saved_objects(IndexNames("news-"))}
    articles = objects["news-articles"]
    assert articles["attributes"]["timeFieldName"] == "published_at"
    dashboard = objects["newsflow · overview"]
    panels = json.loads(dashboard["attributes"]["panelsJSON"])
    assert len(panels) == len(dashboard["references"]) == 8
    fields = {
        agg["params"]["field"]
        for obj in objects.values() if obj["type"] == "visualization"
        for agg in json.loads(obj["attributes"]["visState"])["aggs"] if "field" in agg["params"]
    }
    assert {"published_at", "persons", "organizations", "locations", "source", "language", "stage"} <= fields
    assert {obj["id"] for obj in saved_objects(IndexNames("news-"))}.isdisjoint(
        {obj["id"] for obj in saved_objects(IndexNames("newsflow-"))}
    )


class _Recorder(BaseHTTPRequestHandler):
    requests: list[dict] = []
    status = 200

    def do_POST(self):  # noqa: N802 — http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
        self.send_response(type(self).status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps({"success": True, "successCount": 13, "errors": []}).encode())

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

    assert result.imported == 13 and result.errors == []
    (request,) = recorder.requests
    assert request["path"] == "/s/news/api/saved_objects/_import?overwrite=true"
    assert request["headers"]["kbn-xsrf"]
    assert request["headers"]["Authorization"].startswith("Basic ")
    assert request["headers"]["Content-Type"].startswith("multipart/form-data")
    assert b'filename="newsflow.ndjson"' in request["body"] and ndjson.encode() in request["body"]


def test_import_explains_refused_credentials(kibana_like_server):
    url, recorder = kibana_like_server
    recorder.status = 401
    with pytest.raises(KibanaError, match="refused the credentials"):
        import_saved_objects(url, "{}\n", api_key="bad")
