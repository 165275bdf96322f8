"""Per-source extraction health against the real local node: a feed served from a loopback
server is replayed day by day (the days are the source's clock, passed in: no sleeping); its
pages vary from day to day, then change shape (cookie banner for a body, no dates, boilerplate).
The alert fires once, on the day of the change, naming source, metric and example articles, and
never on the ordinary variation before it."""

from __future__ import annotations

import ipaddress
import logging
import random
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import pytest

from harbour_feed import HarbourFeed, day_entries, replay_day, serve_harbour_feed
from plugin_page import render_operations_page
from pipelines.cli import main
from pipelines.health import SourceHealth, recent_health
from pipelines.models import RunInfo
from pipelines.orchestration.airflow import report_health_alerts  # imported first: Airflow sets up logging on import
from pipelines.orchestration.tasks import HEALTH_MARKER, summarize_enrichment
from pipelines.pipeline import Pipeline
from pipelines.settings import FetchPolicy, parse_thresholds

NORMAL_DAYS, CHANGED_DAYS, PER_DAY = 7, 3, 4
FIRST_DAY = date(2026, 3, 2)


@pytest.fixture
def feed_url():
    with serve_harbour_feed() as url:
        yield url


@pytest.fixture
def pipeline(isolated_settings, es_client):
    policy = FetchPolicy(allowed_networks=(ipaddress.ip_network("127.0.0.0/8"),), min_host_interval_s=0)
    pipeline = Pipeline(isolated_settings.with_changes(fetch=policy), client=es_client)
    yield pipeline
    pipeline.close()


def test_a_source_changing_shape_alerts_once_and_ordinary_variation_never(pipeline, feed_url, es_client, caplog, capsys):
    rng = random.Random(16)
    new_alerts: dict[date, list] = {}
    ids_by_day: dict[date, set[str]] = {}
    for number in range(NORMAL_DAYS + CHANGED_DAYS):
        day = FIRST_DAY + timedelta(days=number)
        changed = number >= NORMAL_DAYS
        HarbourFeed.entries = day_entries(day, number, changed=changed, rng=rng, per_day=PER_DAY)
        run = RunInfo(f"day-{number}", "news_feeds")
        replay_day(pipeline, feed_url, day, run, expect_stored=PER_DAY)
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
    # One chart per configured metric, one dot per day in each; the changed days' body-length dots are alerts.
    assert page.count('<circle') == (NORMAL_DAYS + CHANGED_DAYS) * len(status["health_thresholds"])
    assert page.count('<circle class="alert"') >= CHANGED_DAYS and 'class="threshold low"' in page

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
