"""robots.txt for page fetches: read once per origin, cached with its own expiry, parsed by Protego.

**What obeys it**: article pages (full text) and sitemaps, the URLs a crawler walks. Feeds do
not: a feed is published to be polled by feed readers on subscribers' behalf, and feed readers
(Miniflux, NetNewsWire, Feedly) do not consult robots.txt for the feed URL; sites that disallow
crawlers everywhere still serve their feeds. A feed poll stays polite by other means: the host
interval, conditional GET, Retry-After, ttl, and a host's ``Crawl-delay`` once it is known.

**Reading an answer** (RFC 9309 and Google's documented handling):

* 2xx — the rules (at most the first 500 KiB); kept for the response's ``Cache-Control:
  max-age`` clamped to 1–24 hours, 24 hours when it gives none.
* 4xx other than 429 — there are no rules: everything is allowed; kept 24 hours.
* 429, 5xx, unreachable (timeouts, connection errors, too many redirects, a body over the size
  cap) — everything is disallowed and robots.txt is asked again after an hour; rules read
  successfully within the last 30 days are used instead, as Google does.

The ``Crawl-delay`` of the group that matches our product token spaces requests to the host
(``Fetcher`` applies it). Rules live in memory for the fetcher and in the state store (kind
``robots``, one entry per origin), so the tasks of a run, and later runs, share one copy until
it expires.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pipelines.errors import FetchError, FetchRefused, HTTPStatusError
from pipelines.settings import ROBOTS_TOKEN
from pipelines.sources.ledger import authority

if TYPE_CHECKING:
    from protego import Protego

    from pipelines.sources.http import FetchResult
    from pipelines.store import StateStore

STATE_KIND = "robots"
MAX_ROBOTS_BYTES = 500 * 1024  # Google reads the first 500 KiB and ignores the rest
DEFAULT_LIFETIME = timedelta(hours=24)
MIN_LIFETIME = timedelta(hours=1)
UNREACHABLE_RETRY = timedelta(hours=1)
STALE_IF_ERROR = timedelta(days=30)
ROBOTS_ACCEPT = "text/plain, */*;q=0.1"
_MAX_AGE = re.compile(r"(?:^|,)\s*(?:s-maxage|max-age)\s*=\s*\"?(\d+)", re.IGNORECASE)
_NO_STORE = re.compile(r"(?:^|,)\s*no-(?:store|cache)\b", re.IGNORECASE)

Fetch = Callable[[str], "FetchResult"]

# What a host's robots.txt lets us do: "rules" (a 2xx body), "allow_all" (4xx), "disallow_all" (unreachable).
RULES, ALLOW_ALL, DISALLOW_ALL = "rules", "allow_all", "disallow_all"


def origin_of(url: str) -> str:
    """``scheme://host[:port]``: robots.txt applies to one origin (RFC 9309 §2.3)."""
    return f"{urlsplit(url).scheme.lower()}://{authority(url)}"


def lifetime(cache_control: str | None) -> timedelta:
    """How long a 2xx robots.txt is kept: its max-age clamped to [1 h, 24 h]; 1 h for no-store/no-cache."""
    value = cache_control or ""
    if _NO_STORE.search(value):
        return MIN_LIFETIME
    match = _MAX_AGE.search(value)
    if not match:
        return DEFAULT_LIFETIME
    return min(max(timedelta(seconds=int(match.group(1))), MIN_LIFETIME), DEFAULT_LIFETIME)


@dataclass(frozen=True)
class RobotsRules:
    """One origin's robots.txt as last read, and until when it holds."""

    origin: str
    verdict: str  # RULES, ALLOW_ALL or DISALLOW_ALL
    fetched_at: datetime
    expires_at: datetime
    detail: str  # what the answer was: "HTTP 200", "HTTP 404", "HTTP 503 (Retry-After 60s)", …
    body: str = ""
    good_at: datetime | None = None  # when ``body`` was read with a 2xx (kept through outages)

    @cached_property
    def _parser(self) -> Protego:
        from protego import Protego

        return Protego.parse(self.body)

    def allows(self, url: str) -> bool:
        if self.verdict != RULES:
            return self.verdict == ALLOW_ALL
        return self._parser.can_fetch(url, ROBOTS_TOKEN)

    @property
    def crawl_delay_s(self) -> float | None:
        delay = self._parser.crawl_delay(ROBOTS_TOKEN) if self.verdict == RULES else None
        return delay if delay and delay > 0 else None

    def why_blocked(self) -> str:
        if self.verdict == DISALLOW_ALL:
            return f"robots.txt disallows every page for now: {self.origin}/robots.txt could not be read ({self.detail})"
        return f"robots.txt disallows this page for {ROBOTS_TOKEN} ({self.origin}/robots.txt)"

    def to_state(self) -> dict[str, Any]:
        return {"url": f"{self.origin}/robots.txt", "verdict": self.verdict, "detail": self.detail, "body": self.body,
                "fetched_at": self.fetched_at.isoformat(), "expires_at": self.expires_at.isoformat(),
                "good_at": self.good_at.isoformat() if self.good_at else None, "updated_at": self.fetched_at.isoformat()}

    @classmethod
    def from_state(cls, origin: str, state: dict[str, Any] | None) -> RobotsRules | None:
        try:
            return cls(origin=origin, verdict=state["verdict"], detail=state["detail"], body=state.get("body") or "",
                       fetched_at=datetime.fromisoformat(state["fetched_at"]),
                       expires_at=datetime.fromisoformat(state["expires_at"]),
                       good_at=datetime.fromisoformat(state["good_at"]) if state.get("good_at") else None)
        except (TypeError, KeyError, ValueError):
            return None  # absent, or written by something else: read robots.txt again


def read_robots(origin: str, fetch: Fetch, *, now: datetime, previous: RobotsRules | None = None) -> RobotsRules:
    """Fetch ``origin``'s robots.txt and read the answer as the module docstring says.

    ``FetchRefused`` (the SSRF guard) propagates: the page on that origin is refused as well."""
    try:
        result = fetch(f"{origin}/robots.txt")
    except FetchRefused:
        raise
    except HTTPStatusError as error:
        if 400 <= error.status < 500:
            return RobotsRules(origin, ALLOW_ALL, now, now + DEFAULT_LIFETIME, f"HTTP {error.status}")
        detail = f"HTTP {error.status}"
    except FetchError as error:
        detail = error.reason
    else:
        body = result.content[:MAX_ROBOTS_BYTES].decode("utf-8", errors="replace")
        return RobotsRules(origin, RULES, now, now + lifetime(result.cache_control), f"HTTP {result.status}",
                           body=body, good_at=now)
    if previous is not None and previous.good_at is not None and now - previous.good_at <= STALE_IF_ERROR:
        return replace(previous, fetched_at=now, expires_at=now + UNREACHABLE_RETRY,
                       detail=f"{detail}; using the copy read at {previous.good_at.isoformat()}")
    return RobotsRules(origin, DISALLOW_ALL, now, now + UNREACHABLE_RETRY, detail)


@dataclass
class RobotsCache:
    """Rules per origin: in memory, then the state store, then the origin itself once expired."""

    state: StateStore | None = None
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    _memory: dict[str, RobotsRules] = field(default_factory=dict, init=False, repr=False)
    _locks: dict[str, threading.Lock] = field(default_factory=dict, init=False, repr=False)
    _guard: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def rules_for(self, url: str, fetch: Fetch) -> RobotsRules:
        origin = origin_of(url)
        with self._guard:
            lock = self._locks.setdefault(origin, threading.Lock())
        with lock:  # one robots.txt request per origin, however many threads ask at once
            now = self.clock()
            rules = self._memory.get(origin)
            if rules is None and self.state is not None:
                rules = RobotsRules.from_state(origin, self.state.load(STATE_KIND, origin))
            if rules is None or rules.expires_at <= now:
                rules = read_robots(origin, fetch, now=now, previous=rules)
                if self.state is not None:
                    self.state.save(STATE_KIND, origin, rules.to_state())
            self._memory[origin] = rules
            return rules
