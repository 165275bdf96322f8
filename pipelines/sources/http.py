"""HTTP fetching for feeds, sitemaps and article pages: polite, bounded, and never pointed inside the network.

One ``Fetcher`` serves a whole run (a feed and its article pages share its politeness):

* **SSRF guard** — only ``http``/``https``; the host is resolved *before* any connection and
  refused when any of its addresses is loopback, private, link-local (cloud metadata at
  169.254.169.254), multicast, reserved or otherwise not globally routable, unless it falls in
  ``FetchPolicy.allowed_networks``. The connection then goes to the address that was checked
  (the URL is pinned to it; ``Host`` and TLS SNI keep the name), so DNS cannot change the answer
  in between. Redirects are followed by hand, and every target goes through the same guard.
* **Bounds** — connect, read and total time limits; the total limit covers every phase: a
  watchdog shuts the connection's socket down at the deadline, so a server that dribbles its
  headers (or body) a byte at a time cannot outlast it. The body is streamed and cut off at
  ``max_bytes`` (counted after gzip decoding, so a compressed bomb is caught too); at most
  ``max_redirects`` hops.
* **Politeness** — a clear User-Agent, ``Accept-Encoding: gzip``, conditional GET
  (``If-None-Match`` / ``If-Modified-Since``), per host a minimum interval between request starts
  and at most ``max_host_connections`` requests in flight, and 429/503 reported with the
  server's ``Retry-After`` (never retried in a tight loop).
* **Concurrency** — a ``Fetcher`` is thread-safe: the threads of one run share its connection
  pool (at most ``max_connections``), its per-host limits (a ``Crawl-delay`` included), its
  robots.txt cache and its ledger, so fetching many hosts at once never means asking one host
  more often.
* **robots.txt** — ``get(..., obey_robots=True)`` (pages, sitemaps) checks every hop against its
  origin's robots.txt first (``pipelines.sources.robots``): a disallowed URL raises
  ``RobotsDisallowed`` and is never requested; a ``Crawl-delay`` widens the host's interval.
* **Ledger** — every request and outcome is counted per host in ``ledger``
  (``pipelines.sources.ledger``).

The httpx client is passed in or built here: tests hand in one with event hooks to prove that
a refused URL never produced a request.
"""

from __future__ import annotations

import codecs
import ipaddress
import re
import socket
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

from pipelines.errors import (
    FetchError,
    FetchRefused,
    FetchTimeout,
    HTTPStatusError,
    RateLimited,
    ResponseTooLarge,
    RobotsDisallowed,
    TooManyRedirects,
)
from pipelines.sources.ledger import PolitenessLedger

if TYPE_CHECKING:
    import httpx

    from pipelines.sources.robots import RobotsCache

from pipelines.settings import FetchPolicy

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[str]]

FEED_ACCEPT = "application/rss+xml, application/atom+xml, application/rdf+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1"
PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.1"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True)
class FetchResult:
    """What one GET produced; ``content`` is empty when the server answered 304."""

    url: str  # as asked
    final_url: str  # after redirects
    status: int
    content: bytes = b""
    content_type: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    redirects: tuple[str, ...] = ()
    elapsed_s: float = 0.0
    cache_control: str | None = None

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def permanent_redirect(self) -> bool:
        return bool(self.redirects) and self.final_url != self.url


# ---------------------------------------------------------------------------- the SSRF guard


def blocked_reason(address: IPAddress) -> str | None:
    """Why an address must not be fetched from, or None when it is a public unicast address."""
    if isinstance(address, ipaddress.IPv6Address):
        # IPv4 inside IPv6 (mapped, 6to4, Teredo) reaches that IPv4 address: judge it by that address.
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo[1] if address.teredo else None)
        if embedded is not None:
            reason = blocked_reason(embedded)
            return f"{reason} (IPv4 {embedded} inside IPv6)" if reason and not address.ipv4_mapped else reason
    for kind in ("loopback", "link_local", "multicast", "private", "reserved", "unspecified"):
        if getattr(address, f"is_{kind}"):
            return kind.replace("_", "-")
    if not address.is_global:
        return "not globally routable"
    return None


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


@dataclass(frozen=True)
class _Target:
    """A checked URL: the name it asked for and the address it will connect to."""

    url: str
    scheme: str
    host: str
    port: int
    address: str


def check_url(url: str, policy: FetchPolicy, resolver: Resolver = system_resolver) -> _Target:
    """Resolve and check ``url``; raises FetchRefused (before any connection) when it is not allowed."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise FetchRefused(f"refused: scheme {scheme or '(none)'!r} is not http or https", source_ref=url)
    host = parts.hostname
    if not host:
        raise FetchRefused("refused: the URL has no host", source_ref=url)
    if parts.username or parts.password:
        raise FetchRefused("refused: credentials in the URL", source_ref=url)
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise FetchRefused("refused: invalid port", source_ref=url) from None
    try:
        addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in resolver(host, port)]
    except (OSError, UnicodeError) as error:
        raise FetchError(f"cannot resolve host {host!r}: {error}", source_ref=url) from error
    if not addresses:
        raise FetchError(f"host {host!r} resolved to no address", source_ref=url)
    # Every address must pass: a name resolving to one public and one private address is refused.
    for address in addresses:
        if any(address in network for network in policy.allowed_networks):
            continue
        reason = blocked_reason(address)
        if reason:
            shown = host if host == str(address) else f"{host} ({address})"
            raise FetchRefused(
                f"refused: {shown} is a {reason} address; feeds and articles must be on public hosts "
                f"(allow a network explicitly with NEWSFLOW_FEEDS_ALLOW_NETWORKS)",
                source_ref=url,
            )
    return _Target(url=url, scheme=scheme, host=host, port=port, address=str(addresses[0]))


# ---------------------------------------------------------------------------- politeness


class HostRateLimiter:
    """Per host: at most ``max_concurrent`` requests at once, and their starts at least the host's
    interval apart (``min_interval_s``, or a longer ``Crawl-delay``); thread-safe, per process:
    one fetcher's threads share it."""

    def __init__(
        self,
        min_interval_s: float,
        *,
        max_concurrent: int = 1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.min_interval_s = min_interval_s
        self.max_concurrent = max_concurrent
        self._clock = clock
        self._sleep = sleep
        self._next: dict[str, float] = {}  # per host: its latest start plus its interval
        self._in_flight: dict[str, threading.BoundedSemaphore] = {}
        self._intervals: dict[str, float] = {}  # hosts whose robots.txt asked for a longer Crawl-delay
        self._lock = threading.Lock()

    def interval(self, host: str) -> float:
        return self._intervals.get(host, self.min_interval_s)

    def set_interval(self, host: str, seconds: float) -> None:
        """Space requests to ``host`` by ``seconds`` (never less than the minimum), counting from its last request."""
        with self._lock:
            seconds = max(seconds, self.min_interval_s)
            if host in self._next:
                self._next[host] += seconds - self.interval(host)
            self._intervals[host] = seconds

    def wait(self, host: str) -> float:
        """Block until ``host`` may be asked again, and take that moment as its latest start;
        returns seconds waited. The start is taken when it happens, not booked ahead: a thread
        that wakes late never lets the next one start early."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                free_at = self._next.get(host, now)
                if free_at <= now:
                    self._next[host] = now + self.interval(host)
                    return waited
            self._sleep(free_at - now)
            waited += free_at - now

    @contextmanager
    def slot(self, host: str) -> Iterator[float]:
        """Hold one of ``host``'s concurrent slots for a whole request, started once the interval
        allows (``wait``); yields the seconds waited for the interval."""
        with self._lock:
            in_flight = self._in_flight.setdefault(host, threading.BoundedSemaphore(self.max_concurrent))
        with in_flight:
            yield self.wait(host)

    def defer(self, host: str, seconds: float) -> None:
        """No request to ``host`` for ``seconds`` (a Retry-After seen on an article page)."""
        with self._lock:
            self._next[host] = max(self._next.get(host, 0.0), self._clock() + seconds)

    def blocked_for(self, host: str) -> float:
        with self._lock:
            return max(0.0, self._next.get(host, 0.0) - self._clock() - self.interval(host))


def parse_retry_after(value: str | None, *, now: datetime | None = None, cap_s: float = 24 * 3600.0) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date), capped; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), cap_s)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(delta, 0.0), cap_s)


# ---------------------------------------------------------------------------- the fetcher


@dataclass
class Fetcher:
    """GETs under one ``FetchPolicy``; use as a context manager to close the connection pool."""

    policy: FetchPolicy = field(default_factory=FetchPolicy)
    client: httpx.Client | None = None
    limiter: HostRateLimiter | None = None
    resolver: Resolver = system_resolver
    robots: RobotsCache | None = None  # None: an in-memory cache when the policy obeys robots.txt
    ledger: PolitenessLedger = field(default_factory=PolitenessLedger)

    def __post_init__(self) -> None:
        import httpx

        self._owns_client = self.client is None
        if self.client is None:
            # No proxies from the environment: a proxy would connect on our behalf, past the guard.
            limits = httpx.Limits(max_connections=self.policy.max_connections,
                                  max_keepalive_connections=self.policy.max_connections)
            self.client = httpx.Client(follow_redirects=False, trust_env=False, http2=False, limits=limits)
        if self.limiter is None:
            self.limiter = HostRateLimiter(self.policy.min_host_interval_s, max_concurrent=self.policy.max_host_connections)
        if self.robots is None and self.policy.obey_robots:
            from pipelines.sources.robots import RobotsCache

            self.robots = RobotsCache()
        # Sockets this client opened, by peer (address, port): what the deadline watchdog shuts down.
        self._sockets: dict[tuple[str, int], weakref.WeakSet[socket.socket]] = {}
        self._sockets_lock = threading.Lock()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_client and self.client is not None:
            self.client.close()

    def get(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        accept: str = FEED_ACCEPT,
        obey_robots: bool = False,
    ) -> FetchResult:
        """One GET with the guard, limits and manners described in the module docstring; raises FetchError.
        ``obey_robots`` for pages and sitemaps, not for feeds (see ``pipelines.sources.robots``)."""
        try:
            result = self._get(url, etag=etag, last_modified=last_modified, accept=accept, obey_robots=obey_robots)
        except RobotsDisallowed:
            raise  # never requested: the ledger has it as a robots decision
        except FetchError as error:
            self.ledger.failure(url, error)
            raise
        self.ledger.response(url, status=result.status, size=len(result.content))
        return result

    def _obey_robots(self, target: _Target) -> None:
        """Raise RobotsDisallowed unless ``target``'s robots.txt allows it; apply its Crawl-delay to the host."""
        from pipelines.sources.robots import ROBOTS_ACCEPT

        assert self.robots is not None and self.limiter is not None
        rules = self.robots.rules_for(target.url, lambda robots_url: self.get(robots_url, accept=ROBOTS_ACCEPT))
        delay = rules.crawl_delay_s
        if delay is not None:
            self.limiter.set_interval(target.host, min(delay, self.policy.max_crawl_delay_s))
        allowed = rules.allows(target.url)
        self.ledger.robots(target.url, allowed=allowed, crawl_delay_s=delay)
        if not allowed:
            raise RobotsDisallowed(rules.why_blocked(), source_ref=target.url)

    def _get(self, url: str, *, etag: str | None, last_modified: str | None, accept: str, obey_robots: bool) -> FetchResult:
        import httpx

        policy = self.policy
        started = time.monotonic()
        deadline = started + policy.total_timeout_s
        current, hops = url, []
        for _ in range(policy.max_redirects + 1):
            target = check_url(current, policy, self.resolver)
            assert self.limiter is not None and self.client is not None
            paused = time.monotonic()
            if obey_robots and self.robots is not None:
                self._obey_robots(target)  # before taking a slot: robots.txt itself needs one at this host
            with self.limiter.slot(target.host) as waited:  # held until the response is read: per-host concurrency
                deadline += time.monotonic() - paused  # reading robots.txt and waiting our turn are not this fetch's time
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise FetchTimeout(f"total time limit of {policy.total_timeout_s:g}s reached", source_ref=url)
                self.ledger.request(current, waited_s=waited)
                request = self._build_request(target, accept=accept, etag=etag, last_modified=last_modified, remaining=remaining)
                with self._cut_off_at(deadline, target) as cut_off:
                    try:
                        response = self.client.send(request, stream=True)
                    except httpx.TimeoutException as error:
                        raise FetchTimeout(f"timed out ({_timeout_kind(error)}) fetching {current}", source_ref=url) from error
                    except httpx.HTTPError as error:
                        if cut_off.is_set():
                            raise FetchTimeout(
                                f"total time limit of {policy.total_timeout_s:g}s reached waiting for the response headers",
                                source_ref=url,
                            ) from error
                        raise FetchError(f"connection to {target.host} failed: {error or type(error).__name__}", source_ref=url) from error
                    try:
                        status = response.status_code
                        if status in _REDIRECTS:
                            location = response.headers.get("location")
                            if not location:
                                raise HTTPStatusError(f"HTTP {status} redirect without a Location", source_ref=url, status=status)
                            current = urljoin(current, location)
                            hops.append(current)
                            continue
                        if status == 304:
                            return FetchResult(
                                url=url, final_url=current, status=304, etag=response.headers.get("etag") or etag,
                                last_modified=response.headers.get("last-modified") or last_modified,
                                redirects=tuple(hops), elapsed_s=time.monotonic() - started,
                            )
                        if status in (429, 503):
                            retry_after = parse_retry_after(response.headers.get("retry-after"), cap_s=policy.max_retry_after_s)
                            waiting = f"Retry-After {retry_after:g}s" if retry_after is not None else "no Retry-After"
                            raise RateLimited(f"HTTP {status} ({waiting})", source_ref=url, status=status, retry_after_s=retry_after)
                        if not 200 <= status < 300:
                            raise HTTPStatusError(f"HTTP {status} {response.reason_phrase}".rstrip(), source_ref=url, status=status)
                        content = self._read_body(response, url=url, deadline=deadline, cut_off=cut_off)
                        return FetchResult(
                            url=url,
                            final_url=current,
                            status=status,
                            content=content,
                            content_type=response.headers.get("content-type"),
                            etag=response.headers.get("etag"),
                            last_modified=response.headers.get("last-modified"),
                            redirects=tuple(hops),
                            elapsed_s=time.monotonic() - started,
                            cache_control=response.headers.get("cache-control"),
                        )
                    finally:
                        response.close()
        raise TooManyRedirects(f"more than {policy.max_redirects} redirects (last: {current})", source_ref=url)

    def _build_request(
        self, target: _Target, *, accept: str, etag: str | None, last_modified: str | None, remaining: float
    ) -> httpx.Request:
        import httpx

        policy = self.policy
        default_port = 443 if target.scheme == "https" else 80
        host_header = target.host if target.port == default_port else f"{target.host}:{target.port}"
        if ":" in target.host and target.port != default_port:
            host_header = f"[{target.host}]:{target.port}"
        headers = {
            "Host": host_header,
            "User-Agent": policy.user_agent,
            "Accept": accept,
            "Accept-Encoding": "gzip, deflate",
        }
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        # Connect to the checked address; Host and SNI (which TLS verification uses) keep the name.
        pinned = httpx.URL(target.url).copy_with(host=target.address)
        timeout = httpx.Timeout(
            connect=min(policy.connect_timeout_s, remaining),
            read=min(policy.read_timeout_s, remaining),
            write=min(policy.read_timeout_s, remaining),
            pool=min(policy.connect_timeout_s, remaining),
        )
        extensions: dict[str, object] = {"trace": self._trace}
        if target.scheme == "https":
            extensions["sni_hostname"] = target.host
        return self.client.build_request("GET", pinned, headers=headers, timeout=timeout, extensions=extensions)

    def _read_body(self, response: httpx.Response, *, url: str, deadline: float, cut_off: threading.Event) -> bytes:
        import httpx

        cap = self.policy.max_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise ResponseTooLarge(f"response is {int(declared)} bytes, over the {cap}-byte cap", source_ref=url)
        body = bytearray()
        try:
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > cap:
                    raise ResponseTooLarge(f"response went over the {cap}-byte cap; stopped reading", source_ref=url)
                if time.monotonic() > deadline:
                    raise FetchTimeout(
                        f"total time limit of {self.policy.total_timeout_s:g}s reached while reading", source_ref=url
                    )
        except httpx.TimeoutException as error:
            raise FetchTimeout(f"timed out ({_timeout_kind(error)}) reading the body", source_ref=url) from error
        except httpx.DecodingError as error:
            raise FetchError(f"cannot decode the body ({response.headers.get('content-encoding')}): {error}", source_ref=url) from error
        except httpx.HTTPError as error:
            if cut_off.is_set():
                raise FetchTimeout(
                    f"total time limit of {self.policy.total_timeout_s:g}s reached while reading", source_ref=url
                ) from error
            raise FetchError(f"reading the body failed: {error or type(error).__name__}", source_ref=url) from error
        if cut_off.is_set():  # a body read to the end of the connection looks complete when the watchdog ended it
            raise FetchTimeout(f"total time limit of {self.policy.total_timeout_s:g}s reached while reading", source_ref=url)
        return bytes(body)

    def _trace(self, event: str, info: dict) -> None:
        """httpcore's trace hook: remember each socket this client connects, for the watchdog."""
        if event != "connection.connect_tcp.complete":
            return
        sock = info["return_value"].get_extra_info("socket")
        if sock is None:
            return
        try:
            peer = sock.getpeername()[:2]
        except OSError:
            return
        with self._sockets_lock:
            self._sockets.setdefault(peer, weakref.WeakSet()).add(sock)

    @contextmanager
    def _cut_off_at(self, deadline: float, target: _Target) -> Iterator[threading.Event]:
        """Within the block, shut down this client's sockets to ``target`` once ``deadline`` passes
        (a blocked read then returns at once); the event says whether that happened.

        Per-read timeouts cannot stop a server that sends one byte per second; this can. A pooled
        connection was recorded when it was opened, so a reused one is covered as well."""
        fired = threading.Event()

        def shut_down() -> None:
            fired.set()
            with self._sockets_lock:
                sockets = [s for peer, found in self._sockets.items() if peer[1] == target.port
                           and ipaddress.ip_address(peer[0]) == ipaddress.ip_address(target.address) for s in found]
            for sock in sockets:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass  # already closed

        timer = threading.Timer(max(0.0, deadline - time.monotonic()), shut_down)
        timer.daemon = True
        timer.start()
        try:
            yield fired
        finally:
            timer.cancel()


def _timeout_kind(error: Exception) -> str:
    return {"ConnectTimeout": "connect", "ReadTimeout": "read", "WriteTimeout": "write", "PoolTimeout": "pool"}.get(
        type(error).__name__, "timeout"
    )


_CHARSET = re.compile(r"charset=[\"']?([\w.:-]+)", re.IGNORECASE)


def decode_body(content: bytes, content_type: str | None) -> tuple[str, str]:
    """A fetched body as text and the encoding used: the declared charset, else UTF-8; bad bytes
    become U+FFFD rather than an error."""
    match = _CHARSET.search(content_type or "")
    encoding = "utf-8"
    if match:
        try:
            encoding = codecs.lookup(match.group(1)).name
        except LookupError:
            pass
    return content.decode(encoding, errors="replace"), encoding
