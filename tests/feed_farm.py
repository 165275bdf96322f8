"""Many RSS feeds on many loopback hosts, served from a process of their own, that count what they see.

Linux routes all of 127.0.0.0/8 to the loopback interface, so 127.0.0.2, 127.0.0.3, … are
distinct hosts to the fetcher (each with its own per-host limits) on one machine. Feed ``i``
lives on host ``i mod hosts`` at ``/feeds/{i}.xml``, with ``entries`` items, an ETag and a
Last-Modified; a conditional GET that matches either answers 304. Each response waits
``latency_s`` first, as a network round trip would, so concurrent requests overlap and the
server can count them. ``GET /_stats`` (any host) returns, per host, the requests, the most in
flight at once and the shortest interval between two request arrivals, plus the statuses sent
for feeds and the most in flight over all hosts; ``GET /_reset`` clears them.

The server runs in its own process (asyncio, one thread) so that serving does not compete with
the client for the interpreter lock: ``FeedFarm.start(...)`` (tests, bench/feed_polling.py).
Run directly, it prints ``ready`` once every host listens.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path

import httpx

LAST_MODIFIED = formatdate(1767225600, usegmt=True)  # 2026-01-01
PUBLISHED = "Mon, 05 Jan 2026 09:30:00 GMT"
PLACES = ("Bergen", "Lisbon", "Tromso", "Graz", "Porto", "Seville", "Leeds", "Florence", "Innsbruck", "Nairobi")


def farm_hosts(count: int) -> list[str]:
    first = ipaddress.ip_address("127.0.0.2")
    return [str(first + offset) for offset in range(count)]


def feed_xml(number: int, entries: int, base: str) -> bytes:
    items = "".join(
        f"<item><title>Story {entry} of feed {number}</title>"
        f"<link>{base}/articles/{number}/{entry}</link><guid>{base}/articles/{number}/{entry}</guid>"
        f"<pubDate>{PUBLISHED}</pubDate><description>Officials in {PLACES[(number + entry) % len(PLACES)]} "
        f"reported item {entry} of feed {number} on Monday. The council said the harbour project would "
        f"continue through the spring, and residents asked for more ferry crossings and later buses.</description></item>"
        for entry in range(entries)
    )
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Farm feed {number}</title>'
            f"<link>{base}/</link><description>Feed {number}</description>{items}</channel></rss>").encode()


@dataclass
class HostStats:
    requests: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    last_arrival: float | None = None
    min_interval_s: float | None = None


@dataclass
class Farm:
    hosts: list[str]
    port: int
    feeds: int
    entries: int
    latency_s: float
    stats: dict[str, HostStats] = field(default_factory=dict)
    statuses: dict[int, int] = field(default_factory=dict)
    in_flight: int = 0
    max_in_flight: int = 0

    def summary(self) -> dict:
        return {
            "hosts": {host: {"requests": s.requests, "max_in_flight": s.max_in_flight, "min_interval_s": s.min_interval_s}
                      for host, s in self.stats.items()},
            "statuses": {str(status): count for status, count in self.statuses.items()},
            "max_in_flight": self.max_in_flight,
        }

    def reset(self) -> None:
        self.stats, self.statuses, self.max_in_flight = {}, {}, self.in_flight

    async def respond(self, host: str, path: str, headers: dict[str, str]) -> tuple[int, bytes, dict[str, str]]:
        if path == "/_stats":
            return 200, json.dumps(self.summary()).encode(), {"Content-Type": "application/json"}
        if path == "/_reset":
            self.reset()
            return 200, b"{}", {"Content-Type": "application/json"}
        number = path.removeprefix("/feeds/").removesuffix(".xml")
        if not (path.startswith("/feeds/") and number.isdigit() and int(number) < self.feeds
                and self.hosts[int(number) % len(self.hosts)] == host):
            return 404, b"not found", {"Content-Type": "text/plain"}
        stats = self.stats.setdefault(host, HostStats())
        now = time.monotonic()
        if stats.last_arrival is not None:
            gap = now - stats.last_arrival
            stats.min_interval_s = gap if stats.min_interval_s is None else min(stats.min_interval_s, gap)
        stats.last_arrival, stats.requests = now, stats.requests + 1
        stats.in_flight += 1
        self.in_flight += 1
        stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.latency_s)
        finally:
            stats.in_flight -= 1
            self.in_flight -= 1
        etag = f'"feed-{number}-v1"'
        validators = {"ETag": etag, "Last-Modified": LAST_MODIFIED}
        if headers.get("if-none-match") == etag or headers.get("if-modified-since") == LAST_MODIFIED:
            return 304, b"", validators
        body = feed_xml(int(number), self.entries, f"http://{host}:{self.port}")
        return 200, body, {"Content-Type": "application/rss+xml; charset=utf-8", **validators}

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host = writer.get_extra_info("sockname")[0]
        try:
            while request_line := await reader.readline():
                headers = {}
                while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = line.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                path = request_line.decode("latin-1").split(" ")[1].split("?", 1)[0]
                status, body, extra = await self.respond(host, path, headers)
                if not path.startswith("/_"):
                    self.statuses[status] = self.statuses.get(status, 0) + 1
                head = [f"HTTP/1.1 {status} {'OK' if status == 200 else 'Not Modified' if status == 304 else 'Not Found'}"]
                head += [f"{name}: {value}" for name, value in extra.items()]
                if status != 304:
                    head.append(f"Content-Length: {len(body)}")
                writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + (body if status != 304 else b""))
                await writer.drain()
        except (ConnectionError, IndexError, ValueError):
            pass
        finally:
            writer.close()

    async def serve(self) -> None:
        server = await asyncio.start_server(self.handle, host=self.hosts, port=self.port, backlog=1024)
        print("ready", flush=True)
        async with server:
            await server.serve_forever()


@dataclass
class FeedFarm:
    """A running farm (see the module docstring); ``start`` it as a context manager."""

    hosts: list[str]
    port: int
    feeds: int
    process: subprocess.Popen

    def feed_url(self, number: int) -> str:
        return f"http://{self.hosts[number % len(self.hosts)]}:{self.port}/feeds/{number}.xml"

    def feed_list(self) -> list[dict]:
        return [{"name": f"farm-{number:05d}", "url": self.feed_url(number)} for number in range(self.feeds)]

    def stats(self) -> dict:
        return httpx.get(f"http://{self.hosts[0]}:{self.port}/_stats", timeout=10).json()

    def reset(self) -> None:
        httpx.get(f"http://{self.hosts[0]}:{self.port}/_reset", timeout=10)

    @classmethod
    @contextmanager
    def start(cls, *, feeds: int, entries: int, hosts: int, latency_s: float = 0.02) -> Iterator[FeedFarm]:
        addresses = farm_hosts(hosts)
        with socket.socket() as probe:
            probe.bind((addresses[0], 0))
            port = probe.getsockname()[1]
        command = [sys.executable, str(Path(__file__).resolve()), "--feeds", str(feeds), "--entries", str(entries),
                   "--hosts", str(hosts), "--port", str(port), "--latency", str(latency_s)]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, start_new_session=True)
        try:
            if process.stdout is None or process.stdout.readline().strip() != "ready":
                raise RuntimeError(f"the feed farm did not start (exit code {process.poll()})")
            yield cls(addresses, port, feeds, process)
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, required=True)
    parser.add_argument("--entries", type=int, required=True)
    parser.add_argument("--hosts", type=int, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency", type=float, default=0.02)
    args = parser.parse_args()
    farm = Farm(farm_hosts(args.hosts), args.port, args.feeds, args.entries, args.latency)
    asyncio.run(farm.serve())


if __name__ == "__main__":
    main()
