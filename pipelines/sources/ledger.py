"""The politeness ledger: what we asked of each host, counted where the requests are made (``Fetcher``).

Per host (``host``, or ``host:port`` off the default port):

* ``requests`` — every HTTP request sent: redirect hops (each at its own host) and robots.txt included;
* ``bytes`` — response bodies as read (after gzip decoding), ``not_modified`` — 304 answers;
* ``retry_after_responses`` / ``retry_after_s`` — 429/503 answers and the wait they asked for;
* ``waited_s`` — time spent waiting for the host's interval (``Crawl-delay`` included);
* ``robots_allowed`` / ``robots_blocked`` — page and sitemap URLs robots.txt let through or
  stopped (a blocked URL is never requested; the first few are kept in ``blocked_urls``);
* ``errors`` — other fetches that failed (timeouts, connection errors, HTTP errors; a missing
  robots.txt is no error) and their error types.

Outcomes (bytes, 304, errors) count at the host of the URL asked for. ``drain()`` hands the
counts over and starts afresh: the pipeline stores them after each unit, or each batch of units
read at once by several threads (see ``pipelines.store.politeness``), so one entry holds one
unit's or one batch's requests. Thread-safe: the threads of a batch share one fetcher and ledger.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

from pipelines.errors import FetchError, HTTPStatusError, RateLimited

MAX_BLOCKED_URLS = 20


def authority(url: str) -> str:
    """``host`` or ``host:port`` when the port is not the scheme's default: what the ledger counts by."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    return host if port in (None, default) else f"{host}:{port}"


@dataclass
class HostCounts:
    host: str
    requests: int = 0
    bytes: int = 0
    not_modified: int = 0
    retry_after_responses: int = 0
    retry_after_s: float = 0.0
    waited_s: float = 0.0
    robots_allowed: int = 0
    robots_blocked: int = 0
    blocked_urls: list[str] = field(default_factory=list)
    errors: int = 0
    error_types: list[str] = field(default_factory=list)  # distinct error classes, in order of first failure
    crawl_delay_s: float | None = None  # the robots.txt Crawl-delay in force, when it set one

    @property
    def not_modified_share(self) -> float:
        return self.not_modified / self.requests if self.requests else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "not_modified_share": round(self.not_modified_share, 4),
                "retry_after_s": round(self.retry_after_s, 3), "waited_s": round(self.waited_s, 3)}


class PolitenessLedger:
    def __init__(self) -> None:
        self._hosts: dict[str, HostCounts] = {}
        self._lock = threading.Lock()

    def _host(self, url: str) -> HostCounts:
        key = authority(url)
        return self._hosts.setdefault(key, HostCounts(key))

    def request(self, url: str, *, waited_s: float = 0.0) -> None:
        with self._lock:
            counts = self._host(url)
            counts.requests += 1
            counts.waited_s += max(waited_s, 0.0)

    def response(self, url: str, *, status: int, size: int) -> None:
        with self._lock:
            counts = self._host(url)
            counts.bytes += size
            counts.not_modified += status == 304

    def failure(self, url: str, error: FetchError) -> None:
        with self._lock:
            counts = self._host(url)
            if isinstance(error, RateLimited):  # the host asked us to wait: not an error of ours or its
                counts.retry_after_responses += 1
                counts.retry_after_s += error.retry_after_s or 0.0
                return
            if isinstance(error, HTTPStatusError) and error.status < 500 and urlsplit(url).path == "/robots.txt":
                return  # no robots.txt: an ordinary answer ("no rules"), not an error
            counts.errors += 1
            if type(error).__name__ not in counts.error_types:
                counts.error_types.append(type(error).__name__)

    def robots(self, url: str, *, allowed: bool, crawl_delay_s: float | None = None) -> None:
        with self._lock:
            counts = self._host(url)
            if crawl_delay_s:
                counts.crawl_delay_s = crawl_delay_s
            if allowed:
                counts.robots_allowed += 1
                return
            counts.robots_blocked += 1
            if len(counts.blocked_urls) < MAX_BLOCKED_URLS:
                counts.blocked_urls.append(url)

    def drain(self) -> list[HostCounts]:
        """The counts so far, by host; the ledger starts again from zero."""
        with self._lock:
            hosts, self._hosts = self._hosts, {}
        return sorted(hosts.values(), key=lambda counts: counts.host)
