"""Links and article pages, shared by the feed and sitemap sources.

``canonical_url`` makes the same article one document however it is linked (tracking
parameters, fragments, default ports); ``page_article`` fetches a page and keeps its HTML as the
raw article (cleaning later takes its main text), leaving a note instead when it cannot. Pages
obey robots.txt: a disallowed page is never requested, its note says why
(``blocked: robots.txt disallows …``) and the fetcher's ledger counts it.
"""

from __future__ import annotations

import dataclasses
import re
from urllib.parse import unquote, urlsplit, urlunsplit

from pipelines.errors import FetchError, RateLimited, RobotsDisallowed
from pipelines.models import RawArticle, stable_id
from pipelines.sources.http import PAGE_ACCEPT, Fetcher, decode_body
from pipelines.sources.polling import DEFAULT_RETRY_AFTER

_TRACKING_PARAMS = re.compile(
    r"utm_[a-z0-9_]*|fbclid|gclid|dclid|gbraid|wbraid|msclkid|yclid|mc_cid|mc_eid|igshid|_hsenc|_hsmi|mkt_tok|at_medium|at_campaign",
    re.IGNORECASE,
)


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


def is_web_link(link: str | None) -> bool:
    return bool(link) and urlsplit(link).scheme in ("http", "https")


def url_doc_id(canonical: str) -> str:
    """One id per canonical URL, whichever source (feed, sitemap) found the article."""
    return stable_id("url", canonical)


def page_article(article: RawArticle, fetcher: Fetcher) -> RawArticle:
    """``article`` with its page's HTML as the body (``html: page``), the source's own text kept as
    ``summary``; when the page cannot be fetched, the article as it was with a ``full_text`` note."""
    host = urlsplit(article.url or "").hostname or ""
    assert fetcher.limiter is not None
    if not article.url:
        note = "no link"
    elif fetcher.limiter.blocked_for(host) > 0:
        note = "skipped: the host asked us to wait"
    else:
        try:
            page = fetcher.get(article.url, accept=PAGE_ACCEPT, obey_robots=True)
        except RobotsDisallowed as error:
            note = f"blocked: {error.reason}"
        except RateLimited as error:
            fetcher.limiter.defer(host, error.retry_after_s or DEFAULT_RETRY_AFTER.total_seconds())
            note = f"failed: {error.reason}"
        except FetchError as error:
            note = f"failed: {error.reason}"
        else:
            html, encoding = decode_body(page.content, page.content_type)
            return dataclasses.replace(
                article, body=html, content_type="text/html", encoding=encoding,
                metadata={**article.metadata, "full_text": "fetched", "html": "page", "page_url": page.final_url,
                          "summary": article.body[:20_000], "summary_type": article.content_type},
            )
    return dataclasses.replace(article, metadata={**article.metadata, "full_text": note})
