"""A feed on a real loopback server whose entries a test sets day by day, and the replay of one
day through the pipeline (acquired, then enriched) with that day as the source's clock: no
sleeping. Used by the health tests and the browser test of the operations page."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from pipelines.models import RunInfo
from pipelines.pipeline import Pipeline
from pipelines.sources import SourceContext

SENTENCES = [
    "The harbour authority in Stavanger opened a new ferry terminal on Monday.",
    "Mayor Kari Nessa Nordtun said the terminal would serve two million passengers a year.",
    "The project was financed by the Norwegian government and the European Investment Bank.",
    "Engineers from Skanska worked on the quay for three years.",
    "Local fishermen in Rogaland had protested against the noise during construction.",
    "Ferries to Tananger and Bergen will leave every hour from next week.",
    "The Ministry of Transport expects traffic to grow by ten percent.",
    "Critics in the Conservative Party called the budget overrun unacceptable.",
    "A second terminal is planned in Haugesund for 2028.",
    "Passengers can buy tickets through the Kolumbus app or at the quay.",
    "The old terminal will be turned into a maritime museum by the city council.",
    "Weather in the North Sea delayed the final inspection by two weeks.",
]
COOKIE_WALL = ["We use cookies to give you the best experience on our website.", "Subscribe now for unlimited access.",
               "Follow us on Facebook and Instagram.", "Advertisement", "Accept all cookies"]


def day_entries(day: date, number: int, *, changed: bool, rng: random.Random, per_day: int) -> list[dict]:
    """A day's stories: a varying handful of sentences, sometimes undated; once ``changed``, a cookie wall."""
    entries = []
    for position in range(per_day):
        if changed:
            paragraphs, published = COOKIE_WALL, None
        else:
            paragraphs = rng.sample(SENTENCES, rng.randint(5, 9)) + (["Share this article"] if rng.random() < 0.4 else [])
            published = None if rng.random() < 0.1 else datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=6)
        entries.append({"guid": f"day{number}-story{position}", "title": f"Harbour news {number}.{position}",
                        "body": "".join(f"<p>{p}</p>" for p in paragraphs), "published": published})
    return entries


class HarbourFeed(BaseHTTPRequestHandler):
    """Serves ``entries`` (dicts: guid, title, body HTML, published datetime or None) as RSS."""

    entries: list[dict] = []

    def do_GET(self):  # noqa: N802 — http.server's naming
        base = f"http://{self.headers['Host']}"
        items = "".join(
            f"<item><title>{e['title']}</title><link>{base}/{e['guid']}</link><guid>{e['guid']}</guid>"
            + (f"<pubDate>{format_datetime(e['published'])}</pubDate>" if e["published"] else "")
            + f"<description><![CDATA[{e['body']}]]></description></item>"
            for e in type(self).entries
        )
        body = (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Harbour</title>'
                f"<link>{base}/</link><description>harbour news</description>{items}</channel></rss>").encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@contextmanager
def serve_harbour_feed() -> Iterator[str]:
    """The feed's URL on 127.0.0.1, for as long as the block runs."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), HarbourFeed)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/feed.xml"
    finally:
        server.shutdown()
        server.server_close()


def replay_day(pipeline: Pipeline, feed_url: str, day: date, run: RunInfo, *, expect_stored: int) -> None:
    """One day of the feed named ``harbour`` (source ``feed:harbour``): acquired, then enriched."""
    fetched = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=10)
    context = SourceContext(settings=pipeline.settings, store=pipeline.store, run=run, force=True, clock=lambda: fetched)
    try:
        (work,) = pipeline.plan("feeds", feeds=[{"name": "harbour", "url": feed_url}])
        acquired = pipeline.acquire(work, run, context=context)
    finally:
        context.close()
    assert acquired.stored.stored == expect_stored, acquired.report
    summary = pipeline.enrich(acquired.stored.articles, run)
    assert summary.failed == 0, summary.failures
