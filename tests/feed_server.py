"""A real HTTP server on 127.0.0.1 serving feeds written for the tests, one path per behaviour.

Every request is recorded (path and headers) so tests can prove what was, or was not, asked.
"""

from __future__ import annotations

import gzip
import threading
import time
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RSS_CT = "application/rss+xml; charset=utf-8"
ATOM_CT = "application/atom+xml; charset=utf-8"
RDF_CT = "application/rdf+xml; charset=utf-8"
LAST_MODIFIED = formatdate(1767225600, usegmt=True)  # 2026-01-01
PAST = "Mon, 05 Jan 2026 09:30:00 +0100"
FUTURE = "Fri, 01 Jan 2100 00:00:00 GMT"


def rss2(base: str) -> str:
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel>
  <title>Harbour Gazette</title><link>{base}/</link><description>Local news</description>
  <item>
    <title>Harbour council approves &lt;b&gt;new&lt;/b&gt; ferry terminal</title>
    <link>{base}/news/ferry-terminal?utm_source=rss&amp;utm_medium=feed&amp;id=7#comments</link>
    <guid isPermaLink="false">gazette-7</guid>
    <pubDate>{PAST}</pubDate>
    <dc:creator>Ingrid Solberg</dc:creator>
    <category>Transport</category><category>Council</category>
    <description>The council approved the terminal.</description>
    <content:encoded><![CDATA[<p>The harbour council in Bergen approved a new ferry terminal on Monday.</p>
      <p>Mayor Erik Dahl said construction would start in the spring and cost 40 million euros.</p>]]></content:encoded>
  </item>
  <item>
    <title>Lighthouse keeper retires after forty years</title>
    <link>{base}/news/lighthouse-keeper</link>
    <guid>{base}/news/lighthouse-keeper</guid>
    <pubDate>{FUTURE}</pubDate>
    <description><![CDATA[<p>Anna Berg kept the Kvitsoy light for four decades.</p>]]></description>
  </item>
  <item>
    <title>Fishing quotas under review</title>
    <guid isPermaLink="false">gazette-9</guid>
    <description>Norway's fisheries ministry is reviewing cod quotas for the North Sea.</description>
  </item>
</channel>
</rss>"""


def atom(base: str) -> str:
    return f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Valley Observer</title><id>urn:uuid:valley</id><updated>2026-01-06T10:00:00Z</updated>
  <link href="{base}/atom"/>
  <entry>
    <title type="html">Vineyard harvest &amp;amp; wine festival</title>
    <link rel="alternate" href="{base}/atom/harvest?fbclid=abc"/>
    <id>urn:uuid:harvest</id>
    <published>2026-01-06T08:00:00+02:00</published><updated>2026-01-06T09:00:00Z</updated>
    <author><name>Paolo Ricci</name></author><author><name>Giulia Conti</name></author>
    <category term="Agriculture"/>
    <content type="html">&lt;p&gt;Growers in Tuscany celebrated a record harvest, said Paolo Ricci of the Chianti consortium.&lt;/p&gt;</content>
  </entry>
  <entry>
    <title>River levels fall</title>
    <link rel="alternate" href="{base}/atom/river"/>
    <id>urn:uuid:river</id>
    <updated>2026-01-05T12:00:00Z</updated>
    <summary>Water levels on the Arno fell after a week of dry weather in Florence.</summary>
  </entry>
</feed>"""


def rdf(base: str) -> str:
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
         xmlns:dc="http://purl.org/dc/elements/1.1/">
  <channel rdf:about="{base}/rdf">
    <title>Mountain Courier</title><link>{base}/rdf</link><description>Alpine news</description>
    <items><rdf:Seq><rdf:li resource="{base}/rdf/avalanche"/></rdf:Seq></items>
  </channel>
  <item rdf:about="{base}/rdf/avalanche">
    <title>Avalanche warning raised in Tyrol</title>
    <link>{base}/rdf/avalanche</link>
    <description>Authorities in Innsbruck raised the avalanche warning to level four.</description>
    <dc:date>2026-01-04T07:15:00Z</dc:date>
    <dc:creator>Lukas Gruber</dc:creator>
  </item>
</rdf:RDF>"""


def simple_rss(base: str, slug: str, title: str, text: str, extra: str = "") -> str:
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:sy="http://purl.org/rss/1.0/modules/syndication/"><channel>
<title>{slug} feed</title><link>{base}/</link><description>{slug}</description>{extra}
<item><title>{title}</title><link>{base}/{slug}/story</link><pubDate>{PAST}</pubDate>
<description>{text}</description></item>
</channel></rss>"""


BOZO = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Sloppy & Sons</title>
<item><title>Fish & chips shop opens in Leeds</title><link>{base}/bozo/fish</link>
<description>A new fish & chips shop opened in Leeds, run by Tom Hughes.</description></item>
</channel></rss>"""

def bylines(base: str) -> str:
    """Entries with several authors and categories, and dates in their text, for the metadata facets."""
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel>
  <title>Coast Courier</title><link>{base}/</link><description>Coastal news</description>
  <item>
    <title>Storm damages sea wall</title>
    <link>http://www.courier.example/news/sea-wall</link>
    <guid isPermaLink="false">courier-1</guid>
    <pubDate>Wed, 07 Jan 2026 09:00:00 GMT</pubDate>
    <dc:creator>Maria Lund</dc:creator><dc:creator>Tomas Eke</dc:creator>
    <category>Weather</category><category>Coast</category>
    <description>A storm damaged the sea wall in Ystad on 3 January 2026, the town council said. Repairs were
      promised for March 2026, after the sea wall was last rebuilt in 1990.</description>
  </item>
  <item>
    <title>Ferry timetable changes</title>
    <link>http://www.courier.example/news/ferry-timetable</link>
    <guid isPermaLink="false">courier-2</guid>
    <pubDate>Wed, 07 Jan 2026 10:00:00 GMT</pubDate>
    <dc:creator>Maria Lund</dc:creator>
    <category>Transport</category>
    <description>The ferry operator changes its winter timetable last month, it said on Tuesday.</description>
  </item>
</channel>
</rss>"""


def shared_link(base: str) -> str:
    """Five distinct items (own guids) all linking to the homepage, and one exact repeat of the first."""
    items = "".join(
        f"<item><title>Bulletin {n}</title><link>{base}/?utm_source=rss</link><guid isPermaLink=\"false\">bulletin-{n}</guid>"
        f"<description>Bulletin number {n} from the harbour office in Tromso.</description></item>"
        for n in range(1, 6)
    )
    repeat = (f"<item><title>Bulletin 1</title><link>{base}/</link><guid isPermaLink=\"false\">bulletin-1</guid>"
              "<description>Bulletin number 1 from the harbour office in Tromso.</description></item>")
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Harbour office</title>'
            f"<link>{base}/</link><description>Bulletins</description>{items}{repeat}</channel></rss>")


def failing_entries(base: str) -> str:
    """Three entries that cannot become articles (two with nothing at all, one with only a guid), and one good entry."""
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Broken CMS</title>'
            f"<link>{base}/</link><description>Half-empty items</description>"
            "<item></item><item><description></description></item>"
            '<item><guid isPermaLink="false">cms-3</guid></item>'
            f"<item><title>Ferry timetable changes</title><link>{base}/cms/ferry</link>"
            "<description>The Hurtigruten ferry leaves Bergen an hour earlier from Monday.</description></item>"
            "</channel></rss>")


ARTICLE_PAGE = """<!doctype html><html><head><title>{title}</title></head><body>
<nav><a href="/">Home</a> | <a href="/news">News</a></nav>
<article><h1>{title}</h1>
<p>{p1}</p><p>{p2}</p><p>{p3}</p>
</article><footer>Copyright Harbour Gazette. Subscribe to our newsletter.</footer></body></html>"""


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    at: float


@dataclass
class FeedServer:
    host: str = "127.0.0.1"
    port: int = 0
    requests: list[Recorded] = field(default_factory=list)
    slow_seconds: float = 3.0
    huge_bytes: int = 2 * 1024 * 1024

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str) -> str:
        return f"{self.base}{path}"

    def hits(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.path == path]

    # ------------------------------------------------------------------ responses

    def respond(self, handler: BaseHTTPRequestHandler) -> None:
        path = handler.path.split("?", 1)[0]
        base = self.base
        send = _Sender(handler)
        if path == "/rss2.xml":  # ETag + Last-Modified, honours both
            etag = '"rss2-v1"'
            if handler.headers.get("If-None-Match") == etag:
                return send(304, b"", headers={"ETag": etag})
            return send(200, rss2(base), RSS_CT, {"ETag": etag, "Last-Modified": LAST_MODIFIED})
        if path == "/atom.xml":  # Last-Modified only
            if handler.headers.get("If-Modified-Since") == LAST_MODIFIED:
                return send(304, b"")
            return send(200, atom(base), ATOM_CT, {"Last-Modified": LAST_MODIFIED})
        if path == "/rdf.xml":  # no validators at all: always 200, entries unchanged
            return send(200, rdf(base), RDF_CT)
        if path == "/bozo.xml":
            return send(200, BOZO.format(base=base), RSS_CT)
        if path == "/wrong-type.xml":  # a valid feed labelled as a web page
            return send(200, simple_rss(base, "wrongtype", "Tram line extended in Graz",
                                        "The city of Graz extended tram line six to the university."), "text/html; charset=utf-8")
        if path == "/not-a-feed.html":
            return send(200, "<!doctype html><html><body><p>Welcome to our homepage</p></body></html>", "text/html")
        if path == "/gzip.xml":
            body = simple_rss(base, "gzip", "Solar farm opens near Seville",
                              "Iberdrola opened a solar farm near Seville, Spain, on Tuesday.").encode()
            return send(200, gzip.compress(body), RSS_CT, {"Content-Encoding": "gzip"})
        if path == "/old-feed":
            return send(301, b"", headers={"Location": "/moved.xml"})
        if path == "/moved.xml":
            return send(200, simple_rss(base, "moved", "Bridge reopens in Porto",
                                        "The Luiz I bridge in Porto reopened after repairs."), RSS_CT)
        if path == "/to-internal":
            return send(302, b"", headers={"Location": "http://10.0.0.1/feed.xml"})
        if path == "/redirect-loop":
            return send(302, b"", headers={"Location": "/redirect-loop"})
        if path == "/limited.xml":
            return send(429, b"slow down", "text/plain", {"Retry-After": "900"})
        if path == "/unavailable.xml":
            return send(503, b"maintenance", "text/plain", {"Retry-After": "300"})
        if path == "/slow.xml":
            time.sleep(self.slow_seconds)
            return send(200, simple_rss(base, "slow", "Too late", "Never read."), RSS_CT)
        if path == "/bylines.xml":
            return send(200, bylines(base), RSS_CT)
        if path == "/shared-link.xml":
            return send(200, shared_link(base), RSS_CT)
        if path == "/failing-entries.xml":
            return send(200, failing_entries(base), RSS_CT)
        if path == "/dribble-headers.xml":  # one header byte per second, for a minute
            return send.dribble(b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nX-Padding: " + b"x" * 60)
        if path == "/dribble-body.xml":  # prompt headers, then the body to the end of the connection, a byte a second
            return send.dribble(b"<rss>" + b" " * 60, status=200)
        if path == "/huge.xml":  # declared length over the cap
            return send(200, b"<rss>" + b" " * self.huge_bytes + b"</rss>", RSS_CT)
        if path == "/huge-stream.xml":  # no length: only streaming can stop it
            return send.stream(200, RSS_CT, b"<rss>" + b"<!-- padding -->" * (self.huge_bytes // 16))
        if path == "/ttl.xml":
            return send(200, simple_rss(base, "ttl", "Ski season starts in Chamonix",
                                        "Lifts in Chamonix opened for the ski season on Saturday.",
                                        "<ttl>60</ttl>"), RSS_CT)
        if path == "/summaries.xml":
            return send(200, simple_rss(base, "articles", "Harbour tunnel opens",
                                        "A short teaser about the tunnel."), RSS_CT)
        if path == "/articles/story":
            return send(200, ARTICLE_PAGE.format(
                title="Harbour tunnel opens",
                p1="The new harbour tunnel in Stavanger opened to traffic on Friday after six years of construction.",
                p2="Transport minister Jon-Ivar Nygard said the tunnel would cut commuting times by twenty minutes.",
                p3="The project cost 2.1 billion kroner and was built by the contractor Skanska.",
            ), "text/html; charset=utf-8")
        return send(404, b"not found", "text/plain")


class _Sender:
    def __init__(self, handler: BaseHTTPRequestHandler) -> None:
        self.handler = handler

    def __call__(self, status: int, body: str | bytes, content_type: str | None = None, headers: dict[str, str] | None = None) -> None:
        data = body.encode() if isinstance(body, str) else body
        handler = self.handler
        handler.send_response(status)
        if content_type:
            handler.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        if status != 304:
            handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        if status != 304:
            try:
                handler.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass

    def dribble(self, data: bytes, status: int | None = None, interval_s: float = 1.0) -> None:
        """``data`` one byte per ``interval_s`` (after prompt headers when ``status`` is given), until the client hangs up."""
        handler = self.handler
        handler.close_connection = True
        if status is not None:
            handler.send_response(status)
            handler.send_header("Content-Type", RSS_CT)
            handler.send_header("Connection", "close")
            handler.end_headers()
        try:
            for byte in data:
                handler.wfile.write(bytes([byte]))
                time.sleep(interval_s)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def stream(self, status: int, content_type: str, data: bytes) -> None:
        handler = self.handler
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.close_connection = True
        try:
            for start in range(0, len(data), 16384):
                handler.wfile.write(data[start : start + 16384])
        except (BrokenPipeError, ConnectionResetError):
            pass


def start_feed_server() -> tuple[FeedServer, ThreadingHTTPServer]:
    server_state = FeedServer()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            server_state.requests.append(Recorded(self.path, dict(self.headers), time.monotonic()))
            server_state.respond(self)

        def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
            pass

    httpd = ThreadingHTTPServer((server_state.host, 0), Handler)
    httpd.daemon_threads = True
    httpd.handle_error = lambda request, address: None  # clients that hang up on purpose (size cap, timeouts)
    server_state.port = httpd.server_address[1]
    threading.Thread(target=httpd.serve_forever, name="feed-server", daemon=True).start()
    return server_state, httpd


def serve_feeds(slow_seconds: float = 2.0):
    """Body of a module-scoped ``server`` fixture: a running FeedServer, shut down afterwards."""
    state, httpd = start_feed_server()
    state.slow_seconds = slow_seconds
    yield state
    httpd.shutdown()
    httpd.server_close()
