"""RSS and Atom feeds: the feed list, parsing fetched bytes, and entries → ``RawArticle``.

Nothing here touches the network: ``pipelines.fetching`` gets the bytes and
``pipelines.feed_tasks`` runs a poll. This module is pure, so every rule is testable on a string.

* **Feed list** — ``feeds.yaml`` (``load_feed_config``) or a run's override (``feeds_from_data``);
  unknown keys, duplicate names and non-HTTP(S) URLs are errors that name the entry.
* **Parsing** — feedparser on the fetched bytes (RSS 0.9x/1.0/2.0, Atom). An ill-formed ("bozo")
  feed keeps the entries feedparser recovers; its reason is returned for the feed's state.
* **Entries** — canonical link (``utm_*`` and other click trackers and the fragment removed),
  guid, UTC dates (see ``entry_dates``), authors, categories, summary and content as text.
  The id comes from the canonical link, so the same article reached through two feeds or with
  different tracking parameters is one document; the feed's guid is used only when there is no link.
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
from urllib.parse import unquote, urlsplit, urlunsplit

from pipelines.cleaning import html_to_text
from pipelines.errors import FeedConfigError, FeedParseError
from pipelines.models import Failure, RawArticle, stable_id

NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_FEED_KEYS = {"name", "url", "tags", "language", "full_text", "min_interval_minutes", "enabled"}
# A date this far ahead of the fetch is a publisher's error (or a scheduled post), not clock skew.
FUTURE_TOLERANCE = timedelta(minutes=10)
MAX_REQUESTED_INTERVAL_S = 24 * 3600.0  # a feed asking for "yearly" is still read daily
_UPDATE_PERIODS = {"hourly": 3600, "daily": 86400, "weekly": 7 * 86400, "monthly": 30 * 86400, "yearly": 365 * 86400}
_TRACKING_PARAMS = re.compile(
    r"utm_[a-z0-9_]*|fbclid|gclid|dclid|gbraid|wbraid|msclkid|yclid|mc_cid|mc_eid|igshid|_hsenc|_hsmi|mkt_tok|at_medium|at_campaign",
    re.IGNORECASE,
)


# ---------------------------------------------------------------------------- the feed list


@dataclass(frozen=True)
class FeedConfig:
    """One feed to poll."""

    name: str  # unique, lowercase: part of the source name ``feed:<name>`` and the state id
    url: str
    tags: tuple[str, ...] = ()
    language: str | None = None  # hint recorded with each entry; extraction still detects
    full_text: bool = False  # fetch each new entry's page and extract the main text
    min_interval_minutes: int = 0  # poll no more often than this (0: every scheduled run)
    enabled: bool = True

    @property
    def source(self) -> str:
        return f"feed:{self.name}"

    def to_dict(self) -> dict[str, Any]:
        """Plain values, fit for XCom and for ``feeds_from_data``."""
        return {
            "name": self.name, "url": self.url, "tags": list(self.tags), "language": self.language,
            "full_text": self.full_text, "min_interval_minutes": self.min_interval_minutes, "enabled": self.enabled,
        }


def _feed_from_mapping(entry: object, where: str) -> FeedConfig:
    if not isinstance(entry, Mapping):
        raise FeedConfigError(f"a feed must be a mapping with name and url, got {type(entry).__name__}", source_ref=where)
    unknown = sorted(set(entry) - _FEED_KEYS)
    if unknown:
        raise FeedConfigError(f"unknown key(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(sorted(_FEED_KEYS))}", source_ref=where)
    name, url = entry.get("name"), entry.get("url")
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise FeedConfigError(f"name must match {NAME_PATTERN.pattern} (lowercase, digits, - and _), got {name!r}", source_ref=where)
    where = f"{where} ({name})"
    if not isinstance(url, str) or urlsplit(url.strip()).scheme.lower() not in ("http", "https") or not urlsplit(url.strip()).hostname:
        raise FeedConfigError(f"url must be an absolute http(s) URL, got {url!r}", source_ref=where)
    tags = entry.get("tags") or []
    if isinstance(tags, str) or not isinstance(tags, list) or not all(isinstance(t, str) and t.strip() for t in tags):
        raise FeedConfigError(f"tags must be a list of non-empty strings, got {tags!r}", source_ref=where)
    language = entry.get("language")
    if language is not None and (not isinstance(language, str) or not re.fullmatch(r"[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})?", language)):
        raise FeedConfigError(f"language must be a language code such as 'en' or 'pt-BR', got {language!r}", source_ref=where)
    flags = {}
    for key, default in (("full_text", False), ("enabled", True)):
        value = entry.get(key, default)
        if not isinstance(value, bool):
            raise FeedConfigError(f"{key} must be true or false, got {value!r}", source_ref=where)
        flags[key] = value
    interval = entry.get("min_interval_minutes", 0)
    if isinstance(interval, bool) or not isinstance(interval, int) or interval < 0:
        raise FeedConfigError(f"min_interval_minutes must be a whole number ≥ 0, got {interval!r}", source_ref=where)
    return FeedConfig(
        name=name, url=url.strip(), tags=tuple(t.strip() for t in tags), language=language,
        min_interval_minutes=interval, **flags,
    )


def feeds_from_data(data: object, *, origin: str) -> list[FeedConfig]:
    """Validate a feed list: ``{"feeds": [...]}`` (the file's shape) or a bare list (a run's override)."""
    if isinstance(data, Mapping):
        unknown = sorted(set(data) - {"version", "feeds"})
        if unknown:
            raise FeedConfigError(f"unknown top-level key(s) {', '.join(map(repr, unknown))}; expected version and feeds", source_ref=origin)
        if data.get("version", 1) != 1:
            raise FeedConfigError(f"unsupported version {data.get('version')!r} (this newsflow reads version 1)", source_ref=origin)
        data = data.get("feeds")
    if not isinstance(data, list) or not data:
        raise FeedConfigError("expected a non-empty list of feeds", source_ref=origin)
    feeds = [_feed_from_mapping(entry, f"{origin}: feeds[{index}]") for index, entry in enumerate(data)]
    seen: dict[str, str] = {}
    for feed in feeds:
        if feed.name in seen:
            raise FeedConfigError(f"feed name {feed.name!r} is used twice", source_ref=origin)
        seen[feed.name] = feed.url
    return feeds


def load_feed_config(path: Path) -> list[FeedConfig]:
    """The feeds in a YAML file (see ``feeds.yaml``); raises FeedConfigError with the file and entry."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise FeedConfigError(f"cannot read feed list: {error.strerror or error}", source_ref=str(path)) from error
    except yaml.YAMLError as error:
        raise FeedConfigError(f"not valid YAML: {error}", source_ref=str(path)) from error
    return feeds_from_data(data, origin=str(path))


def select_feeds(feeds: list[FeedConfig], names: list[str] | None) -> list[FeedConfig]:
    """Enabled feeds, or exactly the named ones (enabled or not); unknown names are an error."""
    if not names:
        return [feed for feed in feeds if feed.enabled]
    by_name = {feed.name: feed for feed in feeds}
    missing = [name for name in names if name not in by_name]
    if missing:
        raise FeedConfigError(f"no feed named {', '.join(map(repr, missing))}; known: {', '.join(sorted(by_name))}", source_ref="feed selection")
    return [by_name[name] for name in names]


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


def canonical_url(url: str) -> str:
    """The link without click-tracking parameters or fragment, with a lowercase scheme and host
    and no default port; other parameters keep their order and encoding."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    netloc = host if port is None or (scheme, port) in (("http", 80), ("https", 443)) else f"{host}:{port}"
    kept = [
        pair for pair in parts.query.split("&")
        if pair and not _TRACKING_PARAMS.fullmatch(unquote(pair.split("=", 1)[0]))
    ]
    return urlunsplit((scheme, netloc, parts.path or "/", "&".join(kept), ""))


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


def _text(detail: Mapping[str, Any] | None, value: str | None) -> str:
    if not value:
        return ""
    kind = (detail or {}).get("type", "text/html")
    return html_to_text(value) if "html" in kind else " ".join(value.split())


def entry_text(entry: Mapping[str, Any]) -> tuple[str, str, str]:
    """(body, summary, where the body came from): the longest ``content`` item, else the summary."""
    summary = _text(entry.get("summary_detail"), entry.get("summary"))
    contents = [_text(item, item.get("value")) for item in entry.get("content") or []]
    best = max(contents, key=len, default="")
    if best and len(best) >= len(summary):
        return best, summary, "content"
    return summary, summary, "summary"


def _names(items: Any, key: str) -> list[str]:
    values = []
    for item in items or []:
        value = item.get(key) if isinstance(item, Mapping) else None
        if value and value.strip() and value.strip() not in values:
            values.append(value.strip())
    return values


def entry_to_article(entry: Mapping[str, Any], feed: FeedConfig, *, fetched_at: datetime, feed_url: str) -> RawArticle | Failure:
    """One feed entry as a raw article, or a Failure naming what it lacks."""
    link = entry.get("link")
    guid = (entry.get("id") or "").strip()
    canonical = canonical_url(link) if link and urlsplit(link).scheme in ("http", "https") else None
    title_detail = entry.get("title_detail")
    title = _text(title_detail, entry.get("title")) or None
    body, summary, body_source = entry_text(entry)
    if canonical:
        doc_id, ref, id_basis = stable_id("url", canonical), canonical, "link"
    elif guid:
        doc_id, ref, id_basis = stable_id("guid", feed.name, guid), guid, "guid"
    else:
        ref = f"{feed_url}#entry:{(title or body)[:80]}"
        return Failure("read", ref, "FeedEntryError", "entry has neither a link nor a guid", source=feed.source)
    if not body:
        if not title:
            return Failure("read", ref, "FeedEntryError", "entry has no title, summary or content", doc_id, source=feed.source)
        body, body_source = title, "title"
    published_at, date_notes = entry_dates(entry, fetched_at)
    metadata = {
        "feed": feed.name,
        "feed_url": feed_url,
        "id_basis": id_basis,
        "body_source": body_source,
        **date_notes,
    }
    optional = {
        "guid": guid,
        "authors": "; ".join(_names(entry.get("authors"), "name") or ([entry["author"]] if entry.get("author") else [])),
        "categories": "; ".join(_names(entry.get("tags"), "term")),
        "tags": ", ".join(feed.tags),
        "language": feed.language or "",
        "summary": summary[:2000] if summary != body else "",
    }
    metadata.update({key: value for key, value in optional.items() if value})
    return RawArticle(
        doc_id=doc_id,
        source=feed.source,
        source_ref=ref,
        body=body,
        title=title,
        published_at=published_at,
        fetched_at=fetched_at,
        url=canonical,
        metadata=metadata,
    )


def read_entries(parsed: ParsedFeed, feed: FeedConfig, *, fetched_at: datetime, feed_url: str) -> Iterator[RawArticle | Failure]:
    """Every entry of a parsed feed as a raw article or a Failure (a source, in the folder source's style).

    Two entries with the same id in one document (feeds repeat items) yield the first only.
    """
    seen: set[str] = set()
    for entry in parsed.entries:
        try:
            item = entry_to_article(entry, feed, fetched_at=fetched_at, feed_url=feed_url)
        except Exception as error:  # one odd entry must not stop the feed
            yield Failure("read", f"{feed_url}#entry", type(error).__name__, str(error), source=feed.source)
            continue
        if isinstance(item, RawArticle):
            if item.doc_id in seen:
                continue
            seen.add(item.doc_id)
        yield item
