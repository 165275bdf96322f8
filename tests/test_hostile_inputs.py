"""Hostile inputs through the whole pipeline: folder files, feeds and sitemaps served by a real
loopback server, each case run through ``Pipeline.run`` into the real node.

Every case must end within a hard time limit, without a crash, with each input indexed or
dead-lettered for a reason the case names, and with every run report reconciled.
"""

from __future__ import annotations

import gzip
import ipaddress
import os
import re
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import delete_indices
from pipelines.models import RunInfo
from pipelines.pipeline import Pipeline
from pipelines.settings import FetchPolicy

pytestmark = pytest.mark.elasticsearch

CASE_SECONDS = 30  # hard limit per case, however hostile (generous: the test machine is shared)
ARTICLE = ("Harbour council approves ferry terminal\n\nThe harbour council in Bergen approved a new ferry terminal "
           "on Monday. Mayor Erik Dahl said construction would start in spring.\n")
PARAGRAPH = "The council met in Bergen on Monday to discuss the ferry terminal and the new harbour bridge. "
MAX_ENTRIES = 40
MAX_BYTES = 4 * 1024 * 1024


# ---------------------------------------------------------------------------- a loopback server


class Routes:
    """Path → handler; every case adds the paths it serves."""

    def __init__(self) -> None:
        self.handlers: dict[str, Callable[[BaseHTTPRequestHandler], None]] = {}
        self.port = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def add(self, path: str, body: bytes | str, content_type: str = "application/xml", status: int = 200,
            headers: dict[str, str] | None = None) -> str:
        data = body.encode() if isinstance(body, str) else body

        def send(handler: BaseHTTPRequestHandler) -> None:
            handler.send_response(status)
            handler.send_header("Content-Type", content_type)
            for name, value in (headers or {}).items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)

        self.handlers[path] = send
        return self.url(path)

    def custom(self, path: str, handler: Callable[[BaseHTTPRequestHandler], None]) -> str:
        self.handlers[path] = handler
        return self.url(path)


@pytest.fixture(scope="module")
def routes():
    table = Routes()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802
            handler = table.handlers.get(self.path.split("?")[0])
            if handler is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            try:
                handler(self)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.handle_error = lambda request, address: None
    table.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield table
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def pipeline(test_settings, es_client, tmp_path_factory):
    prefix = f"{test_settings.index_prefix}hostile{uuid.uuid4().hex[:8]}-"
    settings = test_settings.with_changes(
        index_prefix=prefix, max_entries_per_feed=MAX_ENTRIES,
        fetch=FetchPolicy(allowed_networks=(ipaddress.ip_network("127.0.0.0/8"),), connect_timeout_s=2,
                          read_timeout_s=1, total_timeout_s=3, max_bytes=MAX_BYTES, max_redirects=3,
                          min_host_interval_s=0),
    )
    pipeline = Pipeline(settings, client=es_client)
    # One ordinary article first: the model and every lazily loaded helper (language detection,
    # keywords, dates) are ready before any case's time limit starts.
    warm = tmp_path_factory.mktemp("warm-up")
    (warm / "ferry.txt").write_text(ARTICLE)
    assert pipeline.run("folder", RunInfo("warm-up"), folder=str(warm))[0].indexed == 1
    yield pipeline
    pipeline.close()
    delete_indices(es_client, prefix)


class CaseTimeout(BaseException):
    """Not an Exception: nothing in the pipeline may catch it as one article's failure."""


@contextmanager
def hard_limit(seconds: int):
    """Abort the case (in the main thread) if it runs longer than ``seconds``."""

    def expire(signum, frame):  # noqa: ANN001
        raise CaseTimeout(f"the case ran longer than its {seconds}s limit")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


# ---------------------------------------------------------------------------- the cases


@dataclass(frozen=True)
class Case:
    name: str
    kind: str  # folder, feeds, sitemaps
    build: Callable[..., object]  # folder: (folder) -> None; feeds/sitemaps: (routes, name) -> url
    indexed: int = 0  # indexed or flagged duplicate
    failures: dict[str, int] = field(default_factory=dict)  # regex over "ErrorType: message" → how many
    outcome: str | None = None  # a polled unit's outcome, when it matters
    seconds: int = CASE_SECONDS


def folder_case(name: str, write: Callable[[Path], None], indexed: int = 0, failures: dict[str, int] | None = None) -> Case:
    return Case(name, "folder", write, indexed, failures or {})


def one_file(filename: str, content: bytes | str) -> Callable[[Path], None]:
    def write(folder: Path) -> None:
        path = folder / filename
        path.write_bytes(content.encode() if isinstance(content, str) else content)

    return write


def nested_shortcodes(depth: int) -> str:
    return "[row]" * depth + PARAGRAPH + "[/row]" * depth


def symlink_out(folder: Path) -> None:
    outside = folder.parent / f"outside-{uuid.uuid4().hex[:6]}.txt"
    outside.write_text("Secret\n\nThis file lives outside the folder and must never be read.\n")
    (folder / "link.txt").symlink_to(outside)


def fifo(folder: Path) -> None:
    os.mkfifo(folder / "pipe.txt")


def unix_socket(folder: Path) -> None:
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(folder / "s.txt"))
    sock.close()


def dangling(folder: Path) -> None:
    (folder / "gone.txt").symlink_to(folder / "nowhere.txt")


def jsonl_mixed(folder: Path) -> None:
    (folder / "wire.jsonl").write_text('{"title": "Ferry", "body": "' + PARAGRAPH + '"}\n{not json}\n')


def many_files(folder: Path) -> None:
    for n in range(30):
        (folder / f"a{n:02d}.txt").write_text(f"Report {n}\n\n{PARAGRAPH} Item {n} of the day, number {n * 7}.\n")


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
<!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
<!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
<!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
<!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
<!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">]>
"""

FOLDER_CASES = [
    folder_case("binary-png", one_file("image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8),
                failures={r"ArticleReadError: .*(NUL bytes|undecodable)": 1}),
    folder_case("zero-bytes", one_file("empty.txt", b""), failures={r"ArticleReadError: empty file": 1}),
    folder_case("whitespace-only", one_file("blank.txt", " \n\t\n  \n"), failures={r"only whitespace": 1}),
    folder_case("over-cap", one_file("huge.txt", b"a" * (6 * 1024 * 1024)),
                failures={r"ArticleReadError: file is 6 MB, over the 5 MB article limit": 1}),
    folder_case("invalid-utf8-cp1252", one_file("cafe.txt", "Caf\xe9 owners protest\n\nThe caf\xe9 owners of S\xe3o Paulo "
                                                "protested on Monday against the new rent rules in the city centre.\n"
                                                .encode("cp1252")), indexed=1),
    folder_case("invalid-utf8-noise", one_file("noise.txt", bytes([0x80, 0x81, 0x8d, 0x8f, 0x90, 0x9d]) * 400),
                failures={r"ArticleReadError: undecodable content": 1}),
    folder_case("utf16-bom", one_file("wide.txt", ARTICLE.encode("utf-16")),
                indexed=1),
    folder_case("utf16-be-bom", one_file("wide-be.txt", b"\xfe\xff" + ARTICLE.encode("utf-16-be")), indexed=1),
    folder_case("utf8-bom", one_file("bom.txt", b"\xef\xbb\xbf" + ARTICLE.encode()), indexed=1),
    folder_case("nul-bytes", one_file("nul.txt", ARTICLE + "\x00\x00 hidden"),
                failures={r"ArticleReadError: binary content: the file contains NUL bytes": 1}),
    folder_case("control-characters", one_file("ctrl.txt", "\x01\x02\x03\x04\x05\x06" * 300),
                failures={r"ArticleReadError: undecodable content": 1}),
    folder_case("five-mb-single-line", one_file("line.txt", ("word " * 1_000_000).strip()),
                failures={r"CleaningError: body has 4,999,999 characters, over the budget of 2,000,000": 1}),
    folder_case("over-extraction-budget", one_file("long.txt", "Long report\n\n" + PARAGRAPH * 13_000),
                failures={r"ExtractionError: cleaned text has [\d,]+ characters, over the extraction budget of 1,000,000": 1}),
    folder_case("5000-nested-shortcodes", one_file("nested.txt", "Nested rows\n\n" + nested_shortcodes(5000)), indexed=1),
    folder_case("5000-nested-divs", one_file("divs.html", "<html><body>" + "<div>" * 5000 + f"<p>{PARAGRAPH}</p>"
                                             + "</div>" * 5000 + "</body></html>"), indexed=1),
    folder_case("10000-unclosed-shortcodes", one_file("open.txt", "Open captions\n\n" + "[caption]" * 10_000 + PARAGRAPH),
                indexed=1),
    folder_case("10000-unclosed-divs", one_file("open.html", "<div>" * 10_000 + f"<p>{PARAGRAPH}</p>"), indexed=1),
    folder_case("billion-laughs-in-html", one_file("lol.html", BILLION_LAUGHS + f"<html><body><p>{PARAGRAPH}&lol9;</p></body></html>"),
                indexed=1),
    folder_case("symlink-out-of-folder", symlink_out,
                failures={r"ArticleReadError: not read: a symbolic link to .*, outside the folder": 1}),
    folder_case("dangling-symlink", dangling, failures={r"ArticleReadError: (cannot read file|not read)": 1}),
    folder_case("fifo", fifo, failures={r"ArticleReadError: not read: a named pipe \(FIFO\), not a regular file": 1}),
    folder_case("unix-socket", unix_socket, failures={r"ArticleReadError: (not read: a socket|cannot read file)": 1}),
    folder_case("malformed-json", one_file("bad.json", "{"), failures={r"ArticleReadError: .*(JSON|json)": 1}),
    folder_case("deeply-nested-json", one_file("deep.json", "[" * 100_000 + "]" * 100_000),
                failures={r"ArticleReadError: invalid JSON: nested deeper than the JSON parser allows": 1}),
    folder_case("deeply-nested-jsonl-line", one_file("deep.jsonl", "[" * 100_000 + "]" * 100_000 + "\n"),
                failures={r"ArticleReadError: invalid JSON: nested deeper than the JSON parser allows": 1}),
    folder_case("json-without-text", one_file("notext.json", '{"title": "", "body": ""}'), failures={r"ArticleReadError: ": 1}),
    folder_case("jsonl-with-a-broken-line", jsonl_mixed, indexed=1, failures={r"ArticleReadError: invalid JSON: Expecting property name": 1}),
    folder_case("script-only-html", one_file("script.html", "<html><script>" + "var x=1;" * 1000 + "</script></html>"),
                failures={r"(CleaningError|ArticleReadError): .*(no text|empty|nothing)": 1}),
    folder_case("markdown-images-between-paragraphs", one_file("img.md", "# Harbour\n\n" + "![a](b.png)\n" * 500 + PARAGRAPH),
                indexed=1),
    folder_case("crlf-and-cr-line-endings", one_file("crlf.txt", ARTICLE.replace("\n", "\r\n")), indexed=1),
    folder_case("a-200000-character-word", one_file("word.txt", "Word\n\n" + "x" * 200_000), indexed=1),
    folder_case("thirty-files", many_files, indexed=30),
]


# ---- feeds


def rss(items: str) -> str:
    return f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title><link>http://example.org/</link>{items}</channel></rss>'


def item(n: int | str, body: str = PARAGRAPH, link: str | None = None, guid: str | None = None) -> str:
    link_xml = f"<link>{link}</link>" if link is not None else f"<link>http://news.example.org/a/{n}</link>"
    guid_xml = f"<guid isPermaLink=\"false\">{guid}</guid>" if guid else ""
    return f"<item><title>Story {n}</title>{link_xml}{guid_xml}<description><![CDATA[{body}]]></description></item>"


def served(body: bytes | str, content_type: str = "application/rss+xml", status: int = 200,
           headers: dict[str, str] | None = None) -> Callable[[Routes, str], str]:
    """Serves ``body`` at ``/<case>``; its article links are made the case's own, so no case finds another's documents."""
    def build(routes: Routes, name: str) -> str:
        data = body.encode() if isinstance(body, str) else body
        own = data.replace(b"news.example.org/a/", f"news.example.org/{name}/".encode())
        own = own.replace("news.example.org/a/".encode("utf-16-le"), f"news.example.org/{name}/".encode("utf-16-le"))
        return routes.add(f"/{name}", own, content_type, status, headers)

    return build


def redirect_loop(routes: Routes, name: str) -> str:
    def bounce(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(302)
        handler.send_header("Location", f"/{name}")
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    return routes.custom(f"/{name}", bounce)


def redirect_to(target: str) -> Callable[[Routes, str], str]:
    def build(routes: Routes, name: str) -> str:
        def bounce(handler: BaseHTTPRequestHandler) -> None:
            handler.send_response(301)
            handler.send_header("Location", target)
            handler.send_header("Content-Length", "0")
            handler.end_headers()

        return routes.custom(f"/{name}", bounce)

    return build


def dribbling_headers(routes: Routes, name: str) -> str:
    def dribble(handler: BaseHTTPRequestHandler) -> None:
        handler.wfile.write(b"HTTP/1.1 200 OK\r\n")
        for n in range(60):  # one header line every 0.4 s: each read is quick, the whole is not
            handler.wfile.write(f"X-Slow-{n}: {n}\r\n".encode())
            handler.wfile.flush()
            time.sleep(0.4)

    return routes.custom(f"/{name}", dribble)


def dribbling_body(routes: Routes, name: str) -> str:
    def dribble(handler: BaseHTTPRequestHandler) -> None:
        data = rss(item(1)).encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "application/rss+xml")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        for byte in data:
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()
            time.sleep(0.3)

    return routes.custom(f"/{name}", dribble)


def gzip_bomb(routes: Routes, name: str) -> str:
    bomb = gzip.compress(b"\0" * (40 * 1024 * 1024), compresslevel=6)  # 40 MB, ten times the cap, in 40 KB
    return routes.add(f"/{name}", bomb, "application/rss+xml", headers={"Content-Encoding": "gzip"})


def hang_up(routes: Routes, name: str) -> str:
    def close(handler: BaseHTTPRequestHandler) -> None:
        handler.close_connection = True
        handler.connection.shutdown(socket.SHUT_RDWR)

    return routes.custom(f"/{name}", close)


def chunked_over_cap(routes: Routes, name: str) -> str:
    def stream(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/rss+xml")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        chunk = b"<!-- " + b"x" * 65_000 + b" -->"
        for _ in range(80):
            handler.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        handler.wfile.write(b"0\r\n\r\n")

    return routes.custom(f"/{name}", stream)


def closed_port(routes: Routes, name: str) -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/{name}"


def literal(url: str) -> Callable[[Routes, str], str]:
    return lambda routes, name: url


def feed_case(name: str, build: Callable[[Routes, str], str], indexed: int = 0,
              failures: dict[str, int] | None = None, outcome: str | None = None) -> Case:
    return Case(name, "feeds", build, indexed, failures or {}, outcome)


XXE = """<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<rss version="2.0"><channel><title>T</title><item><title>Leak</title><link>http://news.example.org/xxe</link>
<description>&xxe; and the council met in Bergen on Monday.</description></item></channel></rss>"""

REFUSED = r"FetchRefused: refused: .*{} address"
PAGE_FAILED = r"SourceError: no news:title and no page \(failed: "
FEED_CASES = [
    feed_case("feed-plain", served(rss(item(1) + item(2))), indexed=2),
    feed_case("feed-billion-laughs", served(BILLION_LAUGHS + "<rss version=\"2.0\"><channel><title>&lol9;</title>"
                                            + item(1) + "</channel></rss>"), indexed=1),  # read, never expanded
    feed_case("feed-external-entity", served(XXE), indexed=1),
    feed_case("feed-gzip-bomb", gzip_bomb, failures={r"ResponseTooLarge: response went over the 4194304-byte cap": 1},
              outcome="failed"),
    Case("feed-10000-entries", "feeds", served(rss("".join(item(n, body=f"Note {n}.") for n in range(10_000)))),
         indexed=MAX_ENTRIES, seconds=90,  # 9,960 dead letters to write
         failures={rf"SourceError: not read: the feed has 10,000 entries, over the cap of {MAX_ENTRIES}": 9_960}),
    feed_case("feed-capped-entries", served(rss("".join(item(n, body=f"Note {n} from the harbour office.")
                                                      for n in range(MAX_ENTRIES + 60)))),
              indexed=MAX_ENTRIES, failures={rf"SourceError: not read: the feed has 100 entries, over the cap of {MAX_ENTRIES}": 60}),
    feed_case("feed-duplicate-links-distinct-guids", served(rss("".join(
        item(n, body=f"Bulletin {n}: the ferry leaves at {n} o'clock from pier {n * 3}.", link="http://news.example.org/",
             guid=f"bulletin-{n}") for n in range(5)))), indexed=5),
    feed_case("feed-redirect-loop", redirect_loop, failures={r"TooManyRedirects: more than 3 redirects": 1}, outcome="failed"),
    feed_case("feed-header-dribble", dribbling_headers, failures={r"FetchTimeout: total time limit of 3s": 1}, outcome="failed"),
    feed_case("feed-body-dribble", dribbling_body, failures={r"FetchTimeout: ": 1}, outcome="failed"),
    feed_case("feed-6to4-private", literal("http://[2002:c0a8:101::1]/feed"),
              failures={REFUSED.format(r"private \(IPv4 192.168.1.1 inside IPv6\)"): 1}, outcome="refused"),
    feed_case("feed-6to4-loopback", literal("http://[2002:7f00:1::1]/feed"),
              failures={REFUSED.format(r"loopback \(IPv4 127.0.0.1 inside IPv6\)"): 1}, outcome="refused"),
    feed_case("feed-ipv4-mapped-private", literal("http://[::ffff:10.0.0.1]/feed"), failures={REFUSED.format("private"): 1},
              outcome="refused"),
    feed_case("feed-ipv4-mapped-metadata", literal("http://[::ffff:169.254.169.254]/latest"),
              failures={REFUSED.format("link-local"): 1}, outcome="refused"),
    feed_case("feed-private-address", literal("http://10.1.2.3/feed"), failures={REFUSED.format("private"): 1}, outcome="refused"),
    feed_case("feed-teredo-private", literal("http://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/feed"),
              failures={REFUSED.format(r"private \(IPv4 10.0.0.1 inside IPv6\)"): 1}, outcome="refused"),
    feed_case("feed-redirect-to-private", redirect_to("http://192.168.0.1/feed"), failures={REFUSED.format("private"): 1},
              outcome="refused"),
    feed_case("feed-redirect-to-file", redirect_to("file:///etc/passwd"), failures={r"FetchRefused: refused: scheme 'file'": 1},
              outcome="refused"),
    feed_case("feed-credentials-in-url", literal("http://user:pw@127.0.0.1/feed"),
              failures={r"FetchRefused: refused: credentials in the URL": 1}, outcome="refused"),
    feed_case("feed-404", served("", status=404), failures={r"HTTPStatusError: HTTP 404": 1}, outcome="failed"),
    feed_case("feed-500", served("", status=500), failures={r"HTTPStatusError: HTTP 500": 1}, outcome="failed"),
    feed_case("feed-429", served("", status=429, headers={"Retry-After": "120"}), outcome="rate_limited"),
    feed_case("feed-html-page", served("<html><body><p>Not a feed at all.</p></body></html>", "text/html"),
              failures={r"FeedParseError": 1}, outcome="failed"),
    feed_case("feed-empty-body", served(""), failures={r"FeedParseError": 1}, outcome="failed"),
    feed_case("feed-binary-body", served(bytes(range(256)) * 64, "application/octet-stream"),
              failures={r"FeedParseError": 1}, outcome="failed"),
    feed_case("feed-over-cap-declared", served(rss(item(1, body="x" * (5 * 1024 * 1024)))),
              failures={r"ResponseTooLarge: response is \d+ bytes, over the 4194304-byte cap": 1}, outcome="failed"),
    feed_case("feed-over-cap-chunked", chunked_over_cap,
              failures={r"ResponseTooLarge: response went over the 4194304-byte cap": 1}, outcome="failed"),
    feed_case("feed-connection-refused", closed_port, failures={r"FetchError: connection to 127.0.0.1 failed": 1},
              outcome="failed"),
    feed_case("feed-server-hangs-up", hang_up, failures={r"FetchError: ": 1}, outcome="failed"),
    feed_case("feed-entry-without-link-or-guid", served(rss(item(1) + "<item><description>orphan</description></item>")),
              indexed=1, failures={r"SourceError: entry has (neither a link nor a guid|no title)": 1}),
    feed_case("feed-invalid-utf8", served(rss(item(1)).encode().replace(b"Story 1", b"Story \xff\xfe 1")), indexed=1),
    feed_case("feed-utf16-bom", served(rss(item(1)).replace('encoding="utf-8"', 'encoding="utf-16"').encode("utf-16")),
              indexed=1),
    feed_case("feed-nul-bytes", served(rss(item(1)).encode().replace(b"Story 1", b"Story\x00 1")), indexed=1),
    feed_case("feed-5000-nested-shortcodes", served(rss(item(1, body=nested_shortcodes(5000)))), indexed=1),
    feed_case("feed-10000-unclosed-shortcodes", served(rss(item(1, body="[caption]" * 10_000 + PARAGRAPH))), indexed=1),
    feed_case("feed-javascript-link", served(rss(item(1, link="javascript:alert(1)", guid="js-1"))), indexed=1),
]


# ---- sitemaps


def urlset(*locs: str) -> str:
    urls = "".join(f"<url><loc>{loc}</loc><lastmod>2026-01-0{1 + n % 9}</lastmod></url>" for n, loc in enumerate(locs))
    return f'<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'


def page(title: str) -> str:
    return f"<html><head><title>{title}</title></head><body><article><h1>{title}</h1><p>{PARAGRAPH}</p>" \
           f"<p>{title} was confirmed by the council.</p></article></body></html>"


def sitemap_with_pages(pages: dict[str, Callable[[Routes, str], str]]) -> Callable[[Routes, str], str]:
    def build(routes: Routes, name: str) -> str:
        locs = [make(routes, f"{name}-{path}") for path, make in pages.items()]
        return routes.add(f"/{name}.xml", urlset(*locs))

    return build


def html(title: str) -> Callable[[Routes, str], str]:
    return served(page(title), "text/html; charset=utf-8")


def sitemap_case(name: str, build: Callable[[Routes, str], str], indexed: int = 0,
                 failures: dict[str, int] | None = None, outcome: str | None = None) -> Case:
    return Case(name, "sitemaps", build, indexed, failures or {}, outcome)


def self_index(routes: Routes, name: str) -> str:
    body = (f'<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"<sitemap><loc>{routes.url(f'/{name}.xml')}</loc></sitemap></sitemapindex>")
    return routes.add(f"/{name}.xml", body)


def gzip_bomb_sitemap(routes: Routes, name: str) -> str:
    bomb = gzip.compress(b"<" + b" " * (40 * 1024 * 1024), compresslevel=6)
    return routes.add(f"/{name}.xml.gz", bomb, "application/x-gzip")


SITEMAP_CASES = [
    sitemap_case("sitemap-plain", sitemap_with_pages({"a": html("Ferry terminal approved"), "b": html("Bridge reopens")}),
                 indexed=2),
    sitemap_case("sitemap-billion-laughs", served(BILLION_LAUGHS + '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                                                  "<url><loc>&lol9;</loc></url></urlset>"),
                 failures={r"SitemapParseError": 1}, outcome="failed"),
    sitemap_case("sitemap-external-entity", served('<?xml version="1.0"?><!DOCTYPE u [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                                                   '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url>'
                                                   "<loc>&x;</loc></url></urlset>"),
                 failures={r"SitemapParseError": 1}, outcome="failed"),
    sitemap_case("sitemap-gzip-bomb", gzip_bomb_sitemap, failures={r"ResponseTooLarge: the decompressed sitemap went over": 1},
                 outcome="failed"),
    sitemap_case("sitemap-html-page", served("<html><body>no</body></html>", "text/html"),
                 failures={r"SitemapParseError": 1}, outcome="failed"),
    sitemap_case("sitemap-empty-urlset", served(urlset())),
    sitemap_case("sitemap-index-pointing-at-itself", self_index,
                 failures={r"SitemapParseError: a sitemap index inside a sitemap index is not followed": 1}),
    sitemap_case("sitemap-page-404", sitemap_with_pages({"ok": html("Harbour reopens"), "gone": served("", status=404)}),
                 indexed=1, failures={r"SourceError: no news:title and no page \(failed: HTTP 404": 1}),
    sitemap_case("sitemap-page-redirect-loop", sitemap_with_pages({"loop": redirect_loop}),
                 failures={r"SourceError: no news:title and no page \(failed: more than 3 redirects": 1}),
    sitemap_case("sitemap-page-private-address", lambda routes, name: routes.add(f"/{name}.xml", urlset("http://10.9.8.7/a")),
                 failures={PAGE_FAILED + r"refused: 10.9.8.7 is a private address": 1}),
    sitemap_case("sitemap-page-6to4", lambda routes, name: routes.add(f"/{name}.xml", urlset("http://[2002:a00:1::1]/a")),
                 failures={PAGE_FAILED + r"refused: .* is a private \(IPv4 10.0.0.1 inside IPv6\) address": 1}),
    sitemap_case("sitemap-page-header-dribble", sitemap_with_pages({"slow": dribbling_headers}),
                 failures={PAGE_FAILED + r"total time limit of 3s reached waiting for the response headers": 1}),
    sitemap_case("sitemap-page-binary", sitemap_with_pages({"bin": served(bytes(range(256)) * 64, "application/octet-stream")}),
                 failures={r"CleaningError: no text left after cleaning": 1}),
    sitemap_case("sitemap-page-5000-nested-divs", sitemap_with_pages({"divs": served(
        "<html><body>" + "<div>" * 5000 + f"<p>{PARAGRAPH}</p>" + "</div>" * 5000 + "</body></html>", "text/html")}),
                 indexed=1),
    sitemap_case("sitemap-page-gzip-bomb", sitemap_with_pages({"bomb": gzip_bomb}),
                 failures={PAGE_FAILED + r"response went over the 4194304-byte cap": 1}),
    sitemap_case("sitemap-over-cap", served(urlset(*(f"http://news.example.org/{'x' * 900}/{n}" for n in range(5000)))),
                 failures={r"ResponseTooLarge": 1}, outcome="failed"),
]

CASES = FOLDER_CASES + FEED_CASES + SITEMAP_CASES


def test_the_suite_is_broad():
    assert len(CASES) >= 60 and {case.kind for case in CASES} == {"folder", "feeds", "sitemaps"}


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_hostile_input_is_indexed_or_dead_lettered_for_a_named_reason(case, pipeline, routes, tmp_path):
    run = RunInfo(f"hostile-{case.name}")
    started = time.monotonic()
    with hard_limit(case.seconds):
        if case.kind == "folder":
            folder = tmp_path / case.name
            folder.mkdir()
            case.build(folder)
            summary, units = pipeline.run("folder", run, folder=str(folder), source_name=case.name)
        else:
            url = case.build(routes, case.name)
            key = case.kind
            summary, units = pipeline.run(key, run, force=True, only=None, **{key: [{"name": case.name, "url": url}]})
    elapsed = time.monotonic() - started

    reasons = [f"{f.error_type}: {f.message}" for f in summary.failures]
    assert summary.indexed + summary.duplicate == case.indexed, reasons
    matched = {pattern: sum(1 for reason in reasons if re.search(pattern, reason)) for pattern in case.failures}
    assert matched == case.failures and len(reasons) == sum(case.failures.values()), reasons
    assert summary.reports and all(report.reconciled for report in summary.reports), [r.describe() for r in summary.reports]
    if case.outcome:
        assert [unit["outcome"] for unit in units] == [case.outcome]
    assert elapsed < case.seconds


def test_a_feed_that_could_not_be_read_is_a_dead_letter_under_its_url_and_requeue_polls_it_again(
    routes, isolated_settings, es_client, tmp_path, monkeypatch, capsys
):
    from pipelines.cli import main

    monkeypatch.setenv("NEWSFLOW_FEEDS_ALLOW_NETWORKS", "127.0.0.0/8")
    monkeypatch.setenv("NEWSFLOW_FEEDS_HOST_INTERVAL_S", "0")
    url = routes.add("/requeue-me", "", status=500)
    config = tmp_path / "feeds.yaml"
    config.write_text(f"feeds:\n  - {{name: flaky, url: '{url}'}}\n")
    monkeypatch.setenv("NEWSFLOW_FEEDS_CONFIG", str(config))
    letters = Pipeline(isolated_settings, client=es_client).store.deadletters

    assert main(["ingest", "feeds"]) == 1
    assert [(row["source_ref"], row["stage"]) for row in letters.refs("feed:flaky")] == [(url, "read")]

    served(rss(item(1)))(routes, "requeue-me")  # the publisher fixed the feed
    assert main(["deadletters", "requeue", "--source", "feed:flaky"]) == 0
    out = capsys.readouterr().out
    assert "never reached the raw store; polling feed 'flaky' again" in out and "indexed: 1" in out
    assert letters.refs("feed:flaky") == []  # read again: the feed's dead letter is resolved
