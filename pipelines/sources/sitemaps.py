"""Sitemaps and Google News sitemaps: the sitemap list, parsing fetched bytes, URLs → ``RawArticle``, and polling.

A publisher's news sitemap lists its articles of the last two days with their titles and dates,
often sooner and more completely than its feeds; news-please and Fundus crawl news sites this way.

* **Sitemap list** — ``sitemaps.yaml`` (``Settings.sitemaps_config``) or a run's override; see
  ``pipelines.sources.listing`` for validation.
* **Parsing** — ``<urlset>`` (``<url><loc><lastmod>``, and the Google News extension's
  publication, date, title and keywords) and ``<sitemapindex>``. Elements are matched by local
  name, as Fundus does, because publishers get namespaces wrong. Gzip bodies (``.xml.gz``) are
  decompressed under the fetch size cap. ElementTree resolves no external entities.
* **Pages** — the id comes from the canonical URL (``url_doc_id``), so an article found by a
  feed and by a sitemap is one document. With ``full_text`` (the default) each new page is fetched
  and its HTML kept (``page_article``); otherwise the body is the news title. Dates follow the
  feeds' rule (``entry_dates``): ``news:publication_date``, else ``lastmod``, in UTC.
* **Polling** — ``SitemapsSource``: one unit per sitemap; conditional GET of the root and of each
  child of an index with the child's own validators (an unchanged child answers 304 and costs
  nothing). Pages already stored with the same ``lastmod`` are not fetched again; at most
  ``max_pages`` new pages per poll, newest first. Validators are saved only for what was read in
  full, so pages left for later, and a child that failed, are listed again on the next poll.
  The sitemap, its children and its pages obey robots.txt (``pipelines.sources.robots``): a
  disallowed child is a failure naming it, a disallowed page keeps its news title with a note.
"""

from __future__ import annotations

import gzip
import io
import time
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit
from xml.etree import ElementTree

from pipelines.errors import FetchError, RateLimited, ResponseTooLarge, SitemapParseError, SourceError
from pipelines.models import Failure, RawArticle
from pipelines.sources.base import SOURCES, Item, SourceContext
from pipelines.sources.feeds import entry_dates
from pipelines.sources.http import FetchResult
from pipelines.sources.listing import EntryReader
from pipelines.sources.pages import canonical_url, is_web_link, page_article, url_doc_id
from pipelines.sources.polling import DEFAULT_RETRY_AFTER, Poll, PolledConfig, PolledSource, PollState

_SITEMAP_KEYS = {"name", "url", "tags", "language", "full_text", "min_interval_minutes", "max_pages", "enabled"}
DEFAULT_MAX_PAGES = 100
MAX_CHILD_SITEMAPS = 50  # children of an index read per poll, newest lastmod first
GZIP_MAGIC = b"\x1f\x8b"
_OLDEST = datetime.min.replace(tzinfo=UTC)  # sorts undated pages and children last


# ---------------------------------------------------------------------------- the sitemap list


@dataclass(frozen=True)
class SitemapConfig(PolledConfig):
    """One sitemap (or sitemap index) to poll; a sitemap lists only links, so pages are fetched by default."""

    source_kind = "sitemap"

    full_text: bool = True  # false: the news title is the body
    max_pages: int = DEFAULT_MAX_PAGES  # new pages per poll; the rest wait for the next one


def sitemap_from_entry(entry: object, where: str) -> SitemapConfig:
    read = EntryReader(entry, where, _SITEMAP_KEYS)
    return SitemapConfig(
        name=read.name, url=read.url(), tags=read.tags(), language=read.language(),
        full_text=read.flag("full_text", True), enabled=read.flag("enabled", True),
        min_interval_minutes=read.count("min_interval_minutes", 0),
        max_pages=read.count("max_pages", DEFAULT_MAX_PAGES, minimum=1),
    )


# ---------------------------------------------------------------------------- parsing


@dataclass(frozen=True)
class SitemapEntry:
    """One ``<url>`` of a urlset, its values as written (whitespace collapsed)."""

    loc: str
    lastmod: str | None = None
    title: str | None = None  # news:title
    publication_date: str | None = None  # news:publication_date
    keywords: str | None = None  # news:keywords
    publication: str | None = None  # news:publication/news:name
    language: str | None = None  # news:publication/news:language


@dataclass(frozen=True)
class ChildSitemap:
    """One ``<sitemap>`` of a sitemap index."""

    loc: str
    lastmod: str | None = None


@dataclass(frozen=True)
class ParsedSitemap:
    kind: str  # "urlset" or "sitemapindex"
    entries: list[SitemapEntry] = field(default_factory=list)
    children: list[ChildSitemap] = field(default_factory=list)


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _child(element: ElementTree.Element | None, name: str) -> ElementTree.Element | None:
    if element is None:
        return None
    return next((child for child in element if _local(child.tag) == name), None)


def _text(element: ElementTree.Element, *path: str) -> str | None:
    """The text at ``path`` (local names, child by child), whitespace collapsed; None when absent or empty."""
    found: ElementTree.Element | None = element
    for name in path:
        found = _child(found, name)
    if found is None:
        return None
    return " ".join((found.text or "").split()) or None


def _gunzip(content: bytes, *, url: str, max_bytes: int) -> bytes:
    """Decompress a gzip body, reading at most ``max_bytes`` of output (a small bomb stays small)."""
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(content)) as stream:
            data = stream.read(max_bytes + 1)
    except (OSError, EOFError, zlib.error) as error:
        raise SitemapParseError(f"cannot decompress the gzip body: {error}", source_ref=url) from error
    if len(data) > max_bytes:
        raise ResponseTooLarge(f"the decompressed sitemap went over the {max_bytes}-byte cap", source_ref=url)
    return data


def _entry(element: ElementTree.Element, loc: str) -> SitemapEntry:
    return SitemapEntry(
        loc=loc,
        lastmod=_text(element, "lastmod"),
        title=_text(element, "news", "title"),
        publication_date=_text(element, "news", "publication_date"),
        keywords=_text(element, "news", "keywords"),
        publication=_text(element, "news", "publication", "name"),
        language=_text(element, "news", "publication", "language"),
    )


def parse_sitemap(content: bytes, *, url: str, max_bytes: int) -> ParsedSitemap:
    """Parse fetched bytes (gzip or not); raises SitemapParseError when they are not a sitemap at all.
    Entries without a ``<loc>`` are left out: there is nothing to fetch or to name."""
    if content[:2] == GZIP_MAGIC:
        content = _gunzip(content, url=url, max_bytes=max_bytes)
    try:
        root = ElementTree.fromstring(content)
    except ElementTree.ParseError as error:
        raise SitemapParseError(f"not a sitemap: not well-formed XML ({error})", source_ref=url) from error
    kind = _local(root.tag)
    located = [(element, _text(element, "loc")) for element in root]
    if kind == "urlset":
        entries = [_entry(element, loc) for element, loc in located if loc and _local(element.tag) == "url"]
        return ParsedSitemap(kind, entries=entries)
    if kind == "sitemapindex":
        children = [ChildSitemap(loc, _text(element, "lastmod"))
                    for element, loc in located if loc and _local(element.tag) == "sitemap"]
        return ParsedSitemap(kind, children=children)
    raise SitemapParseError(f"not a sitemap: the root element is <{kind}>, not <urlset> or <sitemapindex>", source_ref=url)


def w3c_datetime(text: str | None) -> datetime | None:
    """A sitemap date (W3C Datetime: a date, or a date and time) in UTC; no zone means UTC; None when unreadable."""
    try:
        when = datetime.fromisoformat(text or "")
    except ValueError:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


# ---------------------------------------------------------------------------- entries


def entry_to_article(entry: SitemapEntry, sitemap: SitemapConfig, *, fetched_at: datetime, sitemap_url: str) -> RawArticle | Failure:
    """One sitemap URL as a raw article whose body is its news title (``page_article`` later swaps in
    the page), or a Failure when the URL is not a web link."""
    if not is_web_link(entry.loc):
        error = SourceError(f"not an http(s) link: {entry.loc[:200]!r}", source_ref=sitemap_url)
        return Failure.from_error(error, source=sitemap.source)
    canonical = canonical_url(entry.loc)
    dated: dict[str, Any] = {}  # in the shape entry_dates reads, so sitemaps and feeds date articles alike
    for key, text in (("published", entry.publication_date), ("updated", entry.lastmod)):
        if text:
            dated[key], dated[f"{key}_parsed"] = text, _utc_tuple(text)
    published_at, date_notes = entry_dates(dated, fetched_at)
    metadata = {"sitemap": sitemap.name, "sitemap_url": sitemap_url, "id_basis": "link", **date_notes}
    optional = {
        "lastmod": entry.lastmod,
        "keywords": entry.keywords,
        "publication": entry.publication,
        "language": entry.language or sitemap.language,
        "tags": ", ".join(sitemap.tags),
    }
    metadata.update({key: value for key, value in optional.items() if value})
    return RawArticle(
        doc_id=url_doc_id(canonical),
        source=sitemap.source,
        source_ref=canonical,
        body=entry.title or "",
        title=entry.title,
        content_type="text/plain",
        published_at=published_at,
        fetched_at=fetched_at,
        url=canonical,
        metadata=metadata,
    )


def _utc_tuple(text: str) -> time.struct_time | None:
    """What ``entry_dates`` reads as ``*_parsed`` (a UTC time tuple), or None."""
    when = w3c_datetime(text)
    return when.utctimetuple() if when else None


def _already_stored(article: RawArticle, stored: dict[str, Any] | None, *, full_text: bool) -> bool:
    """Stored with the same lastmod (or, with none, stored at all); a full-text sitemap also wants
    the page stored, so a page whose fetch failed is tried again when the sitemap lists it again."""
    if stored is None or (full_text and stored.get("html") != "page"):
        return False
    lastmod = article.metadata.get("lastmod")
    return lastmod is None or stored.get("lastmod") == lastmod


def _with_page(article: RawArticle, sitemap: SitemapConfig, context: SourceContext) -> Item:
    """The article with its page when ``full_text``; a Failure when it ends up with no body at all
    (no news title, and no page)."""
    if sitemap.full_text:
        article = page_article(article, context.fetcher)
    if article.body:
        return article
    error = SourceError(f"no news:title and no page ({article.metadata.get('full_text', 'full_text is off')})",
                        source_ref=article.source_ref, doc_id=article.doc_id)
    return Failure.from_error(error, source=sitemap.source)


# ---------------------------------------------------------------------------- polling


@dataclass
class _Listing:
    """What one poll read: each listed page with the sitemap that listed it, and how the children went."""

    pages: list[tuple[SitemapEntry, str, str]] = field(default_factory=list)  # (entry, sitemap URL, child loc or root URL)
    children: list[str] = field(default_factory=list)  # the children read this poll
    validators: dict[str, dict[str, str | None]] = field(default_factory=dict)  # children that answered 200
    failures: list[Failure] = field(default_factory=list)  # children that could not be read
    not_modified: int = 0
    skipped: int = 0  # children on a host that asked us to wait

    def report(self) -> dict[str, int]:
        return {"entries": len(self.pages), "sitemaps": len(self.children), "sitemaps_not_modified": self.not_modified,
                "sitemaps_skipped": self.skipped}


def _read_index(children: list[ChildSitemap], sitemap: SitemapConfig, state: PollState, context: SourceContext) -> _Listing:
    """Fetch the newest ``MAX_CHILD_SITEMAPS`` children, each with its own validators; a child that
    fails is a Failure naming it, not the end of the unit."""
    listing = _Listing()
    fetcher = context.fetcher
    assert fetcher.limiter is not None
    for child in sorted(children, key=lambda c: w3c_datetime(c.lastmod) or _OLDEST, reverse=True)[:MAX_CHILD_SITEMAPS]:
        listing.children.append(child.loc)
        host = urlsplit(child.loc).hostname or ""
        if fetcher.limiter.blocked_for(host) > 0:
            listing.skipped += 1
            continue
        known = state.validators.get(child.loc, {})
        try:
            fetched = fetcher.get(child.loc, etag=known.get("etag"), last_modified=known.get("last_modified"),
                                  obey_robots=True)
            if fetched.not_modified:
                listing.not_modified += 1
                continue
            parsed = parse_sitemap(fetched.content, url=fetched.final_url, max_bytes=fetcher.policy.max_bytes)
            if parsed.kind != "urlset":
                raise SitemapParseError("a sitemap index inside a sitemap index is not followed", source_ref=fetched.final_url)
        except (FetchError, SitemapParseError) as error:
            if isinstance(error, RateLimited):
                fetcher.limiter.defer(host, error.retry_after_s or DEFAULT_RETRY_AFTER.total_seconds())
            listing.failures.append(Failure.from_error(error, source=sitemap.source, source_ref=child.loc))
            continue
        listing.validators[child.loc] = {"etag": fetched.etag, "last_modified": fetched.last_modified}
        listing.pages += [(entry, fetched.final_url, child.loc) for entry in parsed.entries]
    return listing


@SOURCES.register("sitemaps")
class SitemapsSource(PolledSource):
    """Sitemaps from ``sitemaps.yaml`` (or the run's ``sitemaps`` list), one unit per sitemap."""

    kind = "sitemaps"
    list_key = "sitemaps"
    state_kind = "sitemap"
    obeys_robots = True  # a sitemap is crawler input, unlike a feed (pipelines.sources.robots)

    entry = staticmethod(sitemap_from_entry)

    def read(self, sitemap: SitemapConfig, fetched: FetchResult, state: PollState, context: SourceContext) -> Poll:
        parsed = parse_sitemap(fetched.content, url=fetched.final_url, max_bytes=context.fetcher.policy.max_bytes)
        if parsed.kind == "sitemapindex":
            listing = _read_index(parsed.children, sitemap, state, context)
        else:
            listing = _Listing(pages=[(entry, fetched.final_url, sitemap.url) for entry in parsed.entries])
        now = state.last_attempt or context.clock()
        items, report, deferred_from = self._new_pages(listing, sitemap, context, now)
        complete = not deferred_from and not listing.failures and not listing.skipped

        def commit(state: PollState) -> None:
            # Children gone from the index are forgotten; a child with pages left for later keeps its old validators.
            kept = {url: known for url, known in state.validators.items() if url in listing.children}
            state.validators = kept | {url: new for url, new in listing.validators.items() if url not in deferred_from}
            if complete:
                state.etag, state.last_modified = fetched.etag, fetched.last_modified
            state.entries_seen += len(listing.pages)
            state.last_entries = len(listing.pages)

        return Poll(items, commit, listing.report() | report)

    @staticmethod
    def _new_pages(
        listing: _Listing, sitemap: SitemapConfig, context: SourceContext, now: datetime
    ) -> tuple[list[Item], dict[str, int], set[str]]:
        """The poll's items (new pages, newest first, at most ``max_pages``; then failures), its
        report counts, and the sitemaps that listed pages left for the next poll."""
        failures = list(listing.failures)
        newest_first: dict[str, tuple[RawArticle, str]] = {}
        for entry, sitemap_url, listed_by in listing.pages:
            item = entry_to_article(entry, sitemap, fetched_at=now, sitemap_url=sitemap_url)
            if isinstance(item, Failure):
                failures.append(item)
            else:
                newest_first.setdefault(item.doc_id, (item, listed_by))  # a page listed twice: its first listing
        ordered = sorted(newest_first.values(), key=lambda pair: pair[0].published_at or _OLDEST, reverse=True)
        stored = context.store.raw.metadata(list(newest_first))
        new = [(article, listed_by) for article, listed_by in ordered
               if not _already_stored(article, stored.get(article.doc_id), full_text=sitemap.full_text)]
        taken, deferred = new[: sitemap.max_pages], new[sitemap.max_pages :]
        items: list[Item] = [_with_page(article, sitemap, context) for article, _ in taken]
        report = {"already_stored": len(ordered) - len(new), "deferred": len(deferred)}
        return items + failures, report, {listed_by for _, listed_by in deferred}
