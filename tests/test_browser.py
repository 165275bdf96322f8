"""A person's path through the Airflow UI, in Debian's chromium: log in, fill the folder DAG's
trigger form, trigger, see the run succeed; open the operations page from Airflow's navigation
and read its health charts, politeness ledger and revisions (screenshots in test-artifacts/)."""

from __future__ import annotations

import ipaddress
import random
import shutil
from datetime import date, timedelta

import pytest
from airflow_browser import (airflow_browser, open_operations_page, screenshot, screenshot_operations_page, see_run_state,
                             trigger_from_form)
from harbour_feed import HarbourFeed, day_entries, replay_day, serve_harbour_feed

from pipelines.models import RunInfo
from pipelines.pipeline import Pipeline
from pipelines.settings import SAMPLE_ARTICLES, FetchPolicy

pytestmark = pytest.mark.airflow


def test_folder_dag_triggered_from_the_ui_form_succeeds(airflow_services, es_client, tmp_path):
    folder = tmp_path / "ui-articles"
    shutil.copytree(SAMPLE_ARTICLES / "tech", folder)
    airflow_services.wait_for_dag("newsflow_folder")
    airflow_services.unpause("newsflow_folder")

    with airflow_browser(airflow_services) as page:
        run_id = trigger_from_form(page, airflow_services, "newsflow_folder", {"folder": str(folder)})
        run = airflow_services.wait_for_run("newsflow_folder", run_id, timeout_s=120)
        see_run_state(page, airflow_services, "newsflow_folder", run_id, "success")
        screenshot(page, "newsflow_folder-run-success")

    assert run["conf"]["folder"] == str(folder)  # what was typed into the form
    es_client.indices.refresh(index=airflow_services.names.raw_articles)
    stored = es_client.count(index=airflow_services.names.raw_articles, query={"term": {"ingest_run_id": run_id}})
    assert stored["count"] == 1


def test_reprocess_form_with_date_range_runs_a_dry_run(airflow_services, es_client):
    """The reprocess DAG's trigger form: date pickers, the default dry run, and its report."""
    from datetime import UTC, datetime

    from pipelines.models import RawArticle, RunInfo
    from pipelines.pipeline import Pipeline

    # One indexed article fetched in the range, so the dry run has something to count. An enrichment
    # run an earlier test's asset event started would take it as due and re-enrich it: let those finish.
    airflow_services.wait_until_idle("newsflow_enrich")
    names = airflow_services.names
    pipeline = Pipeline(airflow_services.settings, client=es_client).prepare()
    article = RawArticle(doc_id="reprocess-ui", source="folder:ui", source_ref="ui.txt", title="Tram line opens",
                         body="A new tram line opened in Porto on Monday.", fetched_at=datetime(2026, 11, 3, 9, tzinfo=UTC))
    stored = pipeline.store.raw.put([article], RunInfo("seeded-by-test"))
    pipeline.enrich_ids(stored.doc_ids, RunInfo("seeded-by-test"))
    # As if an older pipeline had produced it: the form's default selection is "only stale".
    es_client.update(index=names.articles, id="reprocess-ui", doc={"pipeline_version": "0.0.9"}, refresh=True)

    airflow_services.wait_for_dag("newsflow_reprocess")
    airflow_services.unpause("newsflow_reprocess")
    with airflow_browser(airflow_services) as page:
        run_id = trigger_from_form(
            page, airflow_services, "newsflow_reprocess", {"date_from": "2026-11-01", "date_to": "2026-11-05"}
        )
        run = airflow_services.wait_for_run("newsflow_reprocess", run_id, timeout_s=120)
        see_run_state(page, airflow_services, "newsflow_reprocess", run_id, "success")
        screenshot(page, "newsflow_reprocess-dry-run-success")

    assert (run["conf"]["date_from"], run["conf"]["date_to"], run["conf"]["dry_run"]) == ("2026-11-01", "2026-11-05", True)
    log = airflow_services.task_log_tail("newsflow_reprocess", run_id, "plan", lines=200)
    assert "NEWSFLOW_REPROCESS would re-enrich 1 documents (dry run: nothing changed)" in log
    es_client.indices.refresh(index=names.articles)
    assert es_client.get(index=names.articles, id="reprocess-ui")["_source"]["run_id"] == "seeded-by-test"


NORMAL_DAYS, PER_DAY = 4, 4  # three earlier days make a baseline: the fourth day is judged, the fifth alerts
FIRST_DAY = date(2026, 3, 2)
FARES = {"guid": "ferry-fares", "title": "Ferry fares stay the same", "published": None,
         "body": "<p>Ferry fares in Stavanger will stay the same this year, the harbour authority said.</p>"}
FARES_CORRECTED = {**FARES, "title": "Ferry fares rise in Stavanger",
                   "body": "<p>Ferry fares in Stavanger will rise by five percent, the harbour authority said.</p>"
                           "<p>Correction: an earlier version said the fares would stay the same.</p>"}


def test_operations_page_opens_from_airflows_navigation_with_charts_ledger_and_revisions(
        airflow_services, es_client, record_property):
    """A real run first: a loopback feed replayed day by day (its shape breaks on the last day,
    one story is corrected), into the index prefix the api-server's plugin reads."""
    policy = FetchPolicy(allowed_networks=(ipaddress.ip_network("127.0.0.0/8"),), min_host_interval_s=0)
    pipeline = Pipeline(airflow_services.settings.with_changes(fetch=policy), client=es_client)
    try:
        rng = random.Random(16)
        with serve_harbour_feed() as feed_url:
            for number in range(NORMAL_DAYS + 1):
                day = FIRST_DAY + timedelta(days=number)
                extra = [FARES] if number == 0 else [FARES_CORRECTED] if number == 1 else []
                HarbourFeed.entries = day_entries(day, number, changed=number == NORMAL_DAYS, rng=rng, per_day=PER_DAY) + extra
                run = RunInfo(f"manual__harbour-day-{number}", "newsflow_feeds")
                replay_day(pipeline, feed_url, day, run, expect_stored=PER_DAY + len(extra))
                alerts = pipeline.check_health(run)
        assert {alert.metric for alert in alerts} >= {"median_body_words"}  # the last day's, on the page below
    finally:
        pipeline.close()
    host = feed_url.split("/")[2]  # 127.0.0.1:port, as the ledger names it

    with airflow_browser(airflow_services) as page:
        frame = open_operations_page(page, airflow_services)
        for section in ("Extraction health per source", "Politeness per host (last 7 days)", "Latest revised articles",
                        "Documents per run"):
            frame.get_by_role("heading", name=section).wait_for()
        harbour = frame.locator("section[data-source='feed:harbour']")
        assert harbour.locator(".badge.alert").inner_text() == "ALERT"
        body_chart = harbour.locator("svg[data-metric='median_body_words']")
        assert body_chart.locator("circle").count() == NORMAL_DAYS + 1
        assert body_chart.locator("circle.alert").count() == 1  # the day the pages changed shape
        assert body_chart.locator("polyline.threshold.low").count() == 1 and body_chart.locator("polygon.band").count() == 1
        assert frame.locator(f"svg.politeness g[data-host='{host}'] rect.requests").count() == 1
        ledger_row = frame.locator("tr", has_text=host)
        assert int(ledger_row.locator("td").nth(1).inner_text()) >= NORMAL_DAYS + 1  # one feed request per day at least
        revision = frame.locator("tr", has_text=FARES_CORRECTED["title"])
        assert "title" in revision.inner_text() and "body" in revision.inner_text()
        assert "manual__harbour-day-4" in frame.locator("table").last.inner_text()
        shot = screenshot_operations_page(page, frame)

        # The page follows the UI's colour mode, not the system's (the browser's is light).
        light_background = frame.locator("body").evaluate("body => getComputedStyle(body).backgroundColor")
        assert not frame.locator("html").evaluate("html => html.classList.contains('dark')")
        page.evaluate("localStorage.setItem('theme', 'dark')")  # what User → Dark Mode stores
        frame = open_operations_page(page, airflow_services)
        assert page.locator("html").evaluate("html => html.classList.contains('dark')")
        assert frame.locator("html").evaluate("html => html.classList.contains('dark')")
        assert frame.locator("body").evaluate("body => getComputedStyle(body).backgroundColor") != light_background
        dark_shot = screenshot_operations_page(page, frame, "newsflow-operations-in-airflow-dark")
    record_property("screenshots", f"{shot} {dark_shot}")
    print(f"operations page inside Airflow's UI: {shot} (dark mode: {dark_shot})")
