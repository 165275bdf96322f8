"""Feeds for real: a local HTTP server serves feeds in several dialects and misbehaviours, and
polls go through the real fetcher, feedparser, spaCy and Elasticsearch. Nothing is mocked."""

from __future__ import annotations

import ipaddress
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from feed_server import serve_feeds
from pipelines.errors import (
    FeedConfigError,
    FeedParseError,
    FetchRefused,
    FetchTimeout,
    RateLimited,
    ResponseTooLarge,
    TooManyRedirects,
)
from pipelines.cleaning import clean_article
from pipelines.models import Failure, RawArticle, RunInfo, stable_id
from pipelines.pipeline import Pipeline
from pipelines.settings import DEFAULT_FEEDS_CONFIG, FetchPolicy, Settings
from pipelines.sources.feeds import (
    FeedConfig,
    FeedsSource,
    entry_dates,
    feeds_from_data,
    load_feed_config,
    parse_feed,
    read_entries,
    requested_interval,
)
from pipelines.sources.http import Fetcher, HostRateLimiter, parse_retry_after
from pipelines.sources.pages import canonical_url, url_doc_id
from pipelines.sources.polling import PollState, is_due
from pipelines.store.schema import iter_documents

LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"),)


def _policy(**changes) -> FetchPolicy:
    defaults = dict(allowed_networks=LOOPBACK, connect_timeout_s=2, read_timeout_s=0.5, total_timeout_s=5,
                    max_bytes=256 * 1024, min_host_interval_s=0)
    return FetchPolicy(**(defaults | changes))


@pytest.fixture(scope="module")
def server():
    yield from serve_feeds(slow_seconds=2.0)


@pytest.fixture
def fetcher():
    with Fetcher(_policy()) as fetcher:
        yield fetcher


# ---------------------------------------------------------------------------- pure rules


def test_canonical_url_drops_trackers_and_fragment_and_keeps_other_parameters():
    url = "HTTPS://News.Example.COM:443/a/b?utm_source=rss&id=7&fbclid=x&page=2&UTM_Campaign=y#comments"
    assert canonical_url(url) == "https://news.example.com/a/b?id=7&page=2"
    assert canonical_url("http://example.com:8080") == "http://example.com:8080/"
    assert canonical_url("https://example.com/q?a=%20b&gclid=1") == "https://example.com/q?a=%20b"


def test_entry_dates_are_utc_and_future_or_missing_dates_are_explicit():
    fetched = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
    published, notes = entry_dates({"published_parsed": time.strptime("2026-01-05 08:30", "%Y-%m-%d %H:%M")}, fetched)
    assert published == datetime(2026, 1, 5, 8, 30, tzinfo=UTC) and notes == {"date_source": "published"}
    future, notes = entry_dates({"published_parsed": time.strptime("2100-01-01", "%Y-%m-%d")}, fetched)
    assert future == fetched and notes["date_source"] == "future" and notes["published_at_claimed"].startswith("2100-01-01")
    assert entry_dates({}, fetched) == (None, {"date_source": "missing"})
    assert entry_dates({"published": "last Tuesday"}, fetched) == (None, {"date_source": "unreadable", "published_at_claimed": "last Tuesday"})


def test_requested_interval_takes_the_longer_of_ttl_and_update_period_capped_at_a_day():
    assert requested_interval({"ttl": "60"}) == 3600
    assert requested_interval({"sy_updateperiod": "hourly", "sy_updatefrequency": "2"}) == 1800
    assert requested_interval({"ttl": "30", "sy_updateperiod": "daily"}) == 86400
    assert requested_interval({"sy_updateperiod": "yearly"}) == 86400
    assert requested_interval({"ttl": "soon"}) is None


def test_the_bundled_feed_list_loads():
    feeds = load_feed_config(DEFAULT_FEEDS_CONFIG)
    assert len(feeds) >= 3 and all(feed.url.startswith("https://") for feed in feeds)
    assert len({feed.name for feed in feeds}) == len(feeds)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"feeds": [{"name": "a", "url": "https://a.example/rss", "ful_text": True}]}, "unknown key(s) 'ful_text'"),
        ({"feeds": [{"name": "a", "url": "ftp://a.example/rss"}]}, "url must be an absolute http(s) URL"),
        ({"feeds": [{"name": "Bad Name", "url": "https://a.example/rss"}]}, "name must match"),
        ({"feeds": [{"name": "a", "url": "https://a.example/1"}, {"name": "a", "url": "https://a.example/2"}]}, "used twice"),
        ({"feeds": [{"name": "a", "url": "https://a.example/rss", "tags": "world"}]}, "tags must be a list"),
        ({"feeds": []}, "non-empty list"),
        ({"version": 2, "feeds": [{"name": "a", "url": "https://a.example/rss"}]}, "unsupported version"),
    ],
)
def test_feed_list_errors_name_the_entry_and_the_problem(data, message):
    with pytest.raises(FeedConfigError, match="feeds.yaml") as caught:
        feeds_from_data(data, origin="feeds.yaml")
    assert message in str(caught.value)


def test_invalid_yaml_is_a_config_error_naming_the_file(tmp_path):
    path = tmp_path / "feeds.yaml"
    path.write_text("feeds: [name: a\n")
    with pytest.raises(FeedConfigError, match=str(path)):
        load_feed_config(path)


def test_planned_feeds_prefer_the_runs_list_and_select_by_name(tmp_path: Path):
    path = tmp_path / "feeds.yaml"
    path.write_text("feeds:\n  - {name: a, url: 'https://a.example/rss'}\n  - {name: b, url: 'https://b.example/rss', enabled: false}\n")
    settings = Settings(state_dir=tmp_path, cache_dir=tmp_path, feeds_config=path)

    def planned(**options) -> list[str]:
        return [unit["feed"]["name"] for unit in FeedsSource(settings, **options).units()]

    assert planned() == ["a"]
    assert planned(only=["b"]) == ["b"]
    assert planned(feeds=[{"name": "c", "url": "https://c.example/"}]) == ["c"]
    with pytest.raises(FeedConfigError, match="no feed named 'zzz'"):
        planned(only=["zzz"])


def test_retry_after_accepts_seconds_and_http_dates_and_is_capped():
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_retry_after("120") == 120
    assert parse_retry_after("Thu, 01 Jan 2026 00:10:00 GMT", now=now) == 600
    assert parse_retry_after("999999", cap_s=3600) == 3600
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_forced_polls_still_honour_retry_after():
    now = datetime(2026, 1, 1, tzinfo=UTC)
    later = now + timedelta(hours=1)
    assert not is_due(PollState("a", next_poll=later, next_poll_reason="ttl"), now)
    assert is_due(PollState("a", next_poll=later, next_poll_reason="ttl"), now, force=True)
    assert not is_due(PollState("a", next_poll=later, next_poll_reason="retry-after"), now, force=True)


# ---------------------------------------------------------------------------- the SSRF guard


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/feed.xml",
        "http://169.254.169.254/latest/meta-data/",
        "http://192.168.1.10/rss",
        "http://[::1]/rss",
        "http://[fe80::1]/rss",
        "http://224.0.0.1/rss",
        "http://0.0.0.0/rss",
        "http://[::ffff:10.0.0.1]/rss",
        "file:///etc/passwd",
        "gopher://example.com/",
    ],
)
def test_internal_addresses_and_other_schemes_are_refused_without_any_request(url):
    sent: list[httpx.Request] = []
    client = httpx.Client(event_hooks={"request": [sent.append]}, timeout=30)
    started = time.monotonic()
    with Fetcher(FetchPolicy(connect_timeout_s=30), client=client) as fetcher, pytest.raises(FetchRefused, match="refused") as caught:
        fetcher.get(url)
    client.close()
    assert sent == []  # no request was even built for sending, so no connection was attempted
    assert time.monotonic() - started < 1  # 10.0.0.1 would have hung until the 30 s connect timeout
    assert caught.value.source_ref == url


def test_loopback_is_refused_unless_explicitly_allowed(server):
    with Fetcher(FetchPolicy()) as fetcher, pytest.raises(FetchRefused, match="loopback"):
        fetcher.get(server.url("/rss2.xml").replace("127.0.0.1", "localhost"))
    with Fetcher(_policy()) as fetcher:
        assert fetcher.get(server.url("/rss2.xml")).status == 200


def test_a_redirect_to_an_internal_address_is_refused_before_following_it(server, fetcher):
    sent: list[str] = []
    fetcher.client.event_hooks["request"] = [lambda request: sent.append(str(request.url))]
    with pytest.raises(FetchRefused, match="10.0.0.1 is a private address"):
        fetcher.get(server.url("/to-internal"))
    assert sent == [server.url("/to-internal")]


# ---------------------------------------------------------------------------- fetching


def test_conditional_get_sends_validators_and_gets_304(server, fetcher):
    first = fetcher.get(server.url("/rss2.xml"))
    assert first.status == 200 and first.etag == '"rss2-v1"' and first.last_modified
    second = fetcher.get(server.url("/rss2.xml"), etag=first.etag, last_modified=first.last_modified)
    assert second.not_modified and second.content == b""
    request = server.hits("/rss2.xml")[-1]
    assert request.headers["If-None-Match"] == '"rss2-v1"'
    assert request.headers["If-Modified-Since"] == first.last_modified
    assert request.headers["User-Agent"].startswith("newsflow/")
    assert "gzip" in request.headers["Accept-Encoding"]


def test_gzip_bodies_are_decoded(server, fetcher):
    result = fetcher.get(server.url("/gzip.xml"))
    assert result.content.startswith(b"<?xml") and b"Seville" in result.content


def test_redirects_are_followed_and_reported_and_loops_are_cut(server, fetcher):
    result = fetcher.get(server.url("/old-feed"))
    assert result.final_url == server.url("/moved.xml") and result.redirects == (server.url("/moved.xml"),)
    with pytest.raises(TooManyRedirects, match="more than 5 redirects"):
        fetcher.get(server.url("/redirect-loop"))


def test_429_and_503_report_retry_after(server, fetcher):
    with pytest.raises(RateLimited) as limited:
        fetcher.get(server.url("/limited.xml"))
    assert limited.value.status == 429 and limited.value.retry_after_s == 900
    with pytest.raises(RateLimited) as unavailable:
        fetcher.get(server.url("/unavailable.xml"))
    assert unavailable.value.status == 503 and unavailable.value.retry_after_s == 300


def test_a_response_slower_than_the_timeout_fails_at_the_timeout(server, fetcher):
    started = time.monotonic()
    with pytest.raises(FetchTimeout, match="timed out"):
        fetcher.get(server.url("/slow.xml"))
    assert time.monotonic() - started < 1.5  # the server takes 2 s


@pytest.mark.parametrize("path", ["/dribble-headers.xml", "/dribble-body.xml"])
def test_a_server_dribbling_a_byte_a_second_is_cut_off_at_the_total_deadline(server, path):
    # Every single read succeeds within the read timeout; only the total deadline can stop this.
    with Fetcher(_policy(read_timeout_s=2, total_timeout_s=3)) as fetcher:
        started = time.monotonic()
        with pytest.raises(FetchTimeout, match="total time limit of 3s reached"):
            fetcher.get(server.url(path))
    assert 2.5 < time.monotonic() - started < 6


def test_the_deadline_watchdog_also_covers_a_reused_connection(server):
    with Fetcher(_policy(read_timeout_s=2, total_timeout_s=3)) as fetcher:
        fetcher.get(server.url("/rdf.xml"))  # opens a keep-alive connection the next request reuses
        started = time.monotonic()
        with pytest.raises(FetchTimeout, match="total time limit"):
            fetcher.get(server.url("/dribble-headers.xml"))
        assert time.monotonic() - started < 6
        assert fetcher.get(server.url("/rdf.xml")).status == 200  # the client is still usable


@pytest.mark.parametrize("path", ["/huge.xml", "/huge-stream.xml"])
def test_responses_over_the_size_cap_are_cut_off(server, fetcher, path):
    with pytest.raises(ResponseTooLarge, match="262144-byte cap"):
        fetcher.get(server.url(path))


def test_requests_to_one_host_are_spaced_by_the_rate_limit(server):
    with Fetcher(_policy(min_host_interval_s=0.4)) as fetcher:
        for _ in range(3):
            fetcher.get(server.url("/moved.xml"))
    times = [hit.at for hit in server.hits("/moved.xml")[-3:]]
    assert all(later - earlier >= 0.35 for earlier, later in zip(times, times[1:]))


def test_rate_limiter_defers_a_host_after_retry_after():
    clock = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    limiter = HostRateLimiter(1.0, clock=lambda: clock[0], sleep=sleep)
    assert limiter.wait("a.example") == 0
    limiter.defer("a.example", 30)
    assert limiter.blocked_for("a.example") > 0
    assert limiter.wait("b.example") == 0
    assert limiter.wait("a.example") == 30
    assert slept == [30]


# ---------------------------------------------------------------------------- parsing and entries


def _entries(server, fetcher, path, feed_name="test"):
    fetched = fetcher.get(server.url(path))
    parsed = parse_feed(fetched.content, url=fetched.final_url, content_type=fetched.content_type)
    feed = FeedConfig(name=feed_name, url=server.url(path), tags=("local",), language="en")
    now = datetime.now(UTC)
    return parsed, list(read_entries(parsed, feed, fetched_at=now, feed_url=fetched.final_url)), now


def test_rss2_entries_become_raw_articles(server, fetcher):
    parsed, items, fetched_at = _entries(server, fetcher, "/rss2.xml")
    assert parsed.version == "rss20" and parsed.bozo_reason is None
    ferry, lighthouse, quotas = items
    assert ferry.url == server.url("/news/ferry-terminal?id=7")
    assert clean_article(ferry).title == "Harbour council approves new ferry terminal"
    # The raw store keeps the entry as delivered; cleaning turns it into text.
    assert ferry.content_type == "text/html" and "<p>" in ferry.body
    assert "Mayor Erik Dahl" in clean_article(ferry).body and "<p>" not in clean_article(ferry).body
    assert ferry.published_at == datetime(2026, 1, 5, 8, 30, tzinfo=UTC)
    expected = {"feed": "test", "guid": "gazette-7", "authors": "Ingrid Solberg",
                "categories": "Transport; Council", "body_source": "content", "tags": "local"}
    assert ferry.metadata.items() >= expected.items()
    assert ferry.source == "feed:test" and ferry.fetched_at == fetched_at
    assert lighthouse.published_at == fetched_at and lighthouse.metadata["date_source"] == "future"
    assert quotas.url is None and quotas.source_ref == "gazette-9" and quotas.metadata["id_basis"] == "guid"
    assert quotas.published_at is None and quotas.metadata["date_source"] == "missing"


def test_the_same_link_with_other_trackers_is_the_same_document(server, fetcher):
    _, items, _ = _entries(server, fetcher, "/rss2.xml", feed_name="one")
    _, again, _ = _entries(server, fetcher, "/rss2.xml", feed_name="two")
    assert items[0].doc_id == again[0].doc_id  # id from the canonical link, not the feed
    assert items[2].doc_id != again[2].doc_id  # guids are only unique within a feed


def test_entries_sharing_a_link_with_distinct_guids_each_keep_a_document(server, fetcher):
    _, items, _ = _entries(server, fetcher, "/shared-link.xml", feed_name="harbour")
    articles = [item for item in items if isinstance(item, RawArticle)]
    assert [a.title for a in articles] == [f"Bulletin {n}" for n in range(1, 6)]  # the exact repeat is one item
    assert len({a.doc_id for a in articles}) == 5
    first, *others = articles
    # The first keeps the link's id, exactly as an ordinary entry (and the same article in another feed) would.
    assert first.doc_id == url_doc_id(server.url("/")) and first.metadata["id_basis"] == "link"
    assert "link_shared_with" not in first.metadata
    for n, other in enumerate(others, start=2):
        assert other.doc_id == stable_id("guid", "harbour", f"bulletin-{n}")
        assert other.metadata["id_basis"] == "guid" and other.metadata["link_shared_with"] == "bulletin-1"
        assert other.url == server.url("/")


def test_each_failing_entry_has_its_own_reference(server, fetcher):
    feed_url = server.url("/failing-entries.xml")
    _, items, _ = _entries(server, fetcher, "/failing-entries.xml")
    failures = [item for item in items if isinstance(item, Failure)]
    assert [f.source_ref for f in failures] == [f"{feed_url}#entry:0", f"{feed_url}#entry:1", f"{feed_url}#entry:cms-3"]
    assert [f.message for f in failures] == ["entry has neither a link nor a guid"] * 2 + ["entry has no title, summary or content"]
    assert [item.title for item in items if isinstance(item, RawArticle)] == ["Ferry timetable changes"]


def test_atom_entries_keep_authors_categories_and_html_titles(server, fetcher):
    parsed, (harvest, river), _ = _entries(server, fetcher, "/atom.xml")
    assert parsed.version == "atom10"
    assert clean_article(harvest).title == "Vineyard harvest & wine festival"
    assert harvest.url == server.url("/atom/harvest")
    assert harvest.metadata["authors"] == "Paolo Ricci; Giulia Conti" and harvest.metadata["categories"] == "Agriculture"
    assert harvest.published_at == datetime(2026, 1, 6, 6, 0, tzinfo=UTC)
    assert river.published_at == datetime(2026, 1, 5, 12, 0, tzinfo=UTC) and river.metadata["date_source"] == "updated"


def test_rss1_rdf_entries_are_read(server, fetcher):
    parsed, (avalanche,), _ = _entries(server, fetcher, "/rdf.xml")
    assert parsed.version == "rss10"
    assert clean_article(avalanche).title == "Avalanche warning raised in Tyrol" and avalanche.metadata["authors"] == "Lukas Gruber"
    assert avalanche.published_at == datetime(2026, 1, 4, 7, 15, tzinfo=UTC)


def test_bozo_feeds_keep_recovered_entries_and_say_why(server, fetcher):
    parsed, (fish,), _ = _entries(server, fetcher, "/bozo.xml")
    assert parsed.bozo_reason and "not well-formed" in parsed.bozo_reason
    assert clean_article(fish).title == "Fish & chips shop opens in Leeds"


def test_a_feed_served_as_html_is_still_read_but_an_html_page_is_not_a_feed(server, fetcher):
    parsed, (tram,), _ = _entries(server, fetcher, "/wrong-type.xml")
    assert "not an XML media type" in parsed.bozo_reason and clean_article(tram).title == "Tram line extended in Graz"
    page = fetcher.get(server.url("/not-a-feed.html"))
    with pytest.raises(FeedParseError, match=r"not an RSS or Atom feed \(text/html\)"):
        parse_feed(page.content, url=page.final_url, content_type=page.content_type)


# ---------------------------------------------------------------------------- polls against Elasticsearch

SERVED = {
    "rss2": "/rss2.xml",
    "atom": "/atom.xml",
    "rdf": "/rdf.xml",
    "bozo": "/bozo.xml",
    "wrong-type": "/wrong-type.xml",
    "not-a-feed": "/not-a-feed.html",
    "gzip": "/gzip.xml",
    "redirect": "/old-feed",
    "to-internal": "/to-internal",
    "limited": "/limited.xml",
    "slow": "/slow.xml",
    "huge": "/huge-stream.xml",
    "ttl": "/ttl.xml",
}


def _served_feeds(server, *names: str) -> list[dict]:
    return [{"name": name, "url": server.url(path)} for name, path in SERVED.items() if not names or name in names]


def _poll(settings, feeds: list[dict], run_id: str, *, force: bool = False):
    """The CLI's path: every feed acquired into the raw store, then its entries enriched."""
    pipeline = Pipeline(settings.with_changes(fetch=_policy()))
    summary, rows = pipeline.run("feeds", RunInfo(run_id), feeds=feeds, force=force)
    return summary, {row["unit"]: row for row in rows}


def _state(settings, name: str) -> PollState:
    return PollState.from_dict(name, Pipeline(settings).store.state.load("feed", name))


@pytest.mark.elasticsearch
def test_polling_every_served_feed_reports_each_outcome_and_a_second_poll_adds_nothing(
    server, isolated_settings, es_client, names
):
    summary, first = _poll(isolated_settings, _served_feeds(server), "run-1")
    assert {name: r["outcome"] for name, r in first.items()} == {
        "rss2": "fetched", "atom": "fetched", "rdf": "fetched", "bozo": "fetched", "wrong-type": "fetched",
        "not-a-feed": "failed", "gzip": "fetched", "redirect": "fetched", "to-internal": "refused",
        "limited": "rate_limited", "slow": "failed", "huge": "failed", "ttl": "fetched",
    }
    expected_entries = {"rss2": 3, "atom": 2, "rdf": 1, "bozo": 1, "wrong-type": 1, "gzip": 1, "redirect": 1, "ttl": 1}
    for name, entries in expected_entries.items():
        assert (first[name]["entries"], first[name]["stored"], first[name]["failed"]) == (entries, entries, 0), name
    assert summary.indexed + summary.duplicate == sum(expected_entries.values())
    # A feed that cannot be read is dead-lettered under its URL; rate limiting is only a wait.
    failed_feeds = {"not-a-feed", "to-internal", "slow", "huge"}
    assert {(f.source, f.source_ref) for f in summary.failures} == {(f"feed:{n}", first[n]["url"]) for n in failed_feeds}
    assert "not well-formed" in first["bozo"]["bozo_reason"] and "not an XML media type" in first["wrong-type"]["bozo_reason"]
    assert "10.0.0.1 is a private address" in first["to-internal"]["error"]
    assert "Retry-After 900s" in first["limited"]["error"] and first["limited"]["status"] == 429
    assert "timed out" in first["slow"]["error"] and "cap" in first["huge"]["error"]
    assert "not an RSS or Atom feed" in first["not-a-feed"]["error"]

    es_client.indices.refresh(index=names.articles)
    docs = {doc["source_ref"]: doc for doc in iter_documents(es_client, names.articles)}
    assert len(docs) == sum(expected_entries.values())
    ferry = docs[server.url("/news/ferry-terminal?id=7")]
    assert ferry["source"] == "feed:rss2" and ferry["published_at"].startswith("2026-01-05T08:30")
    assert "Erik Dahl" in ferry["persons"] and ferry["run_id"] == "run-1" and "<p>" not in ferry["body"]

    states = {name: _state(isolated_settings, name) for name in SERVED}
    assert states["rss2"].etag == '"rss2-v1"' and states["rss2"].last_success and states["rss2"].entries_seen == 3
    assert states["atom"].last_modified and states["atom"].etag is None
    assert states["bozo"].bozo and "not well-formed" in states["bozo"].bozo_reason
    assert states["redirect"].final_url == server.url("/moved.xml")
    limited = states["limited"]
    assert limited.next_poll_reason == "retry-after" and limited.consecutive_failures == 1 and limited.last_status == 429
    assert timedelta(seconds=880) < limited.next_poll - limited.last_attempt <= timedelta(seconds=900)
    assert states["slow"].next_poll_reason == "backoff" and "timed out" in states["slow"].last_error
    assert states["ttl"].requested_interval_s == 3600 and states["ttl"].next_poll_reason == "ttl"

    requests_before = len(server.requests)
    again, second = _poll(isolated_settings, _served_feeds(server), "run-2")
    assert {name: r["outcome"] for name, r in second.items()} == {
        "rss2": "not_modified", "atom": "not_modified", "rdf": "fetched", "bozo": "fetched", "wrong-type": "fetched",
        "not-a-feed": "not_due", "gzip": "fetched", "redirect": "fetched", "to-internal": "not_due",
        "limited": "not_due", "slow": "not_due", "huge": "not_due", "ttl": "not_due",
    }
    # Entries fetched again are unchanged in the raw store and skipped before any component runs.
    assert sum(r["stored"] for r in second.values()) == 0
    assert (again.indexed, again.duplicate, again.failed) == (0, 0, 0) and again.unchanged == again.seen
    assert second["rdf"]["unchanged"] == 1 and second["gzip"]["unchanged"] == 1
    polled = {hit.path for hit in server.requests[requests_before:]}
    assert not polled & {"/limited.xml", "/slow.xml", "/ttl.xml", "/to-internal", "/huge-stream.xml"}
    es_client.indices.refresh(index=names.articles)
    assert es_client.count(index=names.articles)["count"] == len(docs)
    assert es_client.count(index=names.articles, query={"term": {"run_id": "run-2"}})["count"] == 0
    assert _state(isolated_settings, "rss2").consecutive_failures == 0

    _, forced = _poll(isolated_settings, _served_feeds(server, "limited", "slow", "ttl"), "run-3", force=True)
    # force never overrides Retry-After
    assert {name: r["outcome"] for name, r in forced.items()} == {"limited": "not_due", "slow": "failed", "ttl": "fetched"}
    assert _state(isolated_settings, "slow").consecutive_failures == 2


@pytest.mark.elasticsearch
def test_shared_links_and_failing_entries_end_as_documents_and_one_dead_letter_each(server, isolated_settings, es_client, names):
    feeds = [{"name": "harbour", "url": server.url("/shared-link.xml")},
             {"name": "broken", "url": server.url("/failing-entries.xml")}]
    summary, rows = _poll(isolated_settings, feeds, "ids-1")
    assert (rows["harbour"]["stored"], rows["broken"]["stored"], rows["broken"]["failed"]) == (5, 1, 3)
    es_client.indices.refresh(index=names.articles)
    titles = sorted(doc["title"] for doc in iter_documents(es_client, names.articles))
    assert titles == [f"Bulletin {n}" for n in range(1, 6)] + ["Ferry timetable changes"]
    feed_url = server.url("/failing-entries.xml")
    letters = Pipeline(isolated_settings).store.deadletters.refs("feed:broken")
    assert sorted(letter["source_ref"] for letter in letters) == [
        f"{feed_url}#entry:0", f"{feed_url}#entry:1", f"{feed_url}#entry:cms-3"]


@pytest.mark.elasticsearch
def test_full_text_feeds_fetch_each_new_page_once(server, isolated_settings, es_client, names):
    feed = {"name": "articles", "url": server.url("/summaries.xml"), "full_text": True}
    _, first = _poll(isolated_settings, [feed], "full-1")
    assert (first["articles"]["outcome"], first["articles"]["stored"]) == ("fetched", 1)
    pages = len(server.hits("/articles/story"))
    summary, second = _poll(isolated_settings, [feed], "full-2", force=True)
    assert (second["articles"]["outcome"], second["articles"]["stored"], second["articles"]["already_stored"]) == (
        "fetched", 0, 1)
    assert summary.seen == 0  # the stored page is neither fetched nor enriched again
    assert len(server.hits("/articles/story")) == pages == 1
    es_client.indices.refresh(index=names.articles)
    (doc,) = iter_documents(es_client, names.articles)
    assert "Stavanger" in doc["body"] and "Subscribe" not in doc["body"] and "Home" not in doc["body"]
    assert doc["run_id"] == "full-1"
    es_client.indices.refresh(index=names.raw_articles)
    (raw,) = iter_documents(es_client, names.raw_articles)
    assert raw["content_type"] == "text/html" and "<html" in raw["body"].lower()  # the page as fetched, for replays


@pytest.mark.elasticsearch
def test_cli_ingest_feeds_reports_each_feed_and_exits_1_when_one_failed(server, isolated_settings, tmp_path, monkeypatch, capsys):
    from pipelines.cli import main

    monkeypatch.setenv("NEWSFLOW_FEEDS_ALLOW_NETWORKS", "127.0.0.0/8")
    monkeypatch.setenv("NEWSFLOW_FEEDS_HOST_INTERVAL_S", "0")
    config = tmp_path / "feeds.yaml"
    config.write_text(
        "version: 1\nfeeds:\n"
        f"  - {{name: atom, url: '{server.url('/atom.xml')}'}}\n"
        f"  - {{name: gone, url: '{server.url('/missing.xml')}'}}\n"
        f"  - {{name: metadata, url: 'http://169.254.169.254/latest/meta-data/'}}\n"
    )
    assert main(["ingest", "feeds", "--config", str(config)]) == 1
    out = capsys.readouterr().out
    assert "atom" in out and "stored: 2" in out and "indexed: 2" in out
    assert "HTTP 404" in out and "link-local" in out
    assert main(["ingest", "feeds", "--config", str(config), "--feed", "atom"]) == 0
    assert "not_modified" in capsys.readouterr().out
    config.write_text("feeds:\n  - {name: atom}\n")
    assert main(["ingest", "feeds", "--config", str(config)]) == 2
    assert "feeds[0] (atom): url must be an absolute http(s) URL" in capsys.readouterr().err
