"""News sitemaps for real: a local HTTP server serves a sitemap index, news sitemaps (one gzip
compressed) and article pages with ETags, and units are polled through the real fetcher into a
SQLite store, the way the pipeline drives them. Nothing is mocked."""

from __future__ import annotations

import gzip
import hashlib
import ipaddress
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from pipelines.errors import FeedConfigError, ResponseTooLarge, SitemapParseError
from pipelines.models import RawArticle, RunInfo
from pipelines.settings import FetchPolicy, Settings
from pipelines.sources.base import SourceContext, build_source
from pipelines.sources.http import Fetcher
from pipelines.sources.pages import canonical_url, url_doc_id
from pipelines.sources.sitemaps import (
    ChildSitemap,
    SitemapConfig,
    SitemapEntry,
    SitemapsSource,
    entry_to_article,
    parse_sitemap,
)
from pipelines.store.sqlite import SqliteStore

LOOPBACK = FetchPolicy(allowed_networks=(ipaddress.ip_network("127.0.0.0/8"),), min_host_interval_s=0,
                       connect_timeout_s=2, read_timeout_s=2, total_timeout_s=5)
NEWS = "http://www.google.com/schemas/sitemap-news/0.9"
CAP = 1024 * 1024

# slug: (title, publication date, lastmod) — ferry is the newest, avalanche the oldest
ARTICLES = {
    "ferry": ("Harbour council approves new ferry terminal", "2026-01-06T08:00:00+01:00", "2026-01-06T09:00:00Z"),
    "lighthouse": ("Lighthouse keeper retires after forty years", "2026-01-05T12:00:00Z", "2026-01-05T12:30:00Z"),
    "avalanche": ("Avalanche warning raised in Tyrol", "2026-01-04T07:15:00Z", "2026-01-04T07:15:00Z"),
    "harvest": ("Vineyard harvest sets a record", "2026-01-07T10:00:00Z", "2026-01-07T10:00:00Z"),
}


# ---------------------------------------------------------------------------- the server


class SitemapServer:
    """A real HTTP server on 127.0.0.1: paths map to (body, content type); ETags come from the body,
    ``If-None-Match`` gets a 304, ``fail`` makes a path answer 500. Every request is logged."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[bytes, str]] = {}
        self.fail: set[str] = set()
        self.log: list[tuple[str, int, dict[str, str]]] = []  # (path, status, request headers)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 — http.server's name
                headers = {key.lower(): value for key, value in self.headers.items()}
                route = server.routes.get(self.path)
                etag = f'"{hashlib.sha256(route[0]).hexdigest()[:16]}"' if route else None
                status = 500 if self.path in server.fail else 404 if route is None else \
                    304 if etag and headers.get("if-none-match") == etag else 200
                server.log.append((self.path, status, headers))
                self.send_response(status)
                if route and status in (200, 304):
                    self.send_header("ETag", etag)
                body = route[0] if route and status == 200 else b""
                if status == 200:
                    self.send_header("Content-Type", route[1])
                if status != 304:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def serve(self, path: str, body: str | bytes, content_type: str = "application/xml; charset=utf-8") -> None:
        self.routes[path] = (body.encode("utf-8") if isinstance(body, str) else body, content_type)

    def asked(self, path: str) -> list[tuple[int, dict[str, str]]]:
        return [(status, headers) for logged, status, headers in self.log if logged == path]

    def pages_asked(self) -> list[str]:
        return [path for path, _, _ in self.log if path.startswith("/articles/")]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def news_urlset(base: str, slugs: list[str], *, extra: str = "") -> str:
    urls = "".join(
        f"""<url><loc>{base}/articles/{slug}.html?utm_source=sitemap</loc><lastmod>{ARTICLES[slug][2]}</lastmod>
  <news:news><news:publication><news:name>Harbour Gazette</news:name><news:language>en</news:language></news:publication>
  <news:publication_date>{ARTICLES[slug][1]}</news:publication_date><news:title>{ARTICLES[slug][0]}</news:title>
  <news:keywords>{slug}, harbour</news:keywords></news:news></url>"""
        for slug in slugs
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" xmlns:news="{NEWS}">{urls}{extra}</urlset>"""


def sitemap_index(base: str, children: dict[str, str]) -> str:
    listed = "".join(f"<sitemap><loc>{base}{path}</loc><lastmod>{lastmod}</lastmod></sitemap>" for path, lastmod in children.items())
    return f'<?xml version="1.0" encoding="UTF-8"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{listed}</sitemapindex>'


def article_page(title: str) -> str:
    return f"<!doctype html><html><head><title>{title}</title></head><body><article><h1>{title}</h1>" \
           f"<p>The full story of {title.lower()}.</p></article></body></html>"


@pytest.fixture
def server() -> Iterator[SitemapServer]:
    """An index → news-1.xml (ferry, lighthouse) and news-2.xml.gz (avalanche, gzip) → article pages."""
    server = SitemapServer()
    server.serve("/sitemap_index.xml", sitemap_index(server.base, {"/news-1.xml": "2026-01-06", "/news-2.xml.gz": "2026-01-04"}))
    server.serve("/news-1.xml", news_urlset(server.base, ["ferry", "lighthouse"]))
    server.serve("/news-2.xml.gz", gzip.compress(news_urlset(server.base, ["avalanche"]).encode()), "application/x-gzip")
    for slug, (title, _, _) in ARTICLES.items():
        server.serve(f"/articles/{slug}.html", article_page(title), "text/html; charset=utf-8")
    yield server
    server.close()


# ---------------------------------------------------------------------------- polling as the pipeline does


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(tmp_path / "store.sqlite3")
    store.prepare()
    yield store
    store.close()


def settings_for(tmp_path: Path, sitemaps: list[dict[str, Any]], policy: FetchPolicy = LOOPBACK) -> Settings:
    path = tmp_path / "sitemaps.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "sitemaps": sitemaps}), encoding="utf-8")
    return Settings(state_dir=tmp_path, cache_dir=tmp_path, fetch=policy, sitemaps_config=path)


class Poller:
    """One source and context; ``poll()`` drives the unit: acquire → raw store → finish."""

    def __init__(self, settings: Settings, store: SqliteStore, **context: Any) -> None:
        self.source = build_source("sitemaps", settings)
        self.store = store
        self.context = SourceContext(settings=settings, store=store, run=RunInfo("test-run"), **context)

    def poll(self, name: str = "harbour") -> tuple[dict[str, Any], Any]:
        unit = next(unit for unit in self.source.units() if unit["label"] == name)
        acquisition = self.source.acquire(unit, self.context)
        result = self.store.raw.put(acquisition, self.context.run)
        row = acquisition.finish(result)
        update = acquisition.state_update
        self.store.state.save(update.kind, update.name, update.state)
        self.store.deadletters.resolve(acquisition.resolved)
        return row, result

    def stored(self, slug: str, base: str) -> RawArticle:
        [article] = self.store.raw.get([url_doc_id(canonical_url(f"{base}/articles/{slug}.html"))])
        assert isinstance(article, RawArticle), article
        return article

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def poller(tmp_path: Path, store: SqliteStore, server: SitemapServer) -> Iterator[Poller]:
    poller = Poller(settings_for(tmp_path, [{"name": "harbour", "url": f"{server.base}/sitemap_index.xml",
                                             "tags": ["local"], "language": "en"}]), store)
    yield poller
    poller.close()


# ---------------------------------------------------------------------------- parsing


def test_a_news_urlset_yields_every_url_with_its_google_news_fields():
    body = news_urlset("https://news.example", ["ferry"], extra="<url><loc> https://news.example/plain </loc>"
                       "<lastmod>2026-01-03</lastmod></url><url><lastmod>2026-01-02</lastmod></url>")
    parsed = parse_sitemap(body.encode(), url="https://news.example/news.xml", max_bytes=CAP)
    assert parsed.kind == "urlset" and parsed.children == []
    ferry, plain = parsed.entries  # the <url> without a <loc> is left out
    assert ferry == SitemapEntry(
        loc="https://news.example/articles/ferry.html?utm_source=sitemap", lastmod="2026-01-06T09:00:00Z",
        title="Harbour council approves new ferry terminal", publication_date="2026-01-06T08:00:00+01:00",
        keywords="ferry, harbour", publication="Harbour Gazette", language="en",
    )
    assert plain == SitemapEntry(loc="https://news.example/plain", lastmod="2026-01-03")


def test_a_sitemap_index_lists_its_child_sitemaps_with_lastmod():
    body = sitemap_index("https://news.example", {"/a.xml": "2026-01-06T10:00:00Z", "/b.xml.gz": "2026-01-01"})
    parsed = parse_sitemap(body.encode(), url="https://news.example/index.xml", max_bytes=CAP)
    assert parsed.kind == "sitemapindex" and parsed.entries == []
    assert parsed.children == [ChildSitemap("https://news.example/a.xml", "2026-01-06T10:00:00Z"),
                               ChildSitemap("https://news.example/b.xml.gz", "2026-01-01")]


def test_a_gzip_sitemap_is_decompressed_within_the_size_cap():
    body = news_urlset("https://news.example", ["ferry", "lighthouse"]).encode()
    compressed = gzip.compress(body)
    assert parse_sitemap(compressed, url="u", max_bytes=CAP) == parse_sitemap(body, url="u", max_bytes=CAP)
    bomb = gzip.compress(b"<urlset>" + b" " * (4 * CAP) + b"</urlset>")
    with pytest.raises(ResponseTooLarge, match="cap"):
        parse_sitemap(bomb, url="https://news.example/bomb.xml.gz", max_bytes=CAP)
    with pytest.raises(SitemapParseError, match="gzip"):
        parse_sitemap(compressed[:40], url="https://news.example/cut.xml.gz", max_bytes=CAP)


@pytest.mark.parametrize("body", [
    b"<!doctype html><html><body><p>Welcome<br></p></body></html>",
    b"<html><body><p>Welcome</p></body></html>",
    b'<?xml version="1.0"?><rss version="2.0"><channel><title>A feed</title></channel></rss>',
    b"\x00\x01 certainly not xml",
    b"",
])
def test_anything_but_a_sitemap_is_a_sitemap_parse_error_naming_the_url(body):
    with pytest.raises(SitemapParseError, match="^https://news.example/sitemap.xml: not a sitemap"):
        parse_sitemap(body, url="https://news.example/sitemap.xml", max_bytes=CAP)


def test_dates_are_utc_with_lastmod_as_fallback_and_future_dates_become_the_fetch_time():
    config = SitemapConfig(name="harbour", url="https://news.example/news.xml", tags=("local",), language="en")
    fetched = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)

    def published(**fields):
        article = entry_to_article(SitemapEntry(loc="https://news.example/a?utm_medium=x", **fields), config,
                                   fetched_at=fetched, sitemap_url="https://news.example/news.xml")
        assert isinstance(article, RawArticle)
        return article

    article = published(publication_date="2026-01-06T08:00:00+01:00", lastmod="2026-01-09")
    assert article.published_at == datetime(2026, 1, 6, 7, 0, tzinfo=UTC)
    assert article.doc_id == url_doc_id("https://news.example/a") and article.source == "sitemap:harbour"
    assert published(lastmod="2026-01-09").published_at == datetime(2026, 1, 9, tzinfo=UTC)
    future = published(publication_date="2100-01-01T00:00:00Z")
    assert future.published_at == fetched and future.metadata["published_at_claimed"].startswith("2100-01-01")
    undated = published(publication_date="last tuesday")
    assert undated.published_at is None and undated.metadata["date_source"] == "unreadable"
    assert entry_to_article(SitemapEntry(loc="ftp://news.example/a"), config, fetched_at=fetched,
                            sitemap_url="https://news.example/news.xml").error_type == "SourceError"


def test_the_repository_sitemaps_yaml_is_valid_and_entries_are_checked(tmp_path):
    units = SitemapsSource(Settings(state_dir=tmp_path, cache_dir=tmp_path)).units()
    assert len(units) >= 2 and all(unit["sitemap"]["url"].startswith("https://") for unit in units)
    good = {"name": "harbour", "url": "https://news.example/news.xml"}
    [unit] = SitemapsSource(settings_for(tmp_path, [good])).units()
    assert unit["sitemap"]["full_text"] is True and unit["sitemap"]["max_pages"] == 100
    for bad in ({**good, "max_pages": 0}, {**good, "ttl": 5}, {**good, "url": "file:///etc/passwd"}):
        with pytest.raises(FeedConfigError):
            SitemapsSource(settings_for(tmp_path, [bad])).units()
    override = SitemapsSource(settings_for(tmp_path, [good]), sitemaps=[{**good, "name": "other"}], only=["other"])
    assert [unit["label"] for unit in override.units()] == ["other"]


# ---------------------------------------------------------------------------- polling


def test_the_first_poll_stores_every_page_with_its_html_under_its_canonical_url_id(poller, server):
    row, result = poller.poll()
    assert row["outcome"] == "fetched" and row["stored"] == 3 and row["failed"] == 0
    assert row["sitemaps"] == 2 and row["entries"] == 3 and row["deferred"] == 0
    expected = {url_doc_id(canonical_url(f"{server.base}/articles/{slug}.html?utm_source=sitemap"))
                for slug in ("ferry", "lighthouse", "avalanche")}
    assert set(result.doc_ids) == expected
    assert result.doc_ids[0] == url_doc_id(f"{server.base}/articles/ferry.html")  # newest first
    ferry = poller.stored("ferry", server.base)
    assert ferry.content_type == "text/html" and "<article>" in ferry.body
    assert ferry.title == "Harbour council approves new ferry terminal" and ferry.source == "sitemap:harbour"
    assert ferry.published_at == datetime(2026, 1, 6, 7, 0, tzinfo=UTC)
    assert ferry.metadata | {"html": "page", "full_text": "fetched", "sitemap": "harbour", "lastmod": "2026-01-06T09:00:00Z",
                             "publication": "Harbour Gazette", "language": "en", "keywords": "ferry, harbour",
                             "tags": "local", "sitemap_url": f"{server.base}/news-1.xml"} == ferry.metadata
    assert poller.stored("avalanche", server.base).metadata["sitemap_url"] == f"{server.base}/news-2.xml.gz"


def test_a_second_poll_is_not_modified_with_no_items_and_a_conditional_request(poller, server):
    poller.poll()
    row, result = poller.poll()
    assert row["outcome"] == "not_modified" and result.articles == [] and row["articles"] == 0
    (first, _), (second, headers) = server.asked("/sitemap_index.xml")
    assert first == 200 and second == 304 and headers["if-none-match"].startswith('"')
    assert len(server.asked("/news-1.xml")) == 1 and len(server.pages_asked()) == 3


def test_when_the_index_changes_an_unchanged_child_answers_304_and_its_pages_are_not_fetched_again(poller, server):
    poller.poll()
    server.serve("/sitemap_index.xml", sitemap_index(server.base, {"/news-1.xml": "2026-01-07", "/news-2.xml.gz": "2026-01-04"}))
    server.serve("/news-1.xml", news_urlset(server.base, ["harvest", "ferry", "lighthouse"]))
    del server.log[:]
    row, result = poller.poll()
    assert row["outcome"] == "fetched" and row["sitemaps_not_modified"] == 1
    assert row["stored"] == 1 and row["already_stored"] == 2
    [(status, headers)] = server.asked("/news-2.xml.gz")
    assert status == 304 and "if-none-match" in headers
    assert server.pages_asked() == ["/articles/harvest.html"]
    assert poller.stored("harvest", server.base).metadata["html"] == "page"


def test_max_pages_defers_the_oldest_pages_to_the_next_poll_which_gets_them(tmp_path, store, server):
    poller = Poller(settings_for(tmp_path, [{"name": "harbour", "url": f"{server.base}/sitemap_index.xml", "max_pages": 2}]),
                    store)
    try:
        row, result = poller.poll()
        assert row["stored"] == 2 and row["deferred"] == 1
        assert server.pages_asked() == ["/articles/ferry.html", "/articles/lighthouse.html"]
        row, _ = poller.poll()  # the index and news-2.xml.gz (which listed the deferred page) were not marked seen
        assert row["outcome"] == "fetched" and row["stored"] == 1 and row["deferred"] == 0
        assert row["sitemaps_not_modified"] == 1  # news-1.xml had every page taken: its validators were kept
        assert server.pages_asked()[2:] == ["/articles/avalanche.html"]
        row, _ = poller.poll()  # everything was taken: now the validators were kept
        assert row["outcome"] == "not_modified"
    finally:
        poller.close()


def test_with_the_default_policy_a_loopback_sitemap_is_refused_without_a_request(tmp_path, store, server):
    settings = settings_for(tmp_path, [{"name": "harbour", "url": f"{server.base}/sitemap_index.xml"}], policy=FetchPolicy())
    poller = Poller(settings, store)
    try:
        row, result = poller.poll()
    finally:
        poller.close()
    assert row["outcome"] == "refused" and "loopback" in row["error"] and result.articles == []
    assert server.log == []
    assert store.state.load("sitemap", "harbour")["last_outcome"] == "refused"


def test_a_page_on_a_private_address_is_stored_with_a_refused_note_and_never_requested(tmp_path, store, server):
    server.serve("/news.xml", news_urlset(server.base, ["ferry"], extra=(
        "<url><loc>http://10.1.2.3/x.html</loc><news:news><news:publication><news:name>Intranet</news:name>"
        "<news:language>en</news:language></news:publication><news:publication_date>2026-01-05</news:publication_date>"
        "<news:title>Internal memo</news:title></news:news></url>")))
    sent: list[httpx.URL] = []
    client = httpx.Client(event_hooks={"request": [lambda request: sent.append(request.url)]}, trust_env=False)
    settings = settings_for(tmp_path, [{"name": "harbour", "url": f"{server.base}/news.xml"}])
    poller = Poller(settings, store, fetcher_factory=lambda: Fetcher(settings.fetch, client=client))
    try:
        row, _ = poller.poll()
    finally:
        poller.close()
        client.close()
    assert row["stored"] == 2 and row["failed"] == 0
    [memo] = store.raw.get([url_doc_id("http://10.1.2.3/x.html")])
    assert memo.metadata["full_text"].startswith("failed: refused") and memo.body == "Internal memo"
    assert memo.content_type == "text/plain"
    # robots.txt (sitemaps and pages obey it), the sitemap and the ferry page; nothing to 10.1.2.3
    assert {url.host for url in sent} == {"127.0.0.1"} and [url.path for url in sent] == [
        "/robots.txt", "/news.xml", "/articles/ferry.html"]


def test_a_child_that_fails_is_one_failure_naming_it_and_the_other_childs_pages_are_stored(poller, server):
    server.fail.add("/news-2.xml.gz")
    row, result = poller.poll()
    assert row["outcome"] == "fetched" and row["stored"] == 2 and row["failed"] == 1
    [failure] = result.failures
    assert failure.source_ref == f"{server.base}/news-2.xml.gz" and failure.source == "sitemap:harbour"
    assert "500" in failure.message
    server.fail.clear()
    row, _ = poller.poll()  # the index was not marked seen, so the failed child is read again
    assert row["stored"] == 1 and row["sitemaps_not_modified"] == 1
    assert poller.stored("avalanche", server.base).metadata["html"] == "page"
