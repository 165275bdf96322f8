"""Per-source extraction health against the real local node: a feed served from a loopback
server is replayed day by day (the days are the source's clock, passed in: no sleeping); its
pages vary from day to day, then change shape (cookie banner for a body, no dates, boilerplate).
The alert fires once, on the day of the change, naming source, metric and example articles, and
never on the ordinary variation before it."""

from __future__ import annotations

import ipaddress
import logging
import random
import threading
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest

from plugin_page import render_operations_page
from pipelines.cli import main
from pipelines.health import SourceHealth, recent_health
from pipelines.models import RunInfo
from pipelines.orchestration.airflow import report_health_alerts  # imported first: Airflow sets up logging on import
from pipelines.orchestration.tasks import HEALTH_MARKER, summarize_enrichment
from pipelines.pipeline import Pipeline
from pipelines.settings import FetchPolicy, parse_thresholds
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
NORMAL_DAYS, CHANGED_DAYS, PER_DAY = 7, 3, 4
FIRST_DAY = date(2026, 3, 2)


def _entries(day: date, number: int, *, changed: bool, rng: random.Random) -> list[dict]:
    entries = []
    for position in range(PER_DAY):
        if changed:
            paragraphs, published = COOKIE_WALL, None
        else:
            paragraphs = rng.sample(SENTENCES, rng.randint(5, 9)) + (["Share this article"] if rng.random() < 0.4 else [])
            published = None if rng.random() < 0.1 else datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=6)
        entries.append({"guid": f"day{number}-story{position}", "title": f"Harbour news {number}.{position}",
                        "body": "".join(f"<p>{p}</p>" for p in paragraphs), "published": published})
    return entries


class _Feed(BaseHTTPRequestHandler):
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


@pytest.fixture
def feed_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Feed)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/feed.xml"
    server.shutdown()
    server.server_close()


@pytest.fixture
def pipeline(isolated_settings, es_client):
    policy = FetchPolicy(allowed_networks=(ipaddress.ip_network("127.0.0.0/8"),), min_host_interval_s=0)
    pipeline = Pipeline(isolated_settings.with_changes(fetch=policy), client=es_client)
    yield pipeline
    pipeline.close()


def _replay_day(pipeline: Pipeline, feed_url: str, day: date, run: RunInfo) -> None:
    """One day of the feed, with the day as the source's clock: acquired, then enriched."""
    fetched = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=10)
    context = SourceContext(settings=pipeline.settings, store=pipeline.store, run=run, force=True, clock=lambda: fetched)
    try:
        (work,) = pipeline.plan("feeds", feeds=[{"name": "harbour", "url": feed_url}])
        acquired = pipeline.acquire(work, run, context=context)
    finally:
        context.close()
    assert acquired.stored.stored == PER_DAY, acquired.report
    summary = pipeline.enrich(acquired.stored.articles, run)
    assert summary.failed == 0, summary.failures


def test_a_source_changing_shape_alerts_once_and_ordinary_variation_never(pipeline, feed_url, es_client, caplog, capsys):
    rng = random.Random(16)
    new_alerts: dict[date, list] = {}
    ids_by_day: dict[date, set[str]] = {}
    for number in range(NORMAL_DAYS + CHANGED_DAYS):
        day = FIRST_DAY + timedelta(days=number)
        changed = number >= NORMAL_DAYS
        _Feed.entries = _entries(day, number, changed=changed, rng=rng)
        run = RunInfo(f"day-{number}", "news_feeds")
        _replay_day(pipeline, feed_url, day, run)
        written = es_client.search(index=pipeline.store.names.articles, size=50, source=False,
                                   query={"term": {"run_id": run.run_id}})
        ids_by_day[day] = {hit["_id"] for hit in written["hits"]["hits"]}
        if number == NORMAL_DAYS:  # the day of the change goes through the enrich DAG's summary task
            with caplog.at_level(logging.WARNING):
                summary = summarize_enrichment([], pipeline.settings, run_id=run.run_id)
            new_alerts[day] = summary["health_alerts"]
        else:
            new_alerts[day] = [alert.to_dict() for alert in pipeline.check_health(run)]

    change_day = FIRST_DAY + timedelta(days=NORMAL_DAYS)
    assert all(not alerts for day, alerts in new_alerts.items() if day != change_day), new_alerts
    fired = new_alerts[change_day]
    assert Counter(alert["metric"] for alert in fired)["median_body_words"] == 1
    assert {"median_body_words", "undated_share", "boilerplate_share", "entities_per_1000_words"} <= {
        alert["metric"] for alert in fired}
    body = next(alert for alert in fired if alert["metric"] == "median_body_words")
    assert body["source"] == "feed:harbour" and body["change"] < -0.5 and body["day"] == change_day.isoformat()
    assert body["examples"] and set(body["examples"]) <= ids_by_day[change_day]
    assert "source feed:harbour" in body["message"] and "median_body_words" in body["message"]
    logged = [r.getMessage() for r in caplog.records if r.getMessage().startswith(HEALTH_MARKER)]
    assert len(logged) == len(fired) and any("median_body_words" in line for line in logged)

    # The days after the change are still out of line (and shown so), but notify nobody again;
    # neither does recomputing the day of the change.
    rows = {row["day"]: row for row in recent_health(es_client, pipeline.store.names, days=30)}
    assert len(rows) == NORMAL_DAYS + CHANGED_DAYS
    assert rows[(change_day + timedelta(days=1)).isoformat()]["alert_count"] >= 1
    assert rows[(FIRST_DAY + timedelta(days=NORMAL_DAYS - 1)).isoformat()]["baseline_days"] == NORMAL_DAYS - 1
    health = SourceHealth(es_client, pipeline.store.names, pipeline.settings.health)
    assert health.update(change_day, ["feed:harbour"]) == []

    status, page = render_operations_page(es_client, pipeline.settings)
    assert len(status["health"]) == NORMAL_DAYS + CHANGED_DAYS
    assert "feed:harbour" in page and "ALERT" in page and "median_body_words" in page
    assert page.count('<circle') == NORMAL_DAYS + CHANGED_DAYS and page.count('class="alert"') >= CHANGED_DAYS
    assert 'class="threshold"' in page

    assert main(["health", "--days", "3"]) == 1  # the source's latest day is still out of line
    printed = capsys.readouterr().out
    assert printed.count("feed:harbour") == 3 and "median_body_words" in printed


def test_alerts_go_through_the_failure_notification_path(caplog):
    alert = {"source": "feed:harbour", "metric": "median_body_words", "examples": ["a1", "a2"],
             "message": "source feed:harbour on 2026-03-09: median_body_words is 20, baseline 110"}
    with caplog.at_level(logging.ERROR, logger="newsflow.airflow"):
        report_health_alerts([alert], {"dag": SimpleNamespace(dag_id="newsflow_enrich"), "run_id": "r1"})
    (record,) = caplog.records
    assert record.levelno == logging.ERROR
    assert record.getMessage().startswith(
        "NEWSFLOW_HEALTH_ALERT dag=newsflow_enrich run=r1 source=feed:harbour metric=median_body_words examples=a1,a2")


def test_thresholds_come_from_configuration():
    thresholds = dict(parse_thresholds("median_body_words=0.3, undated_share=0.5"))
    assert thresholds["median_body_words"] == 0.3 and thresholds["undated_share"] == 0.5
    assert thresholds["boilerplate_share"] == 0.2  # the default for the rest
    from pipelines.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown metric 'body'"):
        parse_thresholds("body=0.5")
