"""robots.txt and the politeness ledger, against real loopback servers that count what they are asked.

The servers prove it: a page robots.txt disallows is never requested, Crawl-delay spaces the
requests they observe, the ledger's counts equal what they saw, and the User-Agent carries the
contact URL. The ledger is stored in the real local Elasticsearch node (and in SQLite)."""

from __future__ import annotations

import ipaddress
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from pipelines.errors import ConfigError, RobotsDisallowed
from pipelines.models import RawArticle, RunInfo
from pipelines.operations import operations_status
from pipelines.operations_page import operations_page
from pipelines.pipeline import Pipeline
from pipelines.settings import FetchPolicy, Settings, user_agent_for
from pipelines.sources.http import Fetcher
from pipelines.sources.pages import canonical_url, url_doc_id
from pipelines.sources.robots import RobotsCache
from pipelines.store.politeness import ElasticsearchPoliteness

CONTACT = "https://newsroom-ops.example/crawler-contact"
LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"),)
PAGE = "<!doctype html><html><head><title>{0}</title></head><body><article><h1>{0}</h1><p>{0} in full.</p></article></body></html>"


def policy(**changes) -> FetchPolicy:
    defaults = dict(allowed_networks=LOOPBACK, connect_timeout_s=2, read_timeout_s=2, total_timeout_s=5,
                    min_host_interval_s=0, user_agent=user_agent_for(CONTACT))
    return FetchPolicy(**(defaults | changes))


@dataclass
class Seen:
    path: str
    user_agent: str
    at: float
    status: int
    body_bytes: int


class CountingServer:
    """A real HTTP server on 127.0.0.1: ``routes`` maps a path to (status, body, headers); every
    request is recorded with its time, User-Agent and the body size sent back. ETags answer 304."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, str, dict[str, str]]] = {}
        self.seen: list[Seen] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 — http.server's name
                status, body, headers = server.routes.get(self.path, (404, "not found", {}))
                if headers.get("ETag") and self.headers.get("If-None-Match") == headers["ETag"]:
                    status, body = 304, ""
                data = body.encode()
                server.seen.append(Seen(self.path, self.headers.get("User-Agent", ""), time.monotonic(), status, len(data)))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if status != 304:
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if status != 304:
                    self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.host = f"127.0.0.1:{self.httpd.server_address[1]}"
        self.base = f"http://{self.host}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def serve(self, path: str, body: str, status: int = 200, **headers: str) -> None:
        self.routes[path] = (status, body, {"Content-Type": "text/html; charset=utf-8", **headers})

    def paths(self) -> list[str]:
        return [seen.path for seen in self.seen]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[CountingServer]:
    server = CountingServer()
    yield server
    server.close()


def rss(base: str, links: list[str]) -> str:
    items = "".join(f"<item><title>Story {n}</title><link>{base}{link}</link><guid>{base}{link}</guid>"
                    f"<description>Teaser {n} about the harbour in Bergen.</description></item>"
                    for n, link in enumerate(links))
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Gazette</title><link>{base}/</link>' \
           f"<description>News</description>{items}</channel></rss>"


# ---------------------------------------------------------------------------- the fetcher


def test_blocked_pages_are_never_requested_crawl_delay_spaces_the_rest_and_the_ledger_matches_the_server(server):
    server.serve("/robots.txt", "User-agent: *\nDisallow: /private/\nCrawl-delay: 0.6\n\nUser-agent: otherbot\nDisallow: /\n",
                 **{"Content-Type": "text/plain"})
    for n in (1, 2, 3):
        server.serve(f"/news/{n}.html", PAGE.format(f"Story {n}"))
    server.serve("/private/secret.html", PAGE.format("Secret"))

    with Fetcher(policy()) as fetcher:
        fetcher.get(f"{server.base}/news/1.html", obey_robots=True)
        with pytest.raises(RobotsDisallowed, match="robots.txt disallows this page"):
            fetcher.get(f"{server.base}/private/secret.html", obey_robots=True)
        fetcher.get(f"{server.base}/news/2.html", obey_robots=True)
        fetcher.get(f"{server.base}/news/3.html", obey_robots=True)
        (counts,) = fetcher.ledger.drain()

    assert server.paths() == ["/robots.txt", "/news/1.html", "/news/2.html", "/news/3.html"]
    gaps = [later.at - earlier.at for earlier, later in zip(server.seen, server.seen[1:])]
    # The delay runs between request starts at the client; each request reaches the server after a
    # latency of its own, so one observed gap may be shorter by that jitter, never the whole span.
    assert min(gaps) >= 0.6 - 0.15, gaps  # robots.txt → first page included
    assert server.seen[-1].at - server.seen[0].at >= 3 * 0.6 - 0.15, gaps
    assert all(seen.user_agent.startswith("newsflow/") and f"+{CONTACT}" in seen.user_agent for seen in server.seen)

    assert counts.host == server.host
    assert counts.requests == len(server.seen) == 4
    assert counts.bytes == sum(seen.body_bytes for seen in server.seen)
    assert (counts.robots_allowed, counts.robots_blocked) == (3, 1)
    assert counts.blocked_urls == [f"{server.base}/private/secret.html"]
    assert counts.crawl_delay_s == 0.6 and counts.errors == 0
    assert 1.0 < counts.waited_s <= 3 * 0.6  # the delays less the time the requests themselves took


def test_threads_sharing_a_fetcher_read_robots_once_keep_the_crawl_delay_and_the_ledger_counts_them_all(server):
    server.serve("/robots.txt", "User-agent: *\nDisallow: /private/\nCrawl-delay: 0.4\n", **{"Content-Type": "text/plain"})
    pages = [f"/news/{n}.html" for n in range(6)]
    for page in pages:
        server.serve(page, PAGE.format(page))
    server.serve("/private/secret.html", PAGE.format("Secret"))

    def get(path: str) -> str:
        try:
            fetcher.get(f"{server.base}{path}", obey_robots=True)
        except RobotsDisallowed:
            return "blocked"
        return "fetched"

    # Four connections to one host allowed: only the Crawl-delay keeps the threads apart.
    with Fetcher(policy(max_host_connections=4, max_connections=8)) as fetcher:
        with ThreadPoolExecutor(4) as pool:
            outcomes = list(pool.map(get, [*pages, "/private/secret.html"]))
        (counts,) = fetcher.ledger.drain()

    assert outcomes == ["fetched"] * 6 + ["blocked"]
    assert server.paths().count("/robots.txt") == 1 and "/private/secret.html" not in server.paths()
    gaps = [later.at - earlier.at for earlier, later in zip(server.seen, server.seen[1:])]
    assert min(gaps) >= 0.4 - 0.15, gaps
    assert server.seen[-1].at - server.seen[0].at >= 6 * 0.4 - 0.15, gaps
    assert counts.requests == len(server.seen) == 7
    assert (counts.robots_allowed, counts.robots_blocked, counts.crawl_delay_s) == (6, 1, 0.4)
    assert counts.bytes == sum(seen.body_bytes for seen in server.seen)


def test_waiting_for_a_crawl_delay_does_not_count_against_the_fetchs_time_limit(server):
    server.serve("/robots.txt", "User-agent: *\nCrawl-delay: 2\n")
    server.serve("/news/1.html", PAGE.format("Story 1"))
    with Fetcher(policy(total_timeout_s=1.5)) as fetcher:
        result = fetcher.get(f"{server.base}/news/1.html", obey_robots=True)
    assert result.status == 200 and server.paths() == ["/robots.txt", "/news/1.html"]
    assert server.seen[1].at - server.seen[0].at >= 2 - 0.15  # less the latency jitter (see above)


def test_a_group_for_newsflow_wins_over_the_wildcard_and_feeds_ignore_robots(server):
    server.serve("/robots.txt", "User-agent: *\nDisallow: /\n\nUser-agent: newsflow\nDisallow: /drafts/\n")
    server.serve("/feed.xml", rss(server.base, []), **{"Content-Type": "application/rss+xml"})
    server.serve("/news/a.html", PAGE.format("A"))
    with Fetcher(policy()) as fetcher:
        fetcher.get(f"{server.base}/feed.xml")  # a feed: read as a feed reader reads it, no robots.txt asked
        assert server.paths() == ["/feed.xml"]
        fetcher.get(f"{server.base}/news/a.html", obey_robots=True)
        with pytest.raises(RobotsDisallowed):
            fetcher.get(f"{server.base}/drafts/b.html", obey_robots=True)
    assert server.paths() == ["/feed.xml", "/robots.txt", "/news/a.html"]


def test_robots_answers_are_cached_and_read_as_google_documents(server):
    now = [datetime(2026, 11, 25, 8, 0, tzinfo=UTC)]
    cache = RobotsCache(clock=lambda: now[0])
    page = f"{server.base}/news/a.html"
    server.serve("/news/a.html", PAGE.format("A"))
    server.serve("/robots.txt", "gone", status=404)

    def robots_requests() -> int:
        return server.paths().count("/robots.txt")

    with Fetcher(policy(), robots=cache) as fetcher:
        fetcher.get(page, obey_robots=True)  # 404: no rules, everything allowed
        now[0] += timedelta(hours=23)
        fetcher.get(page, obey_robots=True)  # still cached
        assert robots_requests() == 1

        now[0] += timedelta(hours=2)  # expired; the server now fails
        server.serve("/robots.txt", "down", status=500)
        with pytest.raises(RobotsDisallowed, match=r"could not be read \(HTTP 500\)"):
            fetcher.get(page, obey_robots=True)
        assert server.paths().count("/news/a.html") == 2  # nothing fetched while robots.txt is unreadable

        now[0] += timedelta(minutes=61)  # an unreadable robots.txt is asked again after an hour
        server.serve("/robots.txt", "User-agent: *\nDisallow: /news/b\n", **{"Cache-Control": "public, max-age=7200"})
        fetcher.get(page, obey_robots=True)
        assert cache.rules_for(page, fetcher.get).expires_at == now[0] + timedelta(hours=2)

        now[0] += timedelta(hours=3)  # expired again, and the server is down: the good copy still holds
        server.serve("/robots.txt", "busy", status=503, **{"Retry-After": "60"})
        fetcher.get(page, obey_robots=True)
        with pytest.raises(RobotsDisallowed, match="disallows this page"):
            fetcher.get(f"{server.base}/news/b.html", obey_robots=True)
        counts = {c.host: c for c in fetcher.ledger.drain()}[server.host]

    assert robots_requests() == 4
    assert server.paths().count("/news/a.html") == 4 and "/news/b.html" not in server.paths()
    assert counts.requests == len(server.seen) == 8
    assert (counts.errors, counts.error_types) == (1, ["HTTPStatusError"])  # the 500; a 404 robots.txt is no error
    assert (counts.retry_after_responses, counts.retry_after_s) == (1, 60.0)  # the 503
    assert (counts.robots_allowed, counts.robots_blocked) == (4, 2)


def test_the_user_agent_names_the_project_and_the_configured_contact():
    assert f"+{CONTACT}" in Settings.from_env({"NEWSFLOW_CONTACT_URL": CONTACT}).fetch.user_agent
    default = Settings.from_env({}).fetch.user_agent
    assert default.startswith("newsflow/") and "robots.txt" in default
    assert Settings.from_env({"NEWSFLOW_FEEDS_USER_AGENT": "custom/1"}).fetch.user_agent == "custom/1"
    with pytest.raises(ConfigError, match="NEWSFLOW_CONTACT_URL"):
        Settings.from_env({"NEWSFLOW_CONTACT_URL": "ops@example.org"})


# ---------------------------------------------------------------------------- through the pipeline


def _feeds_settings(settings: Settings, tmp_path: Path, feeds: list[dict]) -> Settings:
    path = tmp_path / "feeds.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "feeds": feeds}), encoding="utf-8")
    return settings.with_changes(fetch=policy(min_host_interval_s=0), feeds_config=path)


@pytest.mark.elasticsearch
def test_a_feeds_blocked_page_is_noted_not_fetched_and_the_ledger_is_stored_once_per_run(
    server, isolated_settings, es_client, names, tmp_path
):
    server.serve("/robots.txt", "User-agent: *\nDisallow: /feeds/\nDisallow: /private/\nCrawl-delay: 0.3\n")
    server.serve("/feeds/main.xml", rss(server.base, ["/news/open.html", "/private/closed.html"]),
                 **{"Content-Type": "application/rss+xml", "ETag": '"v1"'})
    server.serve("/news/open.html", PAGE.format("Open"))
    server.serve("/private/closed.html", PAGE.format("Closed"))
    settings = _feeds_settings(isolated_settings, tmp_path,
                               [{"name": "gazette", "url": f"{server.base}/feeds/main.xml", "full_text": True}])
    pipeline = Pipeline(settings, client=es_client, components=[])
    run = RunInfo("manual__politeness-1", "newsflow_feeds")
    (work,) = pipeline.plan("feeds")
    ledger = ElasticsearchPoliteness(es_client, names)
    assert ledger.by_host() == []  # no ledger index yet: an empty page, not an error

    pipeline.acquire(work, run)

    # The feed is fetched although robots.txt disallows /feeds/; the disallowed page never is.
    assert server.paths() == ["/feeds/main.xml", "/robots.txt", "/news/open.html"]
    closed_id = url_doc_id(canonical_url(f"{server.base}/private/closed.html"))
    (closed,) = pipeline.store.raw.get([closed_id])
    assert isinstance(closed, RawArticle) and closed.body.startswith("Teaser")
    assert closed.metadata["full_text"].startswith("blocked: robots.txt disallows this page")
    (row,) = ledger.by_host()
    assert row["host"] == server.host
    assert row["requests"] == len(server.seen) == 3
    assert row["bytes"] == sum(seen.body_bytes for seen in server.seen)
    assert (row["robots_allowed"], row["robots_blocked"], row["errors"], row["crawl_delay_s"]) == (1, 1, 0, 0.3)
    assert row["blocked_urls"] == [f"{server.base}/private/closed.html"]
    status = operations_status(es_client, names)
    assert status["politeness"] == [row]
    page = operations_page(status)
    assert "Politeness per host" in page and server.host in page and "<svg" in page
    assert f"{server.base}/private/closed.html" in page

    # The same run again (a retried task): the feed answers 304 and the run's entry is replaced, not added to.
    pipeline.acquire(work, run)
    assert server.paths()[3:] == ["/feeds/main.xml"] and server.seen[-1].status == 304
    (row,) = ledger.by_host()
    assert (row["requests"], row["not_modified"], row["not_modified_share"], row["bytes"]) == (1, 1, 1.0, 0)
    assert [day["requests"] for day in row["per_day"]] == [1]

    # Another run adds its own requests.
    pipeline.acquire(work, RunInfo("manual__politeness-2", "newsflow_feeds"))
    (row,) = ledger.by_host()
    assert (row["requests"], row["not_modified"]) == (2, 2)
    assert es_client.count(index=names.politeness)["count"] == 2


def test_sitemaps_obey_robots_for_children_and_pages_and_the_ledger_goes_to_sqlite(server, tmp_path):
    server.serve("/robots.txt", "User-agent: *\nDisallow: /private/\n")
    urlset = ('<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
              'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">'
              + "".join(f"<url><loc>{server.base}{path}</loc><news:news><news:title>{title}</news:title></news:news></url>"
                        for path, title in (("/news/a.html", "Ferry terminal approved"), ("/private/b.html", "Draft story")))
              + "</urlset>")
    index = ('<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
             f"<sitemap><loc>{server.base}/news-sitemap.xml</loc></sitemap>"
             f"<sitemap><loc>{server.base}/private/sitemap.xml</loc></sitemap></sitemapindex>")
    server.serve("/sitemap_index.xml", index, **{"Content-Type": "application/xml"})
    server.serve("/news-sitemap.xml", urlset, **{"Content-Type": "application/xml"})
    server.serve("/private/sitemap.xml", urlset, **{"Content-Type": "application/xml"})
    server.serve("/news/a.html", PAGE.format("Ferry terminal approved"))
    sitemaps = tmp_path / "sitemaps.yaml"
    sitemaps.write_text(yaml.safe_dump({"version": 1, "sitemaps": [
        {"name": "gazette", "url": f"{server.base}/sitemap_index.xml"}]}), encoding="utf-8")
    settings = Settings(state_dir=tmp_path, cache_dir=tmp_path, fetch=policy(), sitemaps_config=sitemaps,
                        sink=f"jsonl:{tmp_path / 'out.jsonl'}")
    pipeline = Pipeline(settings, components=[])
    run = RunInfo("sitemap-run")
    try:
        (work,) = pipeline.plan("sitemaps")
        result = pipeline.acquire(work, run)
    finally:
        pipeline.close()

    assert sorted(server.paths()) == ["/news-sitemap.xml", "/news/a.html", "/robots.txt", "/sitemap_index.xml"]
    (failure,) = result.stored.failures
    assert failure.source_ref == f"{server.base}/private/sitemap.xml" and "robots.txt disallows" in failure.message
    blocked = next(a for a in result.stored.articles if a.url.endswith("/private/b.html"))
    assert blocked.body == "Draft story" and blocked.metadata["full_text"].startswith("blocked: robots.txt")

    with sqlite3.connect(tmp_path / "store.sqlite3") as connection:
        (document,) = [json.loads(row[0]) for row in connection.execute("SELECT document FROM politeness")]
    assert (document["host"], document["unit"], document["run_id"]) == (server.host, "sitemaps:gazette", "sitemap-run")
    assert document["requests"] == len(server.seen) == 4
    assert (document["robots_allowed"], document["robots_blocked"]) == (3, 2)
