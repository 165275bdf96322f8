"""RSS and Atom feeds: the feed list, parsing fetched bytes, entries → ``RawArticle``, and polling.

* **Feed list** — ``feeds.yaml`` (``Settings.feeds_config``) or a run's override; see
  ``pipelines.sources.listing`` for validation.
* **Parsing** — feedparser on the fetched bytes (RSS 0.9x/1.0/2.0, Atom). An ill-formed ("bozo")
  feed keeps the entries feedparser recovers; its reason is kept in the feed's state.
* **Entries** — canonical link, guid, UTC dates (see ``entry_dates``), authors, categories; the
  body is the entry's content or summary *as delivered* (HTML stays HTML: cleaning converts it).
  The id comes from the canonical link, so the same article reached through two feeds, a
  sitemap, or with different tracking parameters is one document; the guid only when there is no
  link, or when an earlier entry of the same feed already has that link under another guid (a
  feed linking every entry to its homepage): that entry keeps its own document, noted
  ``id_basis: guid`` and ``link_shared_with``, instead of vanishing. An entry that fails gets
  its own reference, ``{feed_url}#entry:{guid, else link, else position}``.
* **Polling** — ``FeedsSource``: one unit per feed, conditional GET, ttl, backoff and Retry-After
  (``pipelines.sources.polling``); with ``full_text`` each new entry's page is fetched and stored.
"""

from __future__ import annotations

import io
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pipelines.errors import FeedParseError, SourceError
from pipelines.models import Failure, RawArticle, stable_id
from pipelines.sources.base import SOURCES, Item, SourceContext
from pipelines.sources.http import FetchResult
from pipelines.sources.listing import EntryReader, entries_from_data, load_entries
from pipelines.sources.pages import canonical_url, is_web_link, page_article, url_doc_id
from pipelines.sources.polling import Poll, PolledConfig, PolledSource, PollState

_FEED_KEYS = {"name", "url", "tags", "language", "full_text", "min_interval_minutes", "enabled"}
# A date this far ahead of the fetch is a publisher's error (or a scheduled post), not clock skew.
FUTURE_TOLERANCE = timedelta(minutes=10)
MAX_REQUESTED_INTERVAL_S = 24 * 3600.0  # a feed asking for "yearly" is still read daily
_UPDATE_PERIODS = {"hourly": 3600, "daily": 86400, "weekly": 7 * 86400, "monthly": 30 * 86400, "yearly": 365 * 86400}


# ---------------------------------------------------------------------------- the feed list


@dataclass(frozen=True)
class FeedConfig(PolledConfig):
    """One feed to poll."""

    source_kind = "feed"


def feed_from_entry(entry: object, where: str) -> FeedConfig:
    read = EntryReader(entry, where, _FEED_KEYS)
    return FeedConfig(
        name=read.name, url=read.url(), tags=read.tags(), language=read.language(),
        full_text=read.flag("full_text", False), enabled=read.flag("enabled", True),
        min_interval_minutes=read.count("min_interval_minutes", 0),
    )


def feeds_from_data(data: object, *, origin: str) -> list[FeedConfig]:
    """Validate a feed list: ``{"feeds": [...]}`` (the file's shape) or a bare list (a run's override)."""
    return entries_from_data(data, key="feeds", origin=origin, make=feed_from_entry)


def load_feed_config(path: Path) -> list[FeedConfig]:
    """The feeds in a YAML file (see ``feeds.yaml``); raises FeedConfigError with the file and entry."""
    return load_entries(path, key="feeds", make=feed_from_entry)


# ---------------------------------------------------------------------------- parsing


@dataclass(frozen=True)
class ParsedFeed:
    version: str  # feedparser's: rss20, rss10, atom10, …; "" when not recognised
    title: str | None
    entries: list[Any] = field(default_factory=list)  # feedparser entry dicts
    bozo_reason: str | None = None
    requested_interval_s: float | None = None  # from ttl / sy:updatePeriod, capped


def parse_feed(content: bytes, *, url: str, content_type: str | None = None) -> ParsedFeed:
    """Parse fetched bytes; raises FeedParseError when they are not a feed at all."""
    import feedparser

    headers = {"content-location": url}
    if content_type:
        headers["content-type"] = content_type
    # A BytesIO, never the bytes themselves: feedparser treats a string that looks like a URL as one to fetch.
    parsed = feedparser.parse(io.BytesIO(content), response_headers=headers)
    bozo_reason = None
    if parsed.get("bozo"):
        error = parsed.get("bozo_exception")
        bozo_reason = f"{type(error).__name__}: {error}" if error is not None else "ill-formed feed"
    if not parsed.get("version") and not parsed.entries:
        shown = content_type or "no content type"
        raise FeedParseError(f"not an RSS or Atom feed ({shown}){': ' + bozo_reason if bozo_reason else ''}", source_ref=url)
    return ParsedFeed(
        version=parsed.get("version") or "",
        title=parsed.feed.get("title"),
        entries=list(parsed.entries),
        bozo_reason=bozo_reason,
        requested_interval_s=requested_interval(parsed.feed),
    )


def requested_interval(feed: Mapping[str, Any]) -> float | None:
    """How often the feed asks to be polled, in seconds: the longer of RSS ``ttl`` (minutes) and
    ``sy:updatePeriod`` / ``sy:updateFrequency``; capped at ``MAX_REQUESTED_INTERVAL_S``."""
    asked = []
    ttl = str(feed.get("ttl") or "").strip()
    if ttl.isdigit() and int(ttl) > 0:
        asked.append(int(ttl) * 60.0)
    period = _UPDATE_PERIODS.get(str(feed.get("sy_updateperiod") or "").strip().lower())
    if period:
        frequency = str(feed.get("sy_updatefrequency") or "1").strip()
        asked.append(period / (int(frequency) if frequency.isdigit() and int(frequency) > 0 else 1))
    return min(max(asked), MAX_REQUESTED_INTERVAL_S) if asked else None


# ---------------------------------------------------------------------------- entries


def _utc(parsed: time.struct_time | None) -> datetime | None:
    if parsed is None:
        return None
    try:
        return datetime(*parsed[:6], tzinfo=UTC)
    except (TypeError, ValueError):
        return None


def entry_dates(entry: Mapping[str, Any], fetched_at: datetime) -> tuple[datetime | None, dict[str, str]]:
    """The entry's publication time in UTC, and notes on how it was chosen.

    ``published`` first, else ``updated``. Missing or unreadable: None (never invented; the fetch
    time is recorded separately). More than ``FUTURE_TOLERANCE`` after the fetch: the fetch time,
    with the claimed date kept in ``published_at_claimed``.
    """
    for key in ("published", "updated"):
        when = _utc(entry.get(f"{key}_parsed"))
        if when is None:
            continue
        if when > fetched_at + FUTURE_TOLERANCE:
            return fetched_at, {"date_source": "future", "published_at_claimed": when.isoformat()}
        return when, {"date_source": key}
    raw = entry.get("published") or entry.get("updated")
    if raw:
        return None, {"date_source": "unreadable", "published_at_claimed": str(raw)[:100]}
    return None, {"date_source": "missing"}


def _content_type(detail: Mapping[str, Any] | None) -> str:
    return "text/html" if "html" in (detail or {}).get("type", "text/html") else "text/plain"


def entry_content(entry: Mapping[str, Any]) -> tuple[str, str, str, str]:
    """(body, its content type, the summary, where the body came from) as the feed delivered them:
    the longest ``content`` item, else the summary. Markup is kept; cleaning turns it into text."""
    summary = (entry.get("summary") or "").strip()
    summary_type = _content_type(entry.get("summary_detail"))
    contents = [(item.get("value") or "").strip() for item in entry.get("content") or []]
    best = max(range(len(contents)), key=lambda i: len(contents[i]), default=None)
    if best is not None and contents[best] and len(contents[best]) >= len(summary):
        return contents[best], _content_type(entry["content"][best]), summary, "content"
    return summary, summary_type, summary, "summary"


def _names(items: Any, key: str) -> list[str]:
    values = []
    for item in items or []:
        value = item.get(key) if isinstance(item, Mapping) else None
        if value and value.strip() and value.strip() not in values:
            values.append(value.strip())
    return values


def entry_ref(entry: Mapping[str, Any], feed_url: str, position: int) -> str:
    """A failing entry's own reference: its guid, else its link, else its position in the feed."""
    guid = str(entry.get("id") or "").strip() if isinstance(entry, Mapping) else ""
    link = str(entry.get("link") or "").strip() if isinstance(entry, Mapping) else ""
    return f"{feed_url}#entry:{guid or link or position}"


def entry_to_article(
    entry: Mapping[str, Any], feed: FeedConfig, *, fetched_at: datetime, feed_url: str, position: int = 0,
    link_taken_by: str | None = None,
) -> RawArticle | Failure:
    """One feed entry as a raw article, or a Failure naming what it lacks. ``link_taken_by``: the
    guid of an earlier entry of this feed with the same canonical link (this one is then keyed by
    its own guid)."""
    link = entry.get("link")
    guid = (entry.get("id") or "").strip()
    canonical = canonical_url(link) if is_web_link(link) else None
    title = " ".join((entry.get("title") or "").split()) or None
    title_type = _content_type(entry.get("title_detail")) if title else None
    body, content_type, summary, body_source = entry_content(entry)
    notes: dict[str, str] = {}
    if canonical and link_taken_by is not None and guid:
        doc_id, ref, id_basis = stable_id("guid", feed.name, guid), guid, "guid"
        notes = {"link_shared_with": link_taken_by or "(an entry without a guid)"}
    elif canonical:
        doc_id, ref, id_basis = url_doc_id(canonical), canonical, "link"
    elif guid:
        doc_id, ref, id_basis = stable_id("guid", feed.name, guid), guid, "guid"
    else:
        error = SourceError("entry has neither a link nor a guid", source_ref=entry_ref(entry, feed_url, position))
        return Failure.from_error(error, source=feed.source)
    if not body:
        if not title:
            error = SourceError("entry has no title, summary or content", source_ref=entry_ref(entry, feed_url, position),
                                doc_id=doc_id)
            return Failure.from_error(error, source=feed.source)
        body, content_type, body_source = title, "text/plain", "title"
    published_at, date_notes = entry_dates(entry, fetched_at)
    metadata = {
        "feed": feed.name,
        "feed_url": feed_url,
        "id_basis": id_basis,
        "body_source": body_source,
        "html": "fragment",
        **({"title_type": title_type} if title_type == "text/html" else {}),
        **date_notes,
        **notes,
    }
    optional = {
        "guid": guid,
        "authors": "; ".join(_names(entry.get("authors"), "name") or ([entry["author"]] if entry.get("author") else [])),
        "categories": "; ".join(_names(entry.get("tags"), "term")),
        "tags": ", ".join(feed.tags),
        "language": feed.language or "",
        "summary": summary[:20_000] if summary != body else "",
    }
    metadata.update({key: value for key, value in optional.items() if value})
    return RawArticle(
        doc_id=doc_id,
        source=feed.source,
        source_ref=ref,
        body=body,
        title=title,
        content_type=content_type,
        published_at=published_at,
        fetched_at=fetched_at,
        url=canonical,
        metadata=metadata,
    )


def read_entries(parsed: ParsedFeed, feed: FeedConfig, *, fetched_at: datetime, feed_url: str) -> Iterator[RawArticle | Failure]:
    """Every entry of a parsed feed as a raw article or a Failure (a source, in the folder source's style).

    An entry repeated in one document (same id, and no other guid) is the same item: the first
    is kept. An entry whose link an earlier entry already has, but whose guid differs, is a
    different item and is keyed by its guid (see ``entry_to_article``).
    """
    seen: set[str] = set()
    guids_by_link: dict[str, str] = {}  # canonical link → the guid of the first entry that had it
    for position, entry in enumerate(parsed.entries):
        try:
            link = entry.get("link")
            canonical = canonical_url(link) if is_web_link(link) else None
            guid = (entry.get("id") or "").strip()
            taken_by = guids_by_link.get(canonical) if canonical else None
            collides = taken_by is not None and bool(guid) and guid != taken_by
            item = entry_to_article(entry, feed, fetched_at=fetched_at, feed_url=feed_url, position=position,
                                    link_taken_by=taken_by if collides else None)
        except Exception as error:  # noqa: BLE001 — one odd entry must not stop the feed
            yield Failure.from_error(error, source=feed.source, source_ref=entry_ref(entry, feed_url, position))
            continue
        if isinstance(item, RawArticle):
            if item.doc_id in seen:
                continue
            seen.add(item.doc_id)
            if canonical:
                guids_by_link.setdefault(canonical, guid)
        yield item


# One entry's end in RSS, RDF or Atom, with or without a namespace prefix.
_ENTRY_END = re.compile(rb"</(?:[\w.-]+:)?(?:item|entry)\s*>", re.IGNORECASE)


def cap_entries(content: bytes, max_entries: int) -> tuple[bytes, int]:
    """The feed cut after its first ``max_entries`` entries, and how many it had.

    Parsing is what costs (feedparser takes seconds per thousand entries), so a feed of ten
    thousand entries is cut before it is parsed: the document is closed after the last entry
    kept, and feedparser's lenient parser reads the rest as usual."""
    ends = [match.end() for match in _ENTRY_END.finditer(content)]
    if len(ends) <= max_entries:
        return content, len(ends)
    head = content[: ends[max_entries - 1]] if max_entries else content[: content.find(b"<", 1)]
    closing = b"</feed>" if re.search(rb"<(?:[\w.-]+:)?feed[\s>]", head[:4096]) else b"</channel></rss>"
    return head + closing, len(ends)


def over_cap_failures(feed: FeedConfig, feed_url: str, total: int, cap: int) -> list[Failure]:
    """One failure per entry past the cap, each under its position in the feed."""
    return [
        Failure.from_error(SourceError(f"not read: the feed has {total:,} entries, over the cap of {cap:,} per feed "
                                       "(NEWSFLOW_FEEDS_MAX_ENTRIES)", source_ref=f"{feed_url}#entry:{position}"),
                           source=feed.source)
        for position in range(cap, total)
    ]


# ---------------------------------------------------------------------------- polling


@SOURCES.register("feeds")
class FeedsSource(PolledSource):
    """Feeds from ``feeds.yaml`` (or the run's ``feeds`` list), one unit per feed."""

    kind = "feeds"
    list_key = "feeds"
    state_kind = "feed"

    entry = staticmethod(feed_from_entry)

    def read(self, feed: FeedConfig, fetched: FetchResult, state: PollState, context: SourceContext) -> Poll:
        content, total = cap_entries(fetched.content, context.settings.max_entries_per_feed)
        parsed = parse_feed(content, url=fetched.final_url, content_type=fetched.content_type)

        def commit(state: PollState) -> None:
            state.etag, state.last_modified = fetched.etag, fetched.last_modified
            state.bozo, state.bozo_reason = parsed.bozo_reason is not None, parsed.bozo_reason
            state.requested_interval_s = parsed.requested_interval_s
            state.entries_seen += len(parsed.entries)
            state.last_entries = len(parsed.entries)

        items: list[Item] = list(read_entries(parsed, feed, fetched_at=state.last_attempt or context.clock(),
                                              feed_url=fetched.final_url))
        items += over_cap_failures(feed, fetched.final_url, total, context.settings.max_entries_per_feed)
        report = {"entries": max(total, len(parsed.entries))}
        if feed.full_text:
            items, report["already_stored"] = _with_pages(items, context)
        return Poll(items, commit, report)


def _with_pages(items: list[Item], context: SourceContext) -> tuple[list[Item], int]:
    """Each new entry with its page (see ``page_article``); entries whose page is already stored are
    left out, so a page is fetched once, not on every poll."""
    stored = context.store.raw.metadata([item.doc_id for item in items if isinstance(item, RawArticle)])
    kept: list[Item] = []
    for item in items:
        if isinstance(item, RawArticle) and stored.get(item.doc_id, {}).get("html") == "page":
            continue
        kept.append(page_article(item, context.fetcher) if isinstance(item, RawArticle) else item)
    return kept, len(items) - len(kept)
